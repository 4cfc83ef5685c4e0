"""The summary's loader: missing sections are listed, corrupt files and unknown kinds named, extras kept."""
import json

import pytest

from companion.results import make_row
from companion.summary import check_row, load_sections


def row(**over):
    base = dict(section="02_pruning", method="magnitude 90%", dataset="d", seed=0, accuracy=0.8, params=10,
                nonzero_params=1, bits=32, size_bytes=100, macs=10, latency_ms=None, base_model="lenet300",
                size_kind="file")
    return make_row(**{**base, **over})


def test_missing_sections_are_listed_and_the_rest_loaded(tmp_path):
    (tmp_path / "02_pruning.json").write_text(json.dumps([row(), row(method="b", my_knob=3)]))
    got = load_sections(tmp_path)
    assert got.present == ["02_pruning"] and "00_baseline" in got.missing and "08_nas" in got.missing
    assert len(got.rows) == 2 and {r["notebook"] for r in got.rows} == {"02_pruning"}
    assert "my_knob" in got.extra_columns
    assert "missing (skipped): 00_baseline" in got.report()


def test_a_corrupt_file_and_an_unknown_kind_are_named_and_skipped(tmp_path):
    (tmp_path / "00_baseline.json").write_text("[{broken")
    bad = row()
    bad["size_kind"] = "estimated"
    (tmp_path / "02_pruning.json").write_text(json.dumps([bad]))
    (tmp_path / "03_quantization.json").write_text(json.dumps([{"section": "x", "method": "no schema"}]))
    got = load_sections(tmp_path)
    assert got.present == [] and got.rows == []
    assert "not a valid results file" in got.problems["00_baseline"]
    assert "size_kind='estimated'" in got.problems["02_pruning"]
    assert "lacks schema columns" in got.problems["03_quantization"]


def test_no_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `make notebooks`"):
        load_sections(tmp_path / "nope")


def test_check_row_accepts_a_good_row():
    check_row(row())
