"""05_precision: the committed notebook's structure, and what a SMOKE run writes (rows of every experiment)."""
import json
from pathlib import Path

import papermill as pm
import pytest

from companion.params import COMMON

NB = Path(__file__).resolve().parents[2] / "notebooks" / "05_precision.ipynb"


def cells():
    return json.loads(NB.read_text())["cells"]


def test_parameters_cell_starts_with_the_common_block():
    params = [c for c in cells() if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
    names = [line.split("=")[0].strip() for line in "".join(params[0]["source"]).splitlines() if "=" in line]
    assert names[:len(COMMON)] == list(COMMON)
    assert {"MINIFLOATS", "FIXED_BITS", "GUPTA_BITS", "LOSS_SCALES", "LATENCY_BATCHES"} <= set(names)
    assert all("#" in line for line in "".join(params[0]["source"]).splitlines() if line.strip())


def test_deterministic_cells_are_checked_and_outputs_are_quiet():
    src = ["".join(c["source"]) for c in cells() if c["cell_type"] == "code"]
    checked = ["".join(c["source"]) for c in cells() if "nbval-check-output" in c["metadata"].get("tags", [])]
    assert any("fmt_table" in s for s in checked) and any("reference_casts" in s for s in checked)
    assert any("params.check(globals()" in s for s in src) and any("print_conditions" in s for s in src)
    for c in cells():
        for o in c.get("outputs", []):
            assert o.get("name") != "stderr", f"stderr output (a warning or a progress bar) in: {''.join(c['source'])[:80]}"


@pytest.mark.notebook
def test_smoke_run_writes_rows_of_every_experiment(tmp_path):
    out = tmp_path / "r.json"
    pm.execute_notebook(str(NB), str(tmp_path / NB.name), parameters={"SMOKE": True, "RESULTS_PATH": str(out)},
                        cwd=str(NB.parent), kernel_name="python3", progress_bar=False)
    rows = json.loads(out.read_text())
    methods = {r["method"] for r in rows}
    assert {"float", "minifloat", "minifloat (scaled)", "fixed point (static)", "dynamic fixed point"} <= methods
    assert all(r["size_kind"] == "file" and r["size_bytes"] > 0 for r in rows if r["method"] == "dynamic fixed point")
    sgd = [r for r in rows if r["method"].startswith("SGD, ")]
    assert any(r["rounding"] == "stochastic" for r in sgd) and any(r["master_copy"] for r in sgd)
    speed = [r for r in rows if r["latency_kind"] == "measured"]
    assert speed and all(r["speedup_kind"] == "measured" and r["threads"] >= 1 for r in speed)
    assert {r["mode"] for r in speed} == {"fp32", "bf16", "autocast-bf16", "fp16", "autocast-fp16"}
    assert (tmp_path / "figures" / "05_precision_gupta.png").exists()
    assert list((tmp_path / "artifacts" / "05_precision").glob("resnet_small.*.pt"))
