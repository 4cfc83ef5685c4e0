"""A decision guide from the measurements: for each constraint a user has, which techniques the rows support.

Every recommendation comes with its evidence row (the section, the method, what it cost in accuracy against
its own dense parent, what it bought). Nothing is recommended that no row supports: a constraint with no
qualifying row says so.
"""
from __future__ import annotations

# constraint -> (what qualifies a row, the column that ranks the qualifying rows, higher is better, explanation)
CONSTRAINTS = {
    "flash size": ("a real file, accuracy within the budget", "compression", True,
                   "bytes on disk of a real artifact against the row's dense parent"),
    "RAM at run time": ("runs in its compressed form (no decoding to dense fp32 before inference)", "compression", True,
                        "int8, packed binary, fp16/bf16, structured pruning and small architectures keep their size "
                        "in memory; sparse, shared, hashed and Huffman files are decoded to dense weights"),
    "latency on a CPU": ("a speed-up measured interleaved against the dense parent", "speedup", True,
                         "measured on this machine at one batch size and thread count"),
    "no retraining possible": ("post-training only: casts, PTQ, int8 engines", "compression", True,
                               "methods that need no gradient step after training"),
    "no training data": ("needs no data at all (calibration-free casts and weight-only rounding)", "compression", True,
                         "int8 static quantization still needs a few calibration batches"),
}
RUNS_COMPRESSED = ("int8", "binarization", "precision", "structured pruning", "architecture")
POST_TRAINING = ("int8", "precision")
DATA_FREE_WORDS = ("fp16", "bf16", "fp8", "e4m3", "e5m2", "fixed", "minifloat")


def _base(family) -> str:
    """A family by its first word: 03's per-engine ``"int8 (x86)"`` is ``"int8"``."""
    return str(family).split(" (")[0]


def _qualifies(constraint: str, r) -> bool:
    if constraint == "flash size":
        return r["size_kind"] == "file" and r["compression"] == r["compression"]
    if constraint == "RAM at run time":
        return _base(r["family"]) in RUNS_COMPRESSED and r["size_kind"] == "file"
    if constraint == "latency on a CPU":
        return r["speedup_kind"] == "measured" and r["speedup"] == r["speedup"]
    method = str(r["method"]).lower()
    if constraint == "no retraining possible":
        return _base(r["family"]) in POST_TRAINING or "ptq" in method
    if constraint == "no training data":
        return _base(r["family"]) == "precision" and any(w in method for w in DATA_FREE_WORDS) and "train" not in method
    raise ValueError(f"unknown constraint {constraint!r}; known: {', '.join(CONSTRAINTS)}")


def recommend(rel, constraint: str, max_loss_points: float = 1.5, per_family: int = 1):
    """The best rows per method family that meet ``constraint`` and lose at most ``max_loss_points`` of accuracy
    against their own dense parent (``rel`` from :func:`companion.summary.maps.relative_to_parent`, with a
    ``family`` column), best first. An empty frame means no measured row supports the constraint."""
    import pandas as pd

    if constraint not in CONSTRAINTS:
        raise ValueError(f"unknown constraint {constraint!r}; known: {', '.join(CONSTRAINTS)}")
    if max_loss_points < 0:
        raise ValueError(f"max_loss_points must be >= 0, got {max_loss_points}")
    _, column, higher, _ = CONSTRAINTS[constraint]
    ok = rel[(rel["delta_accuracy"] >= -max_loss_points) & (rel["method"] != rel["base_model"])]
    ok = ok[[_qualifies(constraint, r) for _, r in ok.iterrows()]] if len(ok) else ok
    if ok.empty:
        return pd.DataFrame(columns=["family", "section", "method", "base_model", "delta_accuracy", column])
    best = ok.sort_values(column, ascending=not higher).groupby("family", sort=False).head(per_family)
    return best[["family", "section", "method", "base_model", "delta_accuracy", column]].reset_index(drop=True)
