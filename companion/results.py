"""Tidy result rows: one per model or configuration, written atomically as JSON, read back as pandas.

Every row says what its numbers are, so that rows from different sections can share a plot honestly:

- ``base_model``: the dense parent the row compresses (a baseline row names itself);
- ``size_kind``: ``"file"`` (bytes of a real artifact) or ``"analytic"`` (params × bits / 8);
- ``latency_kind``: ``"measured"`` (then ``latency_batch``, ``threads``, ``engine`` and ``device`` say
  how) or ``"none"``; ``busy_other`` is how many cores other processes used meanwhile and ``quiet``
  whether that was at most :data:`companion.measure.QUIET_CORES`;
- ``speedup`` against ``base_model`` with ``speedup_kind``: ``"measured"`` (interleaved, one run),
  ``"analytic"`` (a MAC or op-count ratio) or ``"none"``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .io import write_json_atomic  # noqa: F401  (re-exported: results.write_json_atomic is public)
from .measure import environment, is_quiet

SCHEMA = ("section", "method", "dataset", "seed", "accuracy", "params", "nonzero_params", "bits",
          "size_bytes", "macs", "latency_ms", "base_model", "size_kind", "latency_kind", "latency_batch",
          "threads", "engine", "device", "busy_other", "quiet", "speedup", "speedup_kind")
SIZE_KINDS = ("file", "analytic")
LATENCY_KINDS = ("measured", "none")
SPEEDUP_KINDS = ("measured", "analytic", "none")


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


def _check_kind(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def _check_counts(**values) -> None:
    for name, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or math.isnan(value) or value < 0):
            raise ValueError(f"{name} must be a number >= 0 or None, got {value!r}")


def _latency_columns(latency_ms, latency_kind, latency_batch, threads, engine, device) -> dict:
    kind = latency_kind or ("none" if latency_ms is None else "measured")
    _check_kind("latency_kind", kind, LATENCY_KINDS)
    if kind == "none":
        if latency_ms is not None:
            raise ValueError("latency_kind 'none' with a latency_ms: a measured latency needs latency_kind='measured'")
        return {"latency_kind": kind, "latency_batch": None, "threads": None, "engine": engine, "device": device}
    if latency_ms is None:
        raise ValueError("latency_kind 'measured' needs latency_ms")
    missing = [n for n, v in (("latency_batch", latency_batch), ("threads", threads), ("device", device)) if v is None]
    if missing:
        raise ValueError(f"a measured latency must say how it was measured: give {', '.join(missing)} "
                         "(measure.latency_fields(comparison) fills them in)")
    return {"latency_kind": kind, "latency_batch": latency_batch, "threads": threads, "engine": engine or "pytorch",
            "device": device}


def make_row(*, section: str, method: str, dataset: str, seed: int, accuracy: float | None,
             params: int | None, nonzero_params: int | None, bits: float | None, size_bytes: int | None,
             macs: int | None, latency_ms: float | None, base_model: str, size_kind: str | None = None,
             latency_kind: str | None = None, latency_batch: int | None = None, threads: int | None = None,
             engine: str | None = None, device: str | None = None, busy_other: float | None = None,
             speedup: float | None = None, speedup_kind: str | None = None, **settings) -> dict:
    """One tidy row: the :data:`SCHEMA` columns, the method's own settings flattened, and the environment.

    ``accuracy`` is a fraction in [0, 1]; ``size_bytes`` needs its ``size_kind``; a measured
    ``latency_ms`` needs ``latency_batch``, ``threads`` and ``device`` (``**measure.latency_fields(cmp)``
    gives them all); a ``speedup`` needs its ``speedup_kind``. Missing figures are ``None``, never a
    made-up number.
    """
    if accuracy is not None and not (0.0 <= accuracy <= 1.0):
        raise ValueError(f"accuracy must be a fraction in [0, 1], got {accuracy}")
    _check_counts(params=params, nonzero_params=nonzero_params, size_bytes=size_bytes, macs=macs,
                  latency_ms=latency_ms, latency_batch=latency_batch, threads=threads, busy_other=busy_other,
                  speedup=speedup)
    if not base_model or not isinstance(base_model, str):
        raise ValueError(f"base_model must name the dense parent of the row (a baseline names itself), got {base_model!r}")
    if size_bytes is None:
        size_kind = None
    else:
        _check_kind("size_kind", size_kind, SIZE_KINDS)
    speedup_kind = speedup_kind or ("none" if speedup is None else None)
    _check_kind("speedup_kind", speedup_kind, SPEEDUP_KINDS)
    if (speedup is None) != (speedup_kind == "none"):
        raise ValueError(f"speedup {speedup!r} and speedup_kind {speedup_kind!r} disagree: a speed-up needs "
                         "'measured' or 'analytic', and 'none' has no speed-up")
    row = {"section": section, "method": method, "dataset": dataset, "seed": seed, "accuracy": accuracy,
           "params": params, "nonzero_params": nonzero_params, "bits": bits, "size_bytes": size_bytes,
           "macs": macs, "latency_ms": latency_ms, "base_model": base_model, "size_kind": size_kind,
           **_latency_columns(latency_ms, latency_kind, latency_batch, threads, engine, device),
           "busy_other": busy_other, "quiet": is_quiet(busy_other), "speedup": speedup, "speedup_kind": speedup_kind}
    env = {f"env.{k}": v for k, v in environment().items()}
    extra = flatten(settings)
    clash = sorted(set(extra) & (set(row) | set(env)))
    if clash:
        raise ValueError(f"settings repeat columns of the row: {clash}; rename them")
    return {**row, **extra, **env}


def record(rows: list[dict], path) -> Path:
    """Write ``rows`` (each with the :data:`SCHEMA` columns) to ``path`` as JSON, atomically."""
    if isinstance(rows, dict):
        rows = [rows]
    for i, row in enumerate(rows):
        missing = [c for c in SCHEMA if c not in row]
        if missing:
            raise ValueError(f"row {i} lacks schema columns {missing}; build rows with make_row()")
    return write_json_atomic(rows, path)


def read_rows(path) -> list[dict]:
    """The rows of one results JSON file; a file that is not valid JSON is an error naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a valid results file ({e}); re-run the notebook that writes it") from e
    if isinstance(data, list) and all(isinstance(r, dict) and "section" in r for r in data):
        return data
    return []


