"""The survey's taxonomy: every section in survey order, matched to notebooks by number."""
from pathlib import Path

import pytest

from companion.book.taxonomy import TAXONOMY, assign, find_notebooks, number_of, ordered

ROOT = Path(__file__).resolve().parents[2]


def test_the_taxonomy_follows_the_survey_outline():
    numbers = [s.number for part in TAXONOMY for s in part.sections]
    assert numbers == ["–", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "3.1", "3.2", "4"]
    notebooks = [s.notebook for part in TAXONOMY for s in part.sections]
    assert sorted(notebooks) == [f"{i:02d}" for i in range(10)], "one notebook number per section"


def test_missing_notebooks_leave_their_section_empty_and_extras_are_kept():
    nbs = [Path("02_pruning.ipynb"), Path("00_baseline.ipynb"), Path("10_extra.ipynb")]
    parts, others = assign(nbs)
    pairs = {s.number: nb for _, p in parts for s, nb in p}
    assert pairs["2.3"] == Path("02_pruning.ipynb") and pairs["2.2"] is None and pairs["4"] is None
    assert others == [Path("10_extra.ipynb")]
    assert ordered(nbs) == [Path("00_baseline.ipynb"), Path("02_pruning.ipynb"), Path("10_extra.ipynb")]


def test_survey_order_is_not_file_order():
    order = [number_of(p) for p in ordered([Path(f"0{i}_x.ipynb") for i in range(10)])]
    assert order == ["00", "01", "04", "02", "03", "05", "06", "07", "08", "09"]


def test_two_notebooks_with_one_number_are_an_error():
    with pytest.raises(ValueError, match="share the number 02"):
        assign([Path("02_a.ipynb"), Path("02_b.ipynb")])


def test_the_repository_notebooks_are_found_and_partials_are_not(tmp_path):
    assert [p.name for p in find_notebooks(ROOT / "notebooks")][0] == "00_baseline.ipynb"
    for name in ("00_a.ipynb", "00_a.partial.ipynb", "notes.ipynb"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in find_notebooks(tmp_path)] == ["00_a.ipynb"]
