"""Wall time of 00_baseline at default parameters (cold cache) and with SMOKE=True.

Targets (issue 2): default run <= 120 s, SMOKE <= 20 s on 2 CPU cores.
"""
import os
import tempfile
import time
from pathlib import Path

import papermill as pm

from _common import ROOT, notebook_seconds, write_bench


def timed_run(parameters: dict, cache: str) -> float:
    os.environ["COMPANION_CACHE"] = cache
    return notebook_seconds("00_baseline", parameters)


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
