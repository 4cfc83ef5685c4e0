import json

import numpy as np
import pytest

from companion.nas import Table, TableError, load_table, verify
from companion.nas.table import TABLE_DIR


def test_saved_table_loads_back_with_its_checksum(table_dir, table):
    loaded = load_table(table_dir)
    assert loaded.space == table.space and loaded.size == 512
    np.testing.assert_allclose(loaded.columns["val_accuracy"], table.columns["val_accuracy"])
    arch = table.space.decode(123)
    assert loaded.query(arch) == loaded.value(123) == pytest.approx(table.columns["val_accuracy"][123])
    assert loaded.best() == table.best()
    df = loaded.frame()
    assert len(df) == 512 and {"op1", "width3", "test_accuracy"} <= set(df.columns)


def test_a_corrupt_table_is_refused(table_dir):
    path = table_dir / "table.json"
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"val_accuracy": [0.', b'"val_accuracy": [1.', 1))
    with pytest.raises(TableError, match="checksum mismatch .* corrupt or was edited; restore it"):
        load_table(table_dir)


def test_missing_files_say_how_to_get_them(table_dir, tmp_path):
    with pytest.raises(TableError, match="is missing; restore it with `git checkout"):
        load_table(tmp_path / "nowhere")
    (table_dir / "SHA256SUMS").unlink()
    with pytest.raises(TableError, match="SHA256SUMS is missing"):
        verify(table_dir)
    (table_dir / "table.json").unlink()
    with pytest.raises(TableError, match="table.json is missing"):
        load_table(table_dir)


def test_a_malformed_table_with_a_matching_checksum_is_refused(table_dir):
    import hashlib

    path = table_dir / "table.json"
    data = json.loads(path.read_text())
    del data["columns"]["val_accuracy"][3]
    path.write_text(json.dumps(data))
    (table_dir / "SHA256SUMS").write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  table.json\n")
    with pytest.raises(TableError, match="one value per architecture"):
        load_table(table_dir)


def test_bad_queries(table):
    with pytest.raises(ValueError, match="not in the space"):
        table.query((4, 0, 0, 0, 0, 0))
    with pytest.raises(KeyError, match="unknown metric 'energy'"):
        table.value(0, "energy")
    with pytest.raises(TableError, match="lacks columns"):
        Table(table.space, {"index": np.arange(512)})


@pytest.mark.skipif(not (TABLE_DIR / "table.json").exists(), reason="the shipped table is not built yet")
def test_the_shipped_table_is_whole_and_sane():
    t = load_table()
    val, test = t.columns["val_accuracy"], t.columns["test_accuracy"]
    assert t.size == 512 and ((0.1 < val) & (val < 1)).all() and ((0.1 < test) & (test < 1)).all()
    assert np.corrcoef(val, test)[0, 1] > 0.7        # validation ranks what the test set sees
    assert (t.columns["macs"] <= 8_000_000).all() and t.build["torch"].startswith("2.")
    assert (TABLE_DIR / "DATASHEET.md").is_file() and (TABLE_DIR / "LICENSE").is_file()
    assert (TABLE_DIR / "table.json").stat().st_size < 200_000
