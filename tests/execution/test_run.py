"""make run: progress per cell, a failing notebook named with its cell and kept partial, the others still run."""
import nbformat

from companion.__main__ import main
from companion.execution import CellProgress, Outcome, clock
from companion.execution.run import partial_path


def test_make_run_shows_progress_keeps_going_and_names_the_failing_cell(tmp_path, capfd, make_notebook):
    bad = make_notebook(tmp_path / "nbs" / "00_bad.ipynb", "X = 1", "x = 1", "raise ValueError('boom')", "y = 2")
    ok = make_notebook(tmp_path / "nbs" / "01_ok.ipynb", "X = 1", "print('done', X)")
    out = tmp_path / "out"
    assert main(["run", str(bad), str(ok), "--out", str(out)]) == 1
    stdout, stderr = capfd.readouterr()
    # 4 code cells + the one papermill injects for the parameters (RESULTS_PATH)
    for k in range(1, 5):
        assert f"[00_bad] cell {k}/5 · " in stdout
    assert "[00_bad] cell 5/5" not in stdout, "nothing runs after the failing cell"
    assert "[01_ok] cell 3/3 · " in stdout and "raise ValueError('boom')" in stdout
    assert "Summary: 1 of 2 notebooks ran to the end" in stdout
    failed = next(line for line in stdout.splitlines() if line.startswith("  FAILED"))
    assert "00_bad.ipynb at cell 4/5 (In [4])" in failed and "ValueError: boom" in failed
    assert str(out / "notebooks" / "00_bad.partial.ipynb") in failed
    partial = nbformat.read(out / "notebooks" / "00_bad.partial.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in partial.cells for o in c.get("outputs", []))
    assert not (out / "notebooks" / "00_bad.ipynb").exists()
    assert (out / "notebooks" / "01_ok.ipynb").exists() and not (out / "notebooks" / "01_ok.partial.ipynb").exists()
    assert "without encryption" not in stdout + stderr and "WARNING" not in stderr, stderr


def test_progress_lines_and_summary_lines(tmp_path, capsys):
    progress = CellProgress("02_x", 12)
    progress.on_cell_start(nbformat.v4.new_code_cell("\n\n  model = fit(x)  # a very long comment " + "x" * 80), 7)
    line = capsys.readouterr().out
    assert line.startswith("[02_x] cell  1/12 · ") and "model = fit(x)" in line and line.rstrip().endswith("…")
    assert clock(75.2) == "1:15" and clock(3725) == "1:02:05"
    partial = partial_path(tmp_path / "02_x.ipynb")
    failed = Outcome(tmp_path / "02_x.ipynb", False, 61, partial, 12, 7, 9, "KeyError: 'a'")
    assert failed.describe() == ("FAILED  02_x.ipynb at cell 7/12 (In [9]) after 1:01: KeyError: 'a'; "
                                 f"partial notebook: {partial}")
    assert Outcome(tmp_path / "a.ipynb", True, 5, tmp_path / "a.ipynb", 3).describe().startswith("ok      a.ipynb")
