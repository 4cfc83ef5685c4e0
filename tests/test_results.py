import json

import pytest

from companion import results


def row(**over):
    base = dict(section="s", method="m", dataset="d", seed=0, accuracy=0.5, params=10, nonzero_params=5, bits=32,
                size_bytes=100, macs=1000, latency_ms=0.1)
    base.update(over)
    return results.make_row(**base)


def test_make_row_has_schema_settings_and_environment():
    r = row(config={"T": 4, "inner": {"alpha": 0.5}}, shape=(1, 2))
    assert all(c in r for c in results.SCHEMA)
    assert r["config.T"] == 4 and r["config.inner.alpha"] == 0.5 and r["shape"] == [1, 2]
    assert "env.torch" in r and "env.threads" in r


@pytest.mark.parametrize("over,match", [
    ({"accuracy": 87.5}, r"accuracy must be a fraction in \[0, 1\], got 87.5"),
    ({"size_bytes": -1}, "size_bytes must be >= 0"),
    ({"latency_ms": float("nan")}, "latency_ms must be >= 0"),
    ({"section2": 1, "macs": None, "params": None}, None),
])
def test_make_row_validation(over, match):
    if match is None:
        assert row(**over)["macs"] is None
    else:
        with pytest.raises(ValueError, match=match):
            row(**over)


def test_settings_cannot_shadow_schema():
    with pytest.raises(TypeError):
        results.make_row(section="s", method="m", dataset="d", seed=0, accuracy=None, params=None, nonzero_params=None,
                         bits=None, size_bytes=None, macs=None, latency_ms=None, **{"method": "x"})


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
