"""Every benchmark script runs in its --quick mode, so a broken benchmark fails the tests (issue 12)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))


def test_there_are_benchmarks():
    assert len(BENCHMARKS) >= 5


@pytest.mark.bench
@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_quick_mode_runs_and_writes_its_figures(script):
    topic = script.stem.removeprefix("bench_")
    out = ROOT / "results" / "bench" / "quick" / f"{topic}.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "TQDM_DISABLE": "1"}
    proc = subprocess.run([sys.executable, str(script), "--quick"], cwd=script.parent, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["quick"] is True and report["figures"], f"{out} holds no figures"
    assert "busy_other" in report["conditions"]
    assert all("value" in f and "unit" in f for f in report["figures"].values())
