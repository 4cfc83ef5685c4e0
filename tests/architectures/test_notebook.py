"""07_architectures: the committed notebook's structure, and what a SMOKE run writes (rows of every experiment, the
segmentation networks included)."""
import json
from pathlib import Path

import papermill as pm
import pytest

from companion.params import COMMON

NB = Path(__file__).resolve().parents[2] / "notebooks" / "07_architectures.ipynb"


def cells():
    return json.loads(NB.read_text())["cells"]


def test_parameters_cell_starts_with_the_common_block():
    params = [c for c in cells() if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
    names = [line.split("=")[0].strip() for line in "".join(params[0]["source"]).splitlines() if "=" in line]
    assert names[:len(COMMON)] == list(COMMON)
    assert {"BLOCK_CHANNELS", "LATENCY_BATCHES", "ALPHAS", "RHOS", "ZOO_MODELS", "SEG_CANVASES", "SEG_EPOCHS"} <= set(names)
    assert all("#" in line for line in "".join(params[0]["source"]).splitlines() if line.strip())


def test_counts_cells_are_checked_and_latency_cells_print_conditions():
    src = ["".join(c["source"]) for c in cells() if c["cell_type"] == "code"]
    checked = ["".join(c["source"]) for c in cells() if "nbval-check-output" in c["metadata"].get("tags", [])]
    assert any("block_counts" in s for s in checked)
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
    assert {"plain_cnn", "squeezenet_mini", "mobilenetv2_mini", } <= methods
    assert any(m.startswith("block: ") for m in methods) and any(r.get("random_weights") for r in rows)
    assert all(r["latency_kind"] == "measured" and r["threads"] >= 1 for r in rows)
    assert (tmp_path / "figures" / "07_architectures_macs_vs_time.png").exists()
    seg = {r["method"]: r for r in rows if r.get("task") == "segmentation"}
    assert set(seg) == {"segnet_mini", "squeeze_segnet_mini"}
    assert all(r["accuracy"] is None and 0 <= r["miou"] <= 1 and r["size_kind"] == "file" and r["train_key"]
               and r.get("base_key") is None for r in seg.values())  # base_key names a 00_baseline parent; these have none
    assert seg["segnet_mini"]["params"] >= 5 * seg["squeeze_segnet_mini"]["params"]
    assert (tmp_path / "figures" / "07_architectures_segmentation.png").exists()


def test_segmentation_section_trains_through_the_cache_with_calibrated_checks():
    src = "".join("".join(c["source"]) for c in cells())
    assert "train.train_cached(name, seg_splits" in src and "class_weights=seg_weights" in src
    assert "is not run here" not in src
    assert "# Calibration, seeds 0, 1, 2" in src
