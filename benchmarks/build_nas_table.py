"""Build the NAS benchmark table data/nas-bench-fmnist-mini/ (every architecture trained with the protocol).

Runs the architectures through the sweep engine (``companion.sweep``): ``--workers`` local processes, or a Dask
cluster with ``--scheduler tcp://host:port``. Re-running the same command resumes a killed build from its
``--work-dir``. About 15-25 min on 2 quiet cores; run it with ``nice -n 19`` on a shared machine:

    nice -n 19 python benchmarks/build_nas_table.py [--workers 2] [--chunks 32] [--out DIR] [--work-dir DIR]
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from companion.nas.build import build_table  # noqa: E402
from companion.nas.table import TABLE_DIR  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    ap.add_argument("--scheduler", help="Dask scheduler address (default: a local pool)")
    ap.add_argument("--chunks", type=int, default=32, help="sweep points the architectures are split into")
    ap.add_argument("--out", type=Path, default=TABLE_DIR, help=f"table folder (default {TABLE_DIR})")
    ap.add_argument("--work-dir", type=Path, default=ROOT / "results" / "nas-table-build",
                    help="one folder per chunk; re-run with the same folder to resume")
    args = ap.parse_args(argv)
    path = build_table(args.out, workers=args.workers, scheduler=args.scheduler, chunks=args.chunks,
                       work_dir=args.work_dir)
    print(f"table written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
