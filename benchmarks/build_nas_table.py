"""Build the NAS benchmark table data/nas-bench-fmnist-mini/ (every architecture trained with the protocol).

The same as ``python -m companion nas build-table``: the architectures run through the sweep engine
(``companion.sweep``), ``--workers`` local processes or a Dask cluster with ``--scheduler tcp://host:port``.
Re-running the same command resumes a killed build from its ``--work-dir``. About 15-25 min on 2 quiet cores; on
a shared machine run it with ``nice -n 19``:

    nice -n 19 python benchmarks/build_nas_table.py [--workers 2] [--chunks 32] [--out DIR] [--work-dir DIR]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from companion.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["nas", "build-table", *sys.argv[1:]]))