def collect(path):
    """All rows of a results JSON file, or of every ``*.json`` under a folder, as one DataFrame."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no results at {path}")
    files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
    rows = [{**r, "source": str(f)} for f in files for r in read_rows(f)]
    columns = list(SCHEMA) + sorted({k for r in rows for k in r} - set(SCHEMA))
    return pd.DataFrame(rows, columns=columns)


class Table:
    """A table that displays whole in every viewer: HTML in Jupyter and the book, full text elsewhere.

    Unlike a pandas ``Styler`` (whose text form is ``<Styler at 0x…>``) or a plain DataFrame (whose text
    form truncates long cells and wide tables), both forms show every row, column and character.
    """

    def __init__(self, df, formats: dict[str, str] | None = None):
        self.df = formatted(df, formats) if formats else df

    def _repr_html_(self) -> str:
        return self.df.to_html(index=False, na_rep="–", escape=True)

    def __repr__(self) -> str:
        import pandas as pd

        with pd.option_context("display.max_colwidth", None, "display.width", 10_000,
                               "display.max_columns", None, "display.max_rows", None):
            return self.df.to_string(index=False, na_rep="–")


def formatted(df, formats: dict[str, str]):
    """A copy of ``df`` with the named columns rendered as strings (``{"accuracy": "{:.2%}"}``)."""
    out = df.copy()
    for col, fmt in formats.items():
        out[col] = [fmt.format(v) if v is not None and v == v else "–" for v in out[col]]
    return out


def show(df, formats: dict[str, str] | None = None) -> Table:
    """``df`` as a :class:`Table` (formatted with ``formats``): the way notebooks display tables."""
    return Table(df, formats)


def paper_table(rows: list[dict]) -> Table:
    """The "what the paper reported vs what we measured" table of every notebook, rendered one way.

    Each row: ``claim`` (what is compared), ``paper`` (the published figure, with its setting),
    ``source`` (who reported it), ``measured`` (our figure, formatted by the caller from the run) and
    optionally ``note`` (the gap, said honestly).
    """
    import pandas as pd

    required = ("claim", "paper", "source", "measured")
    for i, r in enumerate(rows):
        missing = [k for k in required if k not in r]
        if missing:
            raise ValueError(f"paper_table row {i} lacks {missing}; each row needs {', '.join(required)}")
    cols = list(required) + (["note"] if any("note" in r for r in rows) else [])
    return Table(pd.DataFrame([{c: r.get(c, "") for c in cols} for r in rows], columns=cols))
