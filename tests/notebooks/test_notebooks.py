"""Every notebook: structure checks, and a papermill run with SMOKE=True (seconds each)."""
import json
from pathlib import Path

import papermill as pm
import pytest

from companion.results import SCHEMA

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9]*.ipynb"))
REQUIRED = {"SMOKE", "SEED", "DEVICE", "DATASET", "RESULTS_PATH"}


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_structure(nb):
    cells = json.loads(nb.read_text())["cells"]
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "papermill needs exactly one cell tagged 'parameters'"
    names = set(pm.inspect_notebook(str(nb)).keys())
    assert REQUIRED <= names, f"parameters cell lacks {REQUIRED - names}"
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# ")
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, "committed notebook holds error outputs"
    assert any(c.get("outputs") for c in cells if c["cell_type"] == "code"), "no committed outputs"


@pytest.mark.notebook
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_smoke_run(nb, tmp_path):
    out = tmp_path / "results.json"
    pm.execute_notebook(str(nb), str(tmp_path / nb.name), parameters={"SMOKE": True, "RESULTS_PATH": str(out)},
                        cwd=str(nb.parent), kernel_name="python3", progress_bar=False)
    rows = json.loads(out.read_text())
    assert rows and all(set(SCHEMA) <= set(r) for r in rows)
