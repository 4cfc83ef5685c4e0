"""Every section on one map: honest axes, the Pareto front across sections, each row against its own parent.

Only rows that measured the same thing share an axis: bytes on disk only from real files (``size_kind ==
"file"``), latency only from interleaved measurements at one batch size and thread count. Rows that do not
fit are counted and listed, never plotted on the wrong axis.
"""
from __future__ import annotations

import numpy as np

from ..plots import pareto_front, style

MARKERS = {"00_baseline": "o", "01_distillation": "s", "02_pruning": "^", "03_quantization": "D", "04_hashing": "v",
           "05_precision": "P", "06_binarization": "X", "07_architectures": "*", "08_nas": "h", "09_summary": "p"}
FAMILIES = (  # (family, words in the method name), first match wins
    ("distillation", ("kd", "distil", "hints", "logits", "teacher", "student")),
    ("binarization", ("binary", "bnn", "xnor", "bwn", "ternary", "packed")),
    ("hashing", ("hash", "lsh", "freshnet", "funhash")),
    ("precision", ("fp16", "bf16", "fp8", "fixed", "minifloat", "e4m3", "e5m2", "dynamic")),
    ("int8", ("int8",)),
    ("weight sharing", ("k-means", "kmeans", "shared", "pq ", "huffman", "deep compression")),
    ("quantization", ("ptq", "qat", "quant", "w2", "w4", "w8")),
    ("structured pruning", ("filter", "structured", "channel")),
    ("pruning", ("prun", "sparse", "lottery", "obd", "magnitude", "ticket")),
    ("architecture", ("mobilenet", "squeeze", "shuffle", "fire", "segnet", "inverted", "plain", "nas", "arch")),
    ("dense", ("lenet", "resnet", "dense", "baseline")),
)


def family_of(row: dict) -> str:
    """The method family of a row: its own ``family`` setting, else the first family whose word its method has."""
    family = row.get("family")
    if isinstance(family, str) and family:  # a frame of several sections holds NaN where a row has no setting
        return family
    method = str(row.get("method", "")).lower()
    for family, words in FAMILIES:
        if any(w in method for w in words):
            return family
    return str(row.get("section", "other"))


def size_axis(df):
    """Rows whose bytes are a real file's, with an accuracy: the only ones on a bytes-on-disk axis."""
    keep = df[(df["size_kind"] == "file") & df["size_bytes"].notna() & df["accuracy"].notna()]
    return keep, len(df) - len(keep)


def latency_axis(df, batch=None, threads=None):
    """Rows with a measured latency at one (batch, threads) — the most common pair unless given — and accuracy."""
    measured = df[(df["latency_kind"] == "measured") & df["latency_ms"].notna() & df["accuracy"].notna()]
    if measured.empty:
        return measured, len(df), (batch, threads)
    if batch is None or threads is None:
        batch, threads = measured.groupby(["latency_batch", "threads"]).size().idxmax()
    keep = measured[(measured["latency_batch"] == batch) & (measured["threads"] == threads)]
    return keep, len(df) - len(keep), (batch, threads)


def relative_to_parent(df, parents):
    """Each row against its own dense parent: ``compression`` (parent file bytes / file bytes, file sizes only),
    ``delta_accuracy`` (points) and ``speedup`` as the row measured it (``speedup_kind``).

    ``parents`` maps a ``base_model`` to its row (``accuracy``, ``size_bytes``), e.g. 00_baseline's rows.
    """
    out = df[df["base_model"].isin(list(parents)) & df["accuracy"].notna()].copy()
    base_acc = out["base_model"].map(lambda m: parents[m]["accuracy"])
    base_size = out["base_model"].map(lambda m: parents[m]["size_bytes"])
    out["delta_accuracy"] = 100 * (out["accuracy"] - base_acc)
    out["compression"] = np.where(out["size_kind"] == "file", base_size / out["size_bytes"], np.nan)
    return out


def draw_map(ax, df, x: str, logx: bool = True, label_front: bool = True):
    """Accuracy against ``x``: one marker per section, one colour per family, the front across sections in
    colour and dominated points greyed; filled markers for measured speed-ups, hollow for analytic or none."""
    from matplotlib import ticker

    front = pareto_front(df[x].to_numpy(float), df["accuracy"].to_numpy(float)) if len(df) else np.array([], bool)
    for on_front, grey in ((False, True), (True, False)):
        part = df[front == on_front]
        for (section, family), g in part.groupby(["section", "family"], sort=False):
            color = "0.75" if grey else style(family)["color"]
            filled = g["speedup_kind"] == "measured"
            for fill, h in ((True, g[filled]), (False, g[~filled])):
                if len(h):
                    ax.scatter(h[x], h["accuracy"], marker=MARKERS.get(section, "o"), s=46, zorder=3 if on_front else 2,
                               facecolors=color if fill else "none", edgecolors=color, linewidths=1.2)
    if front.any():
        line = df[front].sort_values(x)
        ax.step(line[x], line["accuracy"], where="post", color="k", lw=1, ls="--", zorder=1)
    if logx and len(df) and df[x].min() > 0:
        ax.set_xscale("log")
    ax.yaxis.set_major_formatter(ticker.PercentFormatter(1.0))
    ax.grid(True, alpha=0.3)
    return front


def legend_handles(df):
    """Legend entries: one per section (marker) and one per family (colour), plus the filled/hollow rule."""
    from matplotlib.lines import Line2D

    sections = [Line2D([], [], ls="", marker=MARKERS.get(s, "o"), color="0.3", label=s) for s in df["section"].unique()]
    families = [Line2D([], [], ls="", marker="o", color=style(f)["color"], label=f) for f in df["family"].unique()]
    rule = [Line2D([], [], ls="", marker="o", markerfacecolor="0.3", color="0.3", label="speed-up measured"),
            Line2D([], [], ls="", marker="o", markerfacecolor="none", color="0.3", label="analytic or none"),
            Line2D([], [], ls="", marker="o", color="0.75", label="dominated")]
    return sections, families + rule
