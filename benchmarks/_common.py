"""Shared by the benchmark scripts: where figures go and how they are written."""
from __future__ import annotations

import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from companion.measure import environment  # noqa: E402
from companion.results import write_json_atomic  # noqa: E402


def write_bench(topic: str, figures: dict) -> Path:
    """Write ``results/bench/<topic>.json``: each figure as {value, unit, target?, ok?}, plus the machine."""
    machine = {**environment(), "platform": platform.platform(), "processor": platform.processor()}
    path = write_json_atomic({"topic": topic, "machine": machine, "figures": figures},
                             ROOT / "results" / "bench" / f"{topic}.json")
    for name, f in figures.items():
        target = f" (target {f['target']})" if "target" in f else ""
        print(f"{topic}.{name}: {f['value']:.4g} {f['unit']}{target}")
    return path


def notebook_seconds(notebook: str, parameters: dict) -> float:
    """Wall time of one papermill run of ``notebooks/<notebook>.ipynb`` with ``parameters`` (outputs discarded)."""
    import os
    import tempfile
    import time

    import papermill as pm

    os.environ["TQDM_DISABLE"] = "1"
    nb = ROOT / "notebooks" / f"{notebook}.ipynb"
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        pm.execute_notebook(str(nb), str(Path(out) / nb.name), cwd=str(nb.parent), kernel_name="python3",
                            parameters={**parameters, "RESULTS_PATH": str(Path(out) / "r.json")}, progress_bar=False)
        return time.perf_counter() - start
