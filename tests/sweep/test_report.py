"""The sweep report: results table and figures from finished points."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from companion.sweep import point_id
from companion.sweep.report import results_table, sweep_figure

ROOT = Path(__file__).resolve().parents[2]


NB_DIR = ROOT / "tests" / "sweep" / "fixtures"


TINY = NB_DIR / "sweep_tiny.ipynb"


def test_results_table_and_figure_from_finished_points(tmp_path):
    points = []
    for x in (1, 2):
        for seed in (0, 1):
            p = {"id": point_id({"X": x, "SEED": seed}), "params": {"X": x, "SEED": seed}}
            d = tmp_path / p["id"]
            d.mkdir()
            rows = [{"section": "t", "method": "m", "seed": seed, "accuracy": 0.1 * x + 0.02 * seed}]
            (d / "results.json").write_text(json.dumps(rows))
            if (x, seed) != (2, 1):  # an unfinished point: its rows must not appear
                (d / "done.json").write_text("{}")
            points.append(p)
    table = results_table(points, tmp_path)
    assert len(table) == 3 and list(table.columns[:3]) == ["point_id", "X", "SEED"]
    assert table[["X", "SEED"]].values.tolist() == [[1, 0], [1, 1], [2, 0]]
    fig = sweep_figure(table, "X", "accuracy", [], "SEED")
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), [1, 2])
    np.testing.assert_allclose(line.get_ydata(), [0.11, 0.2])  # mean over seeds 0 and 1; one seed at X=2
