"""What the book reads off a committed notebook."""
from pathlib import Path

import nbformat

from companion.book.notebook import conditions_lines, imported_modules, is_busy, read_notebook, title_of

ROOT = Path(__file__).resolve().parents[2]
LINE = ("Measurement conditions: AMD EPYC, 2 cores, AVX512 [avx2]; torch 2.14.1, 2 threads; "
        "other processes 0.01 cores: quiet")


def test_imports_and_alias_attributes_are_found_in_order():
    code = ["import companion as cp\nfrom companion import data, measure as m\n%matplotlib inline",
            "from companion.pruning import PruneConfig\nimport companion.sparse\n"
            "x = cp.train.fit\ncp.load_dataset('x')",
            "this is not python ("]
    assert imported_modules(code) == ["companion.data", "companion.measure", "companion.pruning", "companion.sparse",
                                      "companion.train", "companion.load_dataset"]


def test_relative_and_other_imports_are_ignored():
    assert imported_modules(["from . import x\nimport companionship\nfrom companions import y"]) == []


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_conditions_lines_are_read_from_streams_and_results_once_each():
    a = nbformat.v4.new_code_cell("x")
    a.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"device: cpu\n{LINE}\n")]
    b = nbformat.v4.new_code_cell("y")
    b.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": LINE}, execution_count=2),
                 nbformat.v4.new_output("stream", name="stdout", text=LINE.replace("quiet", "BUSY"))]
    lines = conditions_lines(_nb(a, b))
    assert lines == [LINE, LINE.replace("quiet", "BUSY")]
    assert [is_busy(x) for x in lines] == [False, True]


def test_the_title_is_the_first_heading():
    nb = _nb(nbformat.v4.new_markdown_cell("no heading"), nbformat.v4.new_markdown_cell("text\n# 02 · Pruning: x\n"))
    assert title_of(nb) == "02 · Pruning: x"


def test_a_committed_notebook_reads_without_running():
    info = read_notebook(ROOT / "notebooks" / "00_baseline.ipynb")
    assert info.title.startswith("00 · Baseline") and info.stem == "00_baseline"
    assert "companion.measure" in info.modules
