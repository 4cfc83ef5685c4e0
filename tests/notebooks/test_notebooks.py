"""Every notebook: structure checks, the common parameter block, and a papermill run with SMOKE=True."""
import json
import os
from pathlib import Path

import papermill as pm
import pytest

from companion.execution import execute
from companion.params import COMMON
from companion.results import SCHEMA

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
COMMITTED_ROWS = ROOT / "notebooks" / "results"


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_structure(nb):
    cells = json.loads(nb.read_text())["cells"]
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "papermill needs exactly one cell tagged 'parameters'"
    names = list(pm.inspect_notebook(str(nb)).keys())
    assert names[:len(COMMON)] == list(COMMON), f"the parameters cell must start with the common block {COMMON}"
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# ")
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, "committed notebook holds error outputs"
    assert any(c.get("outputs") for c in cells if c["cell_type"] == "code"), "no committed outputs"
    texts = ["".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
             for c in cells for o in c.get("outputs", [])]
    assert not [t for t in texts if "<pandas.io.formats.style.Styler" in t], "a table shows as <Styler at 0x…>"
    assert any(t.startswith("Measurement conditions:") for t in texts) or not any("latency" in t for t in texts), \
        "a notebook that measures latency prints its Measurement conditions line"
    meta = json.loads(nb.read_text())["metadata"]["kernelspec"]
    assert meta["name"] == "python3", "notebooks run on the project's python3 kernel"


def _run(nb, tmp_path, **parameters):
    out = tmp_path / "results.json"
    execute(nb, tmp_path / nb.name, parameters={"RESULTS_PATH": str(out), **parameters}, cwd=nb.parent)
    return json.loads(out.read_text())


@pytest.mark.notebook
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_smoke_run(nb, tmp_path):
    rows = _run(nb, tmp_path, SMOKE=True)
    assert rows and all(set(SCHEMA) <= set(r) for r in rows)


@pytest.mark.notebook
def test_a_list_given_as_a_string_fails_at_once_with_a_clear_message(tmp_path):
    nb = ROOT / "notebooks" / "00_baseline.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as e:
        execute(nb, tmp_path / nb.name, cwd=nb.parent, parameters={"SMOKE": True, "MODELS": '["lenet300", "lenet5"]',
                                                                   "RESULTS_PATH": str(tmp_path / "r.json")})
    assert "MODELS must be a list of model names, got the string" in str(e.value)
    assert "-y 'MODELS: [lenet300, lenet5]'" in str(e.value)
    assert e.value.exec_count <= 3, "the check must run right after the parameters cell"


FULL = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.notebook
def test_the_full_fashion_mnist_loads_and_runs(tmp_path):
    if not FULL.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{FULL} is missing in CI: .ci/run installs the Debian package dataset-fashion-mnist")
        pytest.skip("needs the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
    nb = ROOT / "notebooks" / "00_baseline.ipynb"
    rows = _run(nb, tmp_path, SMOKE=True, DATASET="fashion-mnist", MODELS=["lenet300"], NOISE_SEEDS=0)
    assert {r["dataset"] for r in rows} == {"fashion-mnist"}
    out = (tmp_path / nb.name).read_text()
    assert "fashion-mnist: 60000 training and 10000 test images" in out


def _committed():
    return {p.stem: json.loads(p.read_text()) for p in sorted(COMMITTED_ROWS.glob("*.json"))}


def test_every_notebook_starts_from_the_baselines_of_00():
    """One dense model per architecture: every committed row that names the cache key of its dense parent
    names 00_baseline's key for that model (same recipe, same data, same code)."""
    rows = _committed()
    if "00_baseline" not in rows:
        pytest.skip("no committed rows yet (make notebooks writes notebooks/results/)")
    keys = {r["method"]: r["base_key"] for r in rows["00_baseline"]}
    acc = {r["method"]: r["accuracy"] for r in rows["00_baseline"]}
    checked = 0
    for stem, section in rows.items():
        for r in section:
            if r.get("base_key") is None:
                continue
            assert r["base_key"] == keys[r["base_model"]], f"{stem} row {r['method']!r} uses another {r['base_model']}"
            if r.get("base_accuracy") is not None:
                assert abs(r["base_accuracy"] - acc[r["base_model"]]) < 1e-9, (stem, r["method"])
            checked += 1
    assert checked >= len(keys)


def test_committed_rows_match_the_committed_notebooks():
    """notebooks/results/<stem>.json exists for every notebook and every row says what its numbers are."""
    rows = _committed()
    if not rows:
        pytest.skip("no committed rows yet (make notebooks writes notebooks/results/)")
    for nb in NOTEBOOKS:
        assert nb.stem in rows, f"notebooks/results/{nb.stem}.json is missing: run make notebooks"
        assert all(set(SCHEMA) <= set(r) for r in rows[nb.stem]), nb.stem
