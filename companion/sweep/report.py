"""The end of a sweep: ``results.csv`` from every finished point, the summary table, one figure per parameter."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_write
from ..plots import LABELS, save_figure
from ..results import collect
from .executors import RESULTS, is_finished

SHOW_POINTS = 40  # summary lines for finished points; failed ones are always listed


def _cell(value):
    """A parameter value as one table cell: scalars as they are, lists and dicts as JSON text."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value


def results_table(points: list[dict], out: Path) -> pd.DataFrame:
    """Every row of every finished point, led by ``point_id`` and the point's parameters as columns.

    Rebuilt from the points' own ``results.json`` each time, so a row is never repeated nor lost;
    a notebook column with a parameter's name is replaced by the parameter's value."""
    frames = []
    for p in points:
        if not is_finished(out / p["id"]):
            continue
        rows = collect(out / p["id"] / RESULTS)
        front = pd.DataFrame({"point_id": [p["id"]] * len(rows),
                              **{k: [_cell(v)] * len(rows) for k, v in p["params"].items()}})
        frames.append(pd.concat([front, rows.drop(columns=[c for c in front if c in rows])], axis=1))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_csv_atomic(df: pd.DataFrame, path: Path) -> Path:
    """``df.to_csv(path)`` through :func:`companion.io.atomic_write`: never half a file."""
    with atomic_write(path, "w", newline="") as f:
        df.to_csv(f, index=False)
    return Path(path)


def summary_table(points: list[dict], table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One line per point: its parameters, status, rows, each metric's mean over its rows, seconds, error."""
    means = {m: pd.to_numeric(table[m], errors="coerce").groupby(table["point_id"]).mean().to_dict()
             for m in metrics if len(table) and m in table}
    lines = []
    for p in points:
        lines.append({"point": p["id"], **{k: _cell(v) for k, v in p["params"].items()}, "status": p["status"],
                      "rows": p.get("rows"), **{m: means.get(m, {}).get(p["id"]) for m in metrics},
                      "seconds": p.get("seconds"), "error": p.get("error", "")})
    return pd.DataFrame(lines).astype({"rows": "Int64"})


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
               for v in values)


def sweep_figure(table: pd.DataFrame, param: str, metric: str, by: list[str], seed: str | None):
    """``metric`` against ``param``: one line per combination of ``by``, mean ± standard deviation over the
    rest (the seeds); a numeric parameter on a numeric axis, any other on categories in sweep order."""
    from matplotlib.figure import Figure

    data = table.assign(**{metric: pd.to_numeric(table[metric], errors="coerce")}).dropna(subset=[metric])
    order = list(dict.fromkeys(data[param]))
    numeric = _numeric(order)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    groups = data.groupby(by, sort=False, dropna=False) if by else [((), data)]
    for key, group in groups:
        stats = group.groupby(param, sort=False)[metric].agg(["mean", "std", "count"])
        stats = stats.reindex([v for v in order if v in stats.index])
        x = np.asarray(stats.index, float) if numeric else [order.index(v) for v in stats.index]
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{b}={k}" for b, k in zip(by, key)) or None
        ax.errorbar(x, np.asarray(stats["mean"], float), yerr=np.asarray(stats["std"].fillna(0), float), marker="o", capsize=3, label=label)
    if not numeric:
        ax.set_xticks(range(len(order)), [str(v) for v in order])
        ax.set_xlim(-0.5, len(order) - 0.5)
    seeds = f" (mean ± std over {data[seed].nunique()} values of {seed})" if seed else ""
    ax.set_xlabel(param)
    ax.set_ylabel(LABELS.get(metric, metric) + seeds)
    ax.grid(True, alpha=0.3)
    if by:
        ax.legend(fontsize=7)
    return fig


def report(points: list[dict], out: Path, swept: list[str], metrics: list[str], stem: str, seed: str, echo=print):
    """Write ``results.csv`` and one figure per swept parameter and metric (PNG and PDF); print the summary.

    Returns the CSV path (None if no point has finished) and the figure paths."""
    table = results_table(points, out)
    csv = write_csv_atomic(table, out / "results.csv") if len(table) else None
    summary = summary_table(points, table, metrics)
    shown = summary[summary.status != "failed"]
    with pd.option_context("display.width", 200, "display.max_rows", None, "display.max_colwidth", 60):
        echo(shown.head(SHOW_POINTS).drop(columns=["error"]).to_string(index=False))
    if len(shown) > SHOW_POINTS:
        echo(f"... {len(shown) - SHOW_POINTS} more points in {out / 'results.csv'}")
    for p in points:
        if p["status"] == "failed":
            echo(f"FAILED {p['id']}: {p.get('error')}\n       partial notebook: {p.get('notebook', '-')}")
    counts = summary.status.value_counts().to_dict()
    echo(", ".join(f"{n} {s}" for s, n in counts.items()) + f"; {len(table)} rows -> {csv or '(no results yet)'}")
    figures = []
    seed_swept = seed if seed in swept else None
    for metric in metrics:
        if not len(table) or metric not in table or pd.to_numeric(table[metric], errors="coerce").isna().all():
            if any(s != seed for s in swept):
                echo(f"no figure of {metric!r}: no numeric {metric!r} column in the results")
            continue
        for param in [s for s in swept if s != seed]:
            by = [s for s in swept if s not in (param, seed)]
            if "method" in table and table["method"].nunique() > 1:
                by.append("method")
            fig = sweep_figure(table, param, metric, by, seed_swept)
            figures += save_figure(fig, out / "figures" / f"{stem}_{metric}_vs_{param}")
    if figures:
        echo(f"figures: {', '.join(str(f) for f in figures if f.suffix == '.png')} (and .pdf)")
    return csv, figures
