"""The sweep grid: parameters read from the notebook, checked values, stable point ids."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from companion.sweep import SweepError, build_grid, check_value, load_grid, notebook_parameters, parse_value, point_id

ROOT = Path(__file__).resolve().parents[2]


NB_DIR = ROOT / "tests" / "sweep" / "fixtures"


TINY = NB_DIR / "sweep_tiny.ipynb"


NO_PARAMS = NB_DIR / "sweep_no_parameters.ipynb"


def test_parse_value_reads_python_literals():
    assert parse_value("0.5") == 0.5 and isinstance(parse_value("8"), int) and parse_value("True") is True
    assert parse_value('"cifar10"') == "cifar10" and parse_value("cifar10") == "cifar10"
    assert parse_value("[8, 4]") == [8, 4] and parse_value("-3") == -3 and math.isnan(parse_value("nan"))


def test_notebook_parameters_types_from_defaults_and_annotations(tmp_path):
    params = notebook_parameters(TINY)
    types = {n: p.type for n, p in params.items()}
    assert types == {"X": int, "Y": float, "NAME": str, "SEED": int, "SLEEP": float, "BUSY": float,
                     "FAIL_FLAG": str, "RESULTS_PATH": str}
    nb = _notebook(tmp_path / "a.ipynb", 'B: float = 1\nQ = "k=v"  # two = signs: papermill skips this line\n'
                                         'L = [8, 4]\nRESULTS_PATH = "r.json"')
    params = notebook_parameters(nb)
    assert params["B"].type is float and params["Q"].type is str and params["L"].type is list


def test_check_value_accepts_int_for_float_and_rejects_strings_for_numbers():
    params = notebook_parameters(TINY)
    y = check_value(params["Y"], 2)
    assert y == 2.0 and isinstance(y, float)
    with pytest.raises(SweepError, match=r"parameter Y expects float .* got str 'abc'"):
        check_value(params["Y"], "abc")
    with pytest.raises(SweepError, match="parameter X expects int"):
        check_value(params["X"], True)
    with pytest.raises(SweepError, match="parameter NAME expects str"):
        check_value(params["NAME"], 3)
    with pytest.raises(SweepError, match="cannot be passed"):
        check_value(params["NAME"], {1, 2})


def test_check_value_checks_list_elements(tmp_path):
    params = notebook_parameters(_notebook(tmp_path / "l.ipynb", 'S = [0.5, 0.9]\nRESULTS_PATH = "r.json"'))
    assert check_value(params["S"], (1, 0.5)) == [1.0, 0.5]
    with pytest.raises(SweepError, match="parameter S expects list"):
        check_value(params["S"], [0.5, "a"])


def test_build_grid_is_the_cartesian_product_in_order():
    params = notebook_parameters(TINY)
    grid = build_grid(params, {"X": [1, 2, 3], "Y": [0.5, 1, 1.0]}, seeds=2)
    assert len(grid) == 3 * 2 * 2  # 1 and 1.0 are one float value
    assert grid[0] == {"X": 1, "Y": 0.5, "SEED": 0} and grid[-1] == {"X": 3, "Y": 1.0, "SEED": 1}
    assert all(isinstance(p["Y"], float) for p in grid)
    with pytest.raises(SweepError, match="either --seeds or -p SEED"):
        build_grid(params, {"SEED": [0]}, seeds=2)
    with pytest.raises(SweepError, match="RESULTS_PATH cannot be swept"):
        build_grid(params, {"RESULTS_PATH": ["x.json"]})


def test_point_id_is_stable_readable_and_distinct():
    a = point_id({"X": 1, "Y": 0.5, "NAME": "a/b c"})
    assert a == point_id({"NAME": "a/b c", "Y": 0.5, "X": 1})
    assert a.startswith("NAME=a_b_c_X=1_Y=0.5-") and "/" not in a
    assert point_id({"X": 1}) != point_id({"X": 2}) != point_id({"X": "2"})
    assert point_id({"X": 1.0}) != point_id({"X": 1})  # values are normalised to the declared type first


def test_load_grid(tmp_path):
    (tmp_path / "g.yaml").write_text("X: [1, 2]\nNAME: b\n")
    assert load_grid(tmp_path / "g.yaml") == {"X": [1, 2], "NAME": ["b"]}
    (tmp_path / "bad.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(SweepError, match="must map parameter names"):
        load_grid(tmp_path / "bad.yaml")


def _notebook(path: Path, parameters: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nbformat.write(nb, path)
    return path
