import json

import pytest

from companion import results


def row(**over):
    base = dict(section="s", method="m", dataset="d", seed=0, accuracy=0.5, params=10, nonzero_params=5, bits=32,
                size_bytes=100, macs=1000, latency_ms=0.1, base_model="lenet300", size_kind="file",
                latency_batch=1, threads=2, device="cpu", busy_other=0.0)
    base.update(over)
    return results.make_row(**base)


def test_make_row_has_schema_settings_and_environment():
    r = row(config={"T": 4, "inner": {"alpha": 0.5}}, shape=(1, 2))
    assert all(c in r for c in results.SCHEMA)
    assert r["config.T"] == 4 and r["config.inner.alpha"] == 0.5 and r["shape"] == [1, 2]
    assert "env.torch" in r and "env.cpu" in r and r["threads"] == 2


@pytest.mark.parametrize("over,match", [
    ({"accuracy": 87.5}, r"accuracy must be a fraction in \[0, 1\], got 87.5"),
    ({"size_bytes": -1}, "size_bytes must be a number >= 0"),
    ({"latency_ms": float("nan")}, "latency_ms must be a number >= 0"),
    ({"section2": 1, "macs": None, "params": None}, None),
    ({"size_kind": "disk"}, "size_kind must be one of 'file', 'analytic', got 'disk'"),
    ({"size_kind": None}, "size_kind must be one of"),
    ({"latency_kind": "estimated"}, "latency_kind must be one of 'measured', 'none'"),
    ({"latency_kind": "none"}, "latency_kind 'none' with a latency_ms"),
    ({"threads": None}, "give threads"),
    ({"latency_batch": None, "device": None}, "give latency_batch, device"),
    ({"speedup": 2.0}, "speedup_kind must be one of .*got None"),
    ({"speedup_kind": "measured"}, "disagree"),
    ({"speedup_kind": "guessed", "speedup": 1.0}, "speedup_kind must be one of"),
    ({"base_model": ""}, "base_model must name the dense parent"),
    ({"params": "10"}, "params must be a number"),
])
def test_make_row_validation(over, match):
    if match is None:
        assert row(**over)["macs"] is None
    else:
        with pytest.raises(ValueError, match=match):
            row(**over)


def test_settings_cannot_shadow_columns_after_flattening():
    # A nested setting flattens to "env.torch", which would overwrite the environment column.
    with pytest.raises(ValueError, match=r"settings repeat columns of the row: \['env.torch'\]"):
        row(env={"torch": "1.0"})
    with pytest.raises(ValueError, match=r"\['quiet'\]"):
        row(quiet=True)


def test_kinds_are_derived_when_unambiguous():
    r = row(latency_ms=None, threads=None, latency_batch=None, device=None, size_bytes=None, size_kind=None)
    assert r["latency_kind"] == "none" and r["size_kind"] is None and r["speedup_kind"] == "none"
    r = row(speedup=3.0, speedup_kind="analytic", busy_other=1.5)
    assert r["latency_kind"] == "measured" and r["engine"] == "pytorch" and r["quiet"] is False


def test_record_and_collect(tmp_path):
    results.record([row(method="a"), row(method="b")], tmp_path / "x" / "one.json")
    results.record(row(method="c"), tmp_path / "x" / "sub" / "two.json")
    (tmp_path / "x" / "other.json").write_text(json.dumps({"not": "rows"}))
    df = results.collect(tmp_path / "x")
    assert sorted(df["method"]) == ["a", "b", "c"]
    assert list(df.columns[: len(results.SCHEMA)]) == list(results.SCHEMA)
    assert len(results.collect(tmp_path / "x" / "one.json")) == 2
    with pytest.raises(FileNotFoundError):
        results.collect(tmp_path / "nope")


def test_record_rejects_rows_without_schema(tmp_path):
    with pytest.raises(ValueError, match="lacks schema columns"):
        results.record([{"method": "x"}], tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()


def test_a_crash_during_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    results.record([row(method="old")], path)
    before = path.read_text()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(results.json, "dump", boom)
    with pytest.raises(KeyboardInterrupt):
        results.record([row(method="new")], path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_collect_names_a_corrupt_file(tmp_path):
    (tmp_path / "bad.json").write_text("[{not json")
    with pytest.raises(ValueError, match="bad.json is not a valid results file"):
        results.collect(tmp_path)


def test_tables_display_whole():
    import pandas as pd
    long = "x" * 120
    t = results.show(pd.DataFrame({"name": [long], "per_channel": [0.5]}), {"per_channel": "{:.1%}"})
    assert long in repr(t) and "50.0%" in repr(t) and "..." not in repr(t)
    assert long in t._repr_html_() and "<table" in t._repr_html_()
    p = results.paper_table([{"claim": "c", "paper": "40×", "source": "Han 2016", "measured": "41.8×"}])
    assert "Han 2016" in repr(p) and "note" not in repr(p)
    with pytest.raises(ValueError, match="lacks \\['measured'\\]"):
        results.paper_table([{"claim": "c", "paper": "1", "source": "s"}])


def test_formatted_renders_strings_and_missing():
    import pandas as pd
    df = pd.DataFrame({"accuracy": [0.5, None], "n": [1000, 2]})
    out = results.formatted(df, {"accuracy": "{:.1%}", "n": "{:,}"})
    assert out["accuracy"].tolist() == ["50.0%", "–"] and out["n"].tolist() == ["1,000", "2"]
    assert df["n"].tolist() == [1000, 2]
