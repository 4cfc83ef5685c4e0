"""Tidy result rows: one per model or configuration, written atomically as JSON, read back as pandas."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

from .measure import environment

SCHEMA = ("section", "method", "dataset", "seed", "accuracy", "params", "nonzero_params", "bits",
          "size_bytes", "macs", "latency_ms")


def flatten(settings: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; dataclasses and tuples become plain values."""
    out = {}
    for k, v in settings.items():
        if hasattr(v, "__dataclass_fields__"):
            v = {f: getattr(v, f) for f in v.__dataclass_fields__}
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
    return out


def make_row(*, section: str, method: str, dataset: str, seed: int, accuracy: float | None,
             params: int | None, nonzero_params: int | None, bits: float | None, size_bytes: int | None,
             macs: int | None, latency_ms: float | None, **settings) -> dict:
    """One tidy row: the schema columns, the method's own settings flattened, and the environment.

    ``accuracy`` is a fraction in [0, 1]; ``size_bytes`` is a real artifact's size; missing figures
    are ``None`` (never a made-up number).
    """
    if accuracy is not None and not (0.0 <= accuracy <= 1.0):
        raise ValueError(f"accuracy must be a fraction in [0, 1], got {accuracy}")
    for name, value in (("params", params), ("nonzero_params", nonzero_params), ("size_bytes", size_bytes),
                        ("macs", macs), ("latency_ms", latency_ms)):
        if value is not None and (value < 0 or (isinstance(value, float) and math.isnan(value))):
            raise ValueError(f"{name} must be >= 0, got {value}")
    row = {"section": section, "method": method, "dataset": dataset, "seed": seed, "accuracy": accuracy,
           "params": params, "nonzero_params": nonzero_params, "bits": bits, "size_bytes": size_bytes,
           "macs": macs, "latency_ms": latency_ms}
    clash = set(settings) & set(row)
    if clash:
        raise ValueError(f"settings repeat schema columns: {sorted(clash)}")
    row.update(flatten(settings))
    row.update({f"env.{k}": v for k, v in environment().items()})
    return row


def write_json_atomic(obj, path) -> Path:
    """Write ``obj`` as JSON to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def record(rows: list[dict], path) -> Path:
    """Write ``rows`` (each with the :data:`SCHEMA` columns) to ``path`` as JSON, atomically."""
    if isinstance(rows, dict):
        rows = [rows]
    for i, row in enumerate(rows):
        missing = [c for c in SCHEMA if c not in row]
        if missing:
            raise ValueError(f"row {i} lacks schema columns {missing}; build rows with make_row()")
    return write_json_atomic(rows, path)


def collect(path) -> pd.DataFrame:
    """All rows of a results JSON file, or of every ``*.json`` under a folder, as one DataFrame."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no results at {path}")
    files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
    rows = []
    for f in files:
        data = json.loads(f.read_text())
        if isinstance(data, list) and all(isinstance(r, dict) and "section" in r for r in data):
            rows.extend({**r, "source": str(f)} for r in data)
    columns = list(SCHEMA) + sorted({k for r in rows for k in r} - set(SCHEMA))
    return pd.DataFrame(rows, columns=columns)
