"""Wall time of 00_baseline at default parameters (cold cache) and with SMOKE=True.

Targets (issue 2): default run <= 120 s, SMOKE <= 20 s on 2 CPU cores.
"""
import os
import tempfile
import time
from pathlib import Path

import papermill as pm

from _common import ROOT, write_bench


def timed_run(parameters: dict, cache: str) -> float:
    os.environ["COMPANION_CACHE"] = cache
    os.environ["TQDM_DISABLE"] = "1"
    nb = ROOT / "notebooks" / "00_baseline.ipynb"
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        pm.execute_notebook(str(nb), str(Path(out) / nb.name), cwd=str(nb.parent), kernel_name="python3",
                            parameters={**parameters, "RESULTS_PATH": str(Path(out) / "r.json")}, progress_bar=False)
        return time.perf_counter() - start


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as cold:
        default_s = timed_run({}, cold)
    with tempfile.TemporaryDirectory() as cold:
        smoke_s = timed_run({"SMOKE": True}, cold)
    write_bench("baseline", {
        "default_run_s": {"value": default_s, "unit": "s", "target": "<= 120", "ok": default_s <= 120,
                          "note": "cold model cache: all three baselines trained"},
        "smoke_run_s": {"value": smoke_s, "unit": "s", "target": "<= 20", "ok": smoke_s <= 20},
    })
