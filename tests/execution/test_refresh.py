"""make notebooks: only on a quiet machine; in place, whole notebooks only; rows copied to notebooks/results/."""
import json

import nbformat
import pytest

from companion import measure
from companion.execution import BusyMachine, check_quiet, refresh

WRITE_ROWS = ("import json, os\nprint('TQDM_DISABLE =', os.environ.get('TQDM_DISABLE'))\n"
              "json.dump([{'section': 'a', 'x': X}], open(RESULTS_PATH, 'w'))")


@pytest.fixture
def repo(tmp_path, make_notebook):
    root = tmp_path / "repo"
    make_notebook(root / "notebooks" / "00_a.ipynb", 'X = 3\nRESULTS_PATH = "../results/00_a.json"', WRITE_ROWS)
    make_notebook(root / "notebooks" / "01_b.ipynb", 'RESULTS_PATH = "../results/01_b.json"', "1 / 0")
    return root


def test_a_busy_machine_is_refused_before_anything_runs(repo, capsys):
    nbs = sorted((repo / "notebooks").glob("*.ipynb"))
    before = [p.read_bytes() for p in nbs]
    assert refresh(nbs, repo, busy_other=lambda interval: 1.5) == 2
    err = capsys.readouterr().err
    assert "refuses to start" in err and "1.50 cores" in err and str(measure.QUIET_CORES) in err
    assert [p.read_bytes() for p in nbs] == before and not (repo / "results").exists()


def test_unknown_load_is_refused_and_the_sample_lasts_a_few_seconds():
    seen = []
    with pytest.raises(BusyMachine, match="cannot tell how busy"):
        check_quiet(lambda interval: seen.append(interval))
    assert seen and seen[0] >= 2, "busy_other is sampled over a few seconds, not a blink"
    assert check_quiet(lambda interval: measure.QUIET_CORES) == measure.QUIET_CORES


def test_notebooks_are_executed_in_place_only_when_whole_and_their_rows_copied(repo, capsys, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    a, b = repo / "notebooks" / "00_a.ipynb", repo / "notebooks" / "01_b.ipynb"
    b_before = b.read_bytes()
    (repo / "results").mkdir()
    (repo / "results" / "01_b.json").write_text("[]")  # stale rows of an earlier run must not be copied
    calls = []
    assert refresh([a, b], repo, busy_other=lambda interval: calls.append(interval) or 0.0) == 1
    assert len(calls) == 2, "the machine is checked before every notebook"
    nb = nbformat.read(a, as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "TQDM_DISABLE = 1" in printed, "the kernels run without progress bars"
    assert [c.get("execution_count") for c in nb.cells if c.cell_type == "code"] == [1, 2], "no injected cell"
    assert nb.metadata.papermill.input_path == nb.metadata.papermill.output_path == "00_a.ipynb"
    copied = json.loads((repo / "notebooks" / "results" / "00_a.json").read_text())
    assert copied == [{"section": "a", "x": 3}] == json.loads((repo / "results" / "00_a.json").read_text())
    assert b.read_bytes() == b_before, "a failed run leaves the committed notebook as it was"
    assert (repo / "results" / "notebooks" / "01_b.partial.ipynb").exists()
    assert not (repo / "notebooks" / "results" / "01_b.json").exists()
    out = capsys.readouterr().out
    assert "FAILED  01_b.ipynb at cell 2/2" in out and "ZeroDivisionError" in out
