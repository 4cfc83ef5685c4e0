"""08_nas with SMOKE=True on a synthetic table fixture (the notebook must not depend on the shipped data)."""
import json
from pathlib import Path

import papermill as pm
import pytest

from companion.results import SCHEMA

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "08_nas.ipynb"


@pytest.mark.notebook
def test_smoke_run_on_a_tiny_table_fixture(table_dir, tmp_path):
    out = tmp_path / "results.json"
    pm.execute_notebook(str(NOTEBOOK), str(tmp_path / NOTEBOOK.name), cwd=str(NOTEBOOK.parent), kernel_name="python3",
                        parameters={"SMOKE": True, "THREADS": 1, "RESULTS_PATH": str(out), "TABLE_DIR": str(table_dir)},
                        progress_bar=False)
    rows = json.loads(out.read_text())
    assert len(rows) == 4 and all(set(SCHEMA) <= set(r) for r in rows)
    assert {r["method"] for r in rows} >= {"lenet5", "searched (accuracy)"}
    assert all(r["latency_kind"] == "measured" and r["base_model"] == "lenet5" for r in rows)


@pytest.mark.notebook
def test_a_corrupt_table_stops_the_notebook_with_a_clear_error(table_dir, tmp_path):
    (table_dir / "table.json").write_text("{}")
    with pytest.raises(pm.PapermillExecutionError, match="checksum mismatch"):
        pm.execute_notebook(str(NOTEBOOK), str(tmp_path / NOTEBOOK.name), cwd=str(NOTEBOOK.parent), kernel_name="python3",
                            parameters={"SMOKE": True, "RESULTS_PATH": str(tmp_path / "r.json"), "TABLE_DIR": str(table_dir)},
                            progress_bar=False)
