"""The one atomic-write helper: the old file survives any crash, no temporary is left behind."""
import json

import numpy as np
import pytest
import torch

from companion import io


def test_writers_write_what_they_are_given(tmp_path):
    assert io.write_bytes_atomic(b"abc", tmp_path / "a" / "x.bin").read_bytes() == b"abc"
    assert io.write_text_atomic("é", tmp_path / "t.txt").read_text(encoding="utf-8") == "é"
    assert json.loads(io.write_json_atomic({"k": [1]}, tmp_path / "j.json").read_text()) == {"k": [1]}
    io.numpy_save_atomic(np.arange(3, dtype=np.uint64), tmp_path / "w.npy")
    assert np.load(tmp_path / "w.npy").dtype == np.uint64
    io.save_state_dict(torch.nn.Linear(2, 1), tmp_path / "m.pt")
    assert set(torch.load(tmp_path / "m.pt", weights_only=True)) == {"weight", "bias"}


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_crash_mid_write_keeps_the_old_file_and_no_temporary(tmp_path, error):
    path = io.write_bytes_atomic(b"old", tmp_path / "f.bin")
    with pytest.raises(error):
        with io.atomic_write(path) as f:
            f.write(b"half of the new")
            raise error()
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_bad_mode():
    with pytest.raises(ValueError, match="mode must be 'wb' or 'w'"):
        with io.atomic_write("x", "a"):
            pass
