"""Shared by the benchmark scripts: the ``--quick`` switch, where figures go and how they are written.

Every ``benchmarks/bench_<topic>.py`` runs in full under ``make bench`` (writing
``results/bench/<topic>.json``) and with ``--quick`` (tiny sizes, one round, writing
``results/bench/quick/<topic>.json``) under ``make test``, so a broken benchmark fails the tests. Figures
from ``--quick`` runs mean nothing; only the full run on a quiet machine is worth quoting.
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from companion.io import write_json_atomic  # noqa: E402
from companion.measure import conditions, environment  # noqa: E402


def parse_args(description: str | None = None, argv=None) -> argparse.Namespace:
    """``--quick``: tiny sizes and one round, to check the script still runs (what ``make test`` does)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round: a smoke test, not a figure")
    return parser.parse_args(argv)


def write_bench(topic: str, figures: dict, quick: bool = False) -> Path:
    """Write ``results/bench/<topic>.json`` (``quick``: ``results/bench/quick/<topic>.json``): each figure as
    {value, unit, target?, ok?}, plus the machine and the measurement conditions (CPU use of other processes)."""
    machine = {**environment(), "platform": platform.platform(), "processor": platform.processor()}
    folder = ROOT / "results" / "bench" / ("quick" if quick else "")
    path = write_json_atomic({"topic": topic, "quick": quick, "machine": machine,
                              "conditions": conditions(interval=0.5), "figures": figures}, folder / f"{topic}.json")
    for name, f in figures.items():
        target = f" (target {f['target']})" if "target" in f else ""
        value = f"{f['value']:.4g}" if isinstance(f.get("value"), (int, float)) else str(f.get("value"))
        print(f"{topic}.{name}: {value} {f.get('unit', '')}{target}")
    return path


def notebook_seconds(notebook: str, parameters: dict) -> float:
    """Wall time of one papermill run of ``notebooks/<notebook>.ipynb`` with ``parameters`` (outputs discarded)."""
    import os
    import tempfile
    import time

    from companion.execution import execute

    os.environ["TQDM_DISABLE"] = "1"
    nb = ROOT / "notebooks" / f"{notebook}.ipynb"
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        execute(nb, Path(out) / nb.name, cwd=nb.parent,
                parameters={**parameters, "RESULTS_PATH": str(Path(out) / "r.json")})
        return time.perf_counter() - start
