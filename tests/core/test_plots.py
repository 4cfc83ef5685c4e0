import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from companion import plots  # noqa: E402


def test_pareto_front_by_hand():
    x = [1, 2, 3, 2, 5]
    y = [0.5, 0.7, 0.9, 0.6, 0.8]
    assert plots.pareto_front(x, y).tolist() == [True, True, True, False, False]
    assert plots.pareto_front([1, 1], [0.5, 0.5]).tolist() == [True, True]


def test_tradeoff_plot_and_save(tmp_path):
    df = pd.DataFrame({"method": ["a", "b", "c"], "size_bytes": [10, 100, 1000], "accuracy": [0.5, 0.8, 0.7]})
    ax = plots.tradeoff_plot(df, "size_bytes", "accuracy")
    assert ax.get_xscale() == "log"
    narrow = plots.tradeoff_plot(df.assign(size_bytes=[10, 11, 12]), "size_bytes", "accuracy")
    assert narrow.get_xscale() == "linear"
    paths = plots.save_figure(ax.figure, tmp_path / "figs" / "t")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 1000 for p in paths)
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"
    plt.close("all")
    with pytest.raises(KeyError, match="latency_ms"):
        plots.tradeoff_plot(df, "latency_ms", "accuracy")


def test_image_grid_shape():
    images = np.random.default_rng(0).random((30, 1, 4, 4))
    labels = np.arange(30) % 3
    ax = plots.image_grid(images, labels, ["a", "b", "c"], per_class=5)
    assert ax.images[0].get_array().shape == (12, 20)
    plt.close("all")


def test_pareto_front_ties_duplicates_and_one_point():
    # equal x: only the higher y survives; equal y: only the lower x; exact duplicates both stay
    assert plots.pareto_front([1, 1], [0.5, 0.6]).tolist() == [False, True]
    assert plots.pareto_front([1, 2], [0.5, 0.5]).tolist() == [True, False]
    assert plots.pareto_front([3, 3, 1], [0.9, 0.9, 0.1]).tolist() == [True, True, True]
    assert plots.pareto_front([7], [0.3]).tolist() == [True]
    assert plots.pareto_front([], []).tolist() == []
    with pytest.raises(ValueError, match="same length"):
        plots.pareto_front([1, 2], [0.5])


def test_the_front_is_never_dominated_on_random_points():
    rng = np.random.default_rng(0)
    x, y = rng.random(200), rng.random(200)
    keep = plots.pareto_front(x, y)
    for i in np.flatnonzero(keep):
        assert not np.any((x <= x[i]) & (y >= y[i]) & ((x < x[i]) | (y > y[i])))
    for i in np.flatnonzero(~keep):  # everything off the front is beaten by a point on it
        assert np.any(keep & (x <= x[i]) & (y >= y[i]))


def test_style_is_fixed_per_method():
    assert plots.style("magnitude") == plots.style("magnitude")
    assert plots.style("dense") == {"color": "#000000", "marker": "o"}
    assert {plots.style(m)["color"] for m in ("a", "b", "c", "d", "e", "f")} != {plots.style("a")["color"]}


def test_min_span_and_annotations():
    df = pd.DataFrame({"method": ["a", "b"], "size_bytes": [10, 100], "accuracy": [0.850, 0.8525], "bits": [8, 4]})
    ax = plots.tradeoff_plot(df, annotate="bits", min_span=0.02)
    lo, hi = ax.get_ylim()
    assert hi - lo >= 0.02 - 1e-9
    assert sorted(t.get_text() for t in ax.texts) == ["4", "8"]
    plt.close("all")
