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
