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
