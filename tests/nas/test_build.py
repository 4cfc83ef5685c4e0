import pytest

from companion.nas import Protocol, SearchSpace, load_table, save_table
from companion.nas.build import assemble, build_table, chunk_indices, datasheet, read_rows
from companion.sweep import notebook_parameters
from companion.nas.build import CHUNK_NOTEBOOK


def test_chunks_partition_the_space():
    chunks = [chunk_indices(512, c, 32) for c in range(32)]
    assert sorted(i for c in chunks for i in c) == list(range(512)) and all(len(c) == 16 for c in chunks)
    assert chunk_indices(512, 1, 4, indices=[0, 10, 20, 30, 40]) == [10]
    with pytest.raises(ValueError, match="chunk must be in"):
        chunk_indices(512, 4, 4)


def fake_rows(space, indices):
    return [{"index": i, "val_accuracy": 0.5 + i / 2000, "test_accuracy": 0.5, "params": 100, "macs": 1000,
             "latency_ms": 0.1, "busy_other": 0.0, "train_seconds": 1.0} for i in indices]


def test_assemble_needs_every_architecture_once(tmp_path):
    space = SearchSpace(ops=("conv3x3", "dwsep3x3"), widths=(0.5, 1.0), channels=(8,), strides=(2,))
    rows = fake_rows(space, range(space.size))
    table = assemble(rows, space, Protocol(), {"cpu": "test", "wall_s": 60.0})
    assert table.best()[0] == space.decode(3) and table.columns["name"][1] == "conv3x3@1"
    save_table(table, tmp_path)
    assert load_table(tmp_path).space == space
    text = datasheet(table)
    assert "4 architectures" in text and "proxy" in text and "Protocol" in text
    with pytest.raises(ValueError, match="1 architectures have no row"):
        assemble(rows[:-1], space, Protocol(), {})
    with pytest.raises(ValueError, match="appears twice"):
        assemble(rows + rows[:1], space, Protocol(), {})


def test_read_rows_takes_only_finished_chunks(tmp_path):
    import json
    for name, done in (("a", True), ("b", False)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps([{"index": len(name)}]))
        if done:
            (tmp_path / name / "done.json").write_text("{}")
    assert read_rows(tmp_path) == [{"index": 1}]


def test_the_chunk_notebook_declares_what_the_builder_passes():
    names = set(notebook_parameters(CHUNK_NOTEBOOK))
    assert {"CHUNK", "CHUNKS", "SPACE", "PROTOCOL", "INDICES", "RESULTS_PATH"} <= names


@pytest.mark.notebook
def test_a_tiny_build_through_the_sweep_engine_resumes(tmp_path):
    space = SearchSpace(ops=("conv3x3", "dwsep3x3"), widths=(0.5,), channels=(8,), strides=(2,))
    protocol = Protocol(train_per_class=16)
    path = build_table(tmp_path / "table", workers=2, chunks=2, work_dir=tmp_path / "work", space=space,
                       protocol=protocol, echo=lambda *a: None)
    table = load_table(path.parent)
    assert table.size == 2 and table.build["chunks"] == 2 and (path.parent / "LICENSE").is_file()
    done = sorted((tmp_path / "work").glob("*/done.json"))
    assert len(done) == 2
    stamp = [d.stat().st_mtime for d in done]
    build_table(tmp_path / "table", workers=2, chunks=2, work_dir=tmp_path / "work", space=space, protocol=protocol,
                echo=lambda *a: None)    # resumes: nothing is run again
    assert [d.stat().st_mtime for d in done] == stamp


def test_the_cli_checks_its_options(capsys):
    from companion.__main__ import main

    assert main(["nas", "build-table", "--workers", "0"]) == 2
    assert "--workers must be >= 1, got 0" in capsys.readouterr().err
    assert main(["nas", "build-table", "--chunks", "-1"]) == 2
