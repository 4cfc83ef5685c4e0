"""04_hashing: the committed notebook's structure (the SMOKE run is in tests/notebooks)."""
import json
from pathlib import Path

from companion.params import COMMON

NB = Path(__file__).resolve().parents[2] / "notebooks" / "04_hashing.ipynb"


def cells():
    return json.loads(NB.read_text())["cells"]


def test_parameters_cell_starts_with_the_common_block_and_every_line_is_commented():
    params = [c for c in cells() if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
    lines = [l for l in "".join(params[0]["source"]).splitlines() if l.strip()]
    names = [l.split("=")[0].strip() for l in lines]
    assert names[:len(COMMON)] == list(COMMON)
    assert {"COMPRESSIONS", "SEEDS", "INFLATION_WIDTHS", "LSH_TARGETS", "LATENCY_BATCHES"} <= set(names)
    assert all("#" in l for l in lines)


def test_checks_measures_and_asserts_are_there():
    src = "\n".join("".join(c["source"]) for c in cells() if c["cell_type"] == "code")
    for needle in ("params.check(globals()", "params.setup(globals())", "print_conditions", "latency_table",
                   "compare_latency", "results.record", "paper_table", "file_lo <= 4 * floats + 4096", "base_key="):
        assert needle in src, needle
    assert src.count("assert ") >= 8
    assert "".join(cells()[0]["source"]).startswith("# 04 · ")
