import gzip
import pickle
import shutil

import numpy as np
import pytest
import torch

from companion import data
from companion.data import DatasetError


def write_fake_idx_dir(directory, n_train=40, n_test=20, size=28, seed=0):
    """Four IDX .gz files in the real on-disk format, with labels 0..9 cycling."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        data.write_idx_gz(rng.integers(0, 256, (n, size, size), dtype=np.uint8), directory / data.IDX_FILES[f"{split}_images"])
        data.write_idx_gz(np.arange(n, dtype=np.uint8) % 10, directory / data.IDX_FILES[f"{split}_labels"])
    return directory


def test_idx_round_trip_and_header(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = data.idx_bytes(a)
    assert raw[:4] == bytes([0, 0, 8, 3]) and raw[4:8] == (2).to_bytes(4, "big")
    data.write_idx_gz(a, tmp_path / "a.gz")
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.gz"), a)
    (tmp_path / "plain").write_bytes(raw)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "plain"), a)


def test_idx_rejects_bad_magic_and_truncation(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(DatasetError, match="magic"):
        data.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(data.idx_bytes(np.zeros((4, 4), np.uint8))[:-3])
    with pytest.raises(DatasetError, match="truncated"):
        data.read_idx(tmp_path / "short")


def test_fashion_mnist_from_a_data_directory(tmp_path):
    write_fake_idx_dir(tmp_path / "fm")
    s = data.load_dataset("fashion-mnist", root=tmp_path / "fm")
    assert s.train.tensors[0].shape == (40, 1, 28, 28) and s.test.tensors[0].shape == (20, 1, 28, 28)
    assert s.train.tensors[0].dtype == torch.float32 and s.train.tensors[1].dtype == torch.int64
    assert s.classes[0] == "T-shirt/top" and s.num_classes == 10 and s.input_shape == (1, 28, 28)
    # normalisation: pixel 0 maps to -mean/std
    raw = data.read_idx(tmp_path / "fm" / data.IDX_FILES["train_images"])
    mean, std = data.STATS["fashion-mnist"]
    expected = (raw[0, 0, 0] / 255.0 - mean[0]) / std[0]
    assert s.train.tensors[0][0, 0, 0, 0].item() == pytest.approx(expected, abs=1e-6)


def test_mnist_in_torchvision_layout(tmp_path):
    write_fake_idx_dir(tmp_path / "MNIST" / "raw")
    s = data.load_dataset("mnist", root=tmp_path)
    assert len(s.train) == 40 and s.classes == tuple("0123456789")


def test_cifar10_pickle_batches(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = np.zeros((3, 3, 32, 32), np.uint8)
        images[:, 0] = 255  # red channel full, others zero: checks the channel order
        with open(d / name, "wb") as f:
            pickle.dump({"data": images.reshape(3, -1), "labels": [1, 2, 3]}, f)
    s = data.load_dataset("cifar10", root=tmp_path)
    assert s.train.tensors[0].shape == (15, 3, 32, 32) and s.test.tensors[0].shape == (3, 3, 32, 32)
    mean, std = data.STATS["cifar10"]
    x = s.test.tensors[0][0, :, 5, 5]
    assert x[0].item() == pytest.approx((1 - mean[0]) / std[0], abs=1e-5)
    assert x[1].item() == pytest.approx(-mean[1] / std[1], abs=1e-5)
    assert s.test.tensors[1].tolist() == [1, 2, 3]


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(DatasetError, match="valid names: fashion-mnist-mini, fashion-mnist, mnist, cifar10"):
        data.load_dataset("imagenet")


def test_missing_files_say_where_and_how_and_never_download(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "nowhere")
    monkeypatch.setattr(data, "_torchvision_dir", lambda *a, **k: pytest.fail("must not download"))
    with pytest.raises(DatasetError, match=r"looked in: .*empty.*nowhere.*dataset-fashion-mnist.*download=True"):
        data.load_dataset("fashion-mnist", root=tmp_path / "empty")
    with pytest.raises(DatasetError, match="cifar-10-batches-py"):
        data.load_dataset("cifar10", root=tmp_path)
    with pytest.raises(DatasetError, match="download=True"):
        data.load_dataset("mnist")


def test_shipped_mini_is_balanced_and_verified():
    s = data.load_dataset()
    assert s.name == "fashion-mnist-mini"
    assert torch.bincount(s.train.tensors[1]).tolist() == [800] * 10
    assert torch.bincount(s.test.tensors[1]).tolist() == [200] * 10
    assert s.input_shape == (1, 28, 28)


def test_checksum_mismatch_names_the_file(tmp_path):
    copy = tmp_path / "mini"
    shutil.copytree(data.MINI_DIR, copy)
    target = copy / data.IDX_FILES["test_labels"]
    raw = bytearray(gzip.decompress(target.read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10
    target.write_bytes(gzip.compress(bytes(raw), mtime=0))
    with pytest.raises(DatasetError, match="checksum mismatch for .*t10k-labels-idx1-ubyte.gz"):
        data.load_mini(copy)
    (copy / "SHA256SUMS").unlink()
    with pytest.raises(DatasetError, match="SHA256SUMS is missing"):
        data.load_mini(copy)


def test_build_mini_is_deterministic_and_balanced(tmp_path):
    src = write_fake_idx_dir(tmp_path / "src", n_train=100, n_test=50)
    a = data.build_mini(src, tmp_path / "a", train_per_class=4, test_per_class=2, seed=3)
    b = data.build_mini(src, tmp_path / "b", train_per_class=4, test_per_class=2, seed=3)
    assert a == b
    for name in data.IDX_FILES.values():
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    s = data.load_mini(tmp_path / "a")
    assert torch.bincount(s.train.tensors[1]).tolist() == [4] * 10
    assert torch.bincount(s.test.tensors[1]).tolist() == [2] * 10
    with pytest.raises(DatasetError, match="only"):
        data.build_mini(src, tmp_path / "c", train_per_class=11)


@pytest.mark.skipif(not (data.DEBIAN_FASHION_DIR / data.IDX_FILES["train_images"]).exists(),
                    reason="needs the Debian package dataset-fashion-mnist")
def test_rebuilding_mini_reproduces_the_shipped_bytes(tmp_path):
    digests = data.build_mini(data.DEBIAN_FASHION_DIR, tmp_path)
    shipped = dict(line.split()[::-1] for line in (data.MINI_DIR / "SHA256SUMS").read_text().splitlines())
    assert digests == shipped


def test_loader_order_depends_only_on_seed():
    ds = torch.utils.data.TensorDataset(torch.arange(20.0), torch.arange(20))
    first = lambda seed: next(iter(data.loader(ds, 5, shuffle=True, seed=seed)))[1].tolist()  # noqa: E731
    assert first(1) == first(1) and first(1) != first(2)
