"""Datasets: the shipped ``fashion-mnist-mini`` and the full Fashion-MNIST, MNIST and CIFAR-10.

Every loader returns a :class:`Splits` of in-memory tensors (images normalised to zero mean and
unit variance per channel, labels as int64). Nothing is ever downloaded unless ``download=True``.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

DATASETS = ("fashion-mnist-mini", "fashion-mnist", "mnist", "cifar10")
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
MINI_DIR = DATA_DIR / "fashion-mnist-mini"
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MNIST_CLASSES = tuple(str(i) for i in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
# Per-channel mean and std of the full training sets (pixel values in [0, 1]).
STATS = {
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


class DatasetError(RuntimeError):
    """A dataset is unknown, missing or corrupt; the message says what to do."""


@dataclass(frozen=True)
class Splits:
    """Train and test splits of one dataset, as tensors ready for a ``DataLoader``."""

    name: str
    train: TensorDataset
    test: TensorDataset
    classes: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(channels, height, width) of one image."""
        return tuple(self.train.tensors[0].shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of the training tensors: changes whenever the training data changes."""
        digest = hashlib.sha256()
        for t in self.train.tensors:
            digest.update(str((t.dtype, tuple(t.shape))).encode())
            digest.update(t.contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]


# ---------------------------------------------------------------- file formats
def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format, optionally gzip-compressed) into a uint8 array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DatasetError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DatasetError(f"{path} is truncated: expected {int(np.prod(shape))} values, got {body.size}")
    return body.reshape(shape)


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise a uint8 array in IDX format (the inverse of :func:`read_idx`, uncompressed)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx_gz(array: np.ndarray, path: str | Path) -> None:
    """Write ``array`` as a gzip-compressed IDX file, byte-for-byte reproducibly (mtime 0)."""
    Path(path).write_bytes(gzip.compress(idx_bytes(array), compresslevel=9, mtime=0))


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verify_checksums(directory: Path) -> None:
    """Check every file listed in ``directory/SHA256SUMS``; raise naming the first bad one."""
    sums = directory / "SHA256SUMS"
    if not sums.exists():
        raise DatasetError(f"{sums} is missing; rebuild the data with `make data`")
    for line in sums.read_text().splitlines():
        digest, name = line.split()
        path = directory / name
        if not path.exists():
            raise DatasetError(f"{path} is missing; restore it with `git checkout -- data/` or `make data`")
        if sha256(path) != digest:
            raise DatasetError(f"checksum mismatch for {path}: the file is corrupt or was changed; "
                               "restore it with `git checkout -- data/` or rebuild it with `make data`")


# ---------------------------------------------------------------- tensors
def to_tensors(images: np.ndarray, labels: np.ndarray, mean, std) -> TensorDataset:
    """uint8 images (N, H, W) or (N, H, W, C) → normalised float32 (N, C, H, W); labels → int64."""
    x = torch.from_numpy(np.array(images, dtype=np.float32) / 255.0)
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
    mean_t = torch.tensor(mean).view(1, -1, 1, 1)
    std_t = torch.tensor(std).view(1, -1, 1, 1)
    return TensorDataset((x - mean_t) / std_t, torch.from_numpy(np.array(labels, dtype=np.int64)))


def _idx_splits(name, directory, classes, stats) -> Splits:
    arrays = {k: read_idx(directory / f) for k, f in IDX_FILES.items()}
    return Splits(name,
                  to_tensors(arrays["train_images"], arrays["train_labels"], *stats),
                  to_tensors(arrays["test_images"], arrays["test_labels"], *stats),
                  classes)


def find_idx_dir(candidates) -> Path | None:
    """First directory among ``candidates`` that holds the four IDX files."""
    for d in candidates:
        if d is not None and all((Path(d) / f).exists() for f in IDX_FILES.values()):
            return Path(d)
    return None


def _missing(name: str, looked: list, hint: str) -> DatasetError:
    where = ", ".join(str(p) for p in looked if p is not None) or "(no directory given)"
    return DatasetError(f"dataset {name!r} not found; looked in: {where}. {hint}")


def _torchvision_dir(root, name, download):
    """Let torchvision fetch ``name`` into ``root`` (only ever called with download=True)."""
    import torchvision
    cls = {"fashion-mnist": torchvision.datasets.FashionMNIST,
           "mnist": torchvision.datasets.MNIST,
           "cifar10": torchvision.datasets.CIFAR10}[name]
    for train in (True, False):
        cls(root=str(root), train=train, download=download)


def _load_idx(name: str, root, download: bool, raw: str, extra_dirs: list, classes, hint: str) -> Splits:
    """An IDX-format dataset from ``root``, ``root/<raw>/raw``, ``extra_dirs``, or (``download``) torchvision."""
    root = Path(root) if root else None
    candidates = [root, root / raw / "raw" if root else None, *extra_dirs]
    found = find_idx_dir(candidates)
    if found is None and download:
        target = root or DATA_DIR / "downloads"
        _torchvision_dir(target, name, True)
        found = find_idx_dir([target / raw / "raw"])
    if found is None:
        raise _missing(name, candidates, hint)
    return _idx_splits(name, found, classes, STATS[name])


def load_fashion_mnist(root=None, download=False) -> Splits:
    return _load_idx("fashion-mnist", root, download, "FashionMNIST", [DEBIAN_FASHION_DIR], FASHION_CLASSES,
                     "Install the Debian package `dataset-fashion-mnist`, pass root= a directory "
                     f"with {', '.join(IDX_FILES.values())}, or pass download=True.")


def load_mnist(root=None, download=False) -> Splits:
    return _load_idx("mnist", root, download, "MNIST", [], MNIST_CLASSES,
                     f"Pass root= a directory with {', '.join(IDX_FILES.values())} "
                     "(torchvision's MNIST/raw layout works), or pass download=True.")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python pickle batch → (N, 32, 32, 3) uint8 images and labels."""
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(batch["labels"], dtype=np.int64)


def load_cifar10(root=None, download=False) -> Splits:
    root = Path(root) if root else None
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    candidates = [root / "cifar-10-batches-py" if root else None, root]
    found = next((Path(d) for d in candidates if d and all((Path(d) / n).exists() for n in names)), None)
    if found is None and download:
        target = root or DATA_DIR / "downloads"
        _torchvision_dir(target, "cifar10", True)
        found = target / "cifar-10-batches-py"
    if found is None:
        raise _missing("cifar10", candidates,
                       "Pass root= a directory holding cifar-10-batches-py/ (the python version "
                       "of CIFAR-10), or pass download=True.")
    train = [read_cifar_batch(found / n) for n in names[:5]]
    test = read_cifar_batch(found / "test_batch")
    stats = STATS["cifar10"]
    return Splits("cifar10",
                  to_tensors(np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train]), *stats),
                  to_tensors(*test, *stats), CIFAR10_CLASSES)


def load_mini(directory: Path = MINI_DIR) -> Splits:
    """The shipped class-balanced Fashion-MNIST subset, checksums verified on every load."""
    directory = Path(directory)
    if not directory.exists():
        raise DatasetError(f"{directory} is missing; it ships with the repository "
                           "(`git checkout -- data/`) or can be rebuilt with `make data`")
    verify_checksums(directory)
    return _idx_splits("fashion-mnist-mini", directory, FASHION_CLASSES, STATS["fashion-mnist"])


def load_dataset(name: str = "fashion-mnist-mini", root=None, download: bool = False) -> Splits:
    """Load a dataset by name: one of :data:`DATASETS`. ``root`` is a data directory to look in."""
    if name == "fashion-mnist-mini":
        return load_mini(Path(root) if root else MINI_DIR)
    loaders = {"fashion-mnist": load_fashion_mnist, "mnist": load_mnist, "cifar10": load_cifar10}
    if name not in loaders:
        raise DatasetError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return loaders[name](root=root, download=download)


def subset(data: TensorDataset, n: int) -> TensorDataset:
    """The first ``n`` examples (all of them if ``n`` is larger): for smoke runs."""
    return TensorDataset(*(t[:n] for t in data.tensors))


def loader(data: TensorDataset, batch_size: int = 128, shuffle: bool = False, seed: int = 0) -> DataLoader:
    """A ``DataLoader`` whose shuffling order depends only on ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=gen)


# ---------------------------------------------------------------- building the mini set
def balanced_indices(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` indices of each class, chosen by a seeded permutation, in ascending order."""
    order = np.random.default_rng(seed).permutation(len(labels))
    chosen = []
    for c in np.unique(labels):
        of_class = order[labels[order] == c]
        if len(of_class) < per_class:
            raise DatasetError(f"class {c} has only {len(of_class)} examples, {per_class} requested")
        chosen.append(of_class[:per_class])
    return np.sort(np.concatenate(chosen))


def build_mini(source_dir=DEBIAN_FASHION_DIR, out_dir=MINI_DIR, train_per_class: int = 800,
               test_per_class: int = 200, seed: int = 0) -> dict[str, str]:
    """Rebuild ``fashion-mnist-mini`` from the full Fashion-MNIST IDX files, byte for byte.

    Returns the SHA-256 of each written file (also written to ``out_dir/SHA256SUMS``).
    """
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    if find_idx_dir([source_dir]) is None:
        raise _missing("fashion-mnist", [source_dir], "Install `dataset-fashion-mnist` or name the directory.")
    out_dir.mkdir(parents=True, exist_ok=True)
    digests = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        images = read_idx(source_dir / IDX_FILES[f"{split}_images"])
        labels = read_idx(source_dir / IDX_FILES[f"{split}_labels"])
        keep = balanced_indices(labels, per_class, seed)
        for kind, array in (("images", images[keep]), ("labels", labels[keep])):
            name = IDX_FILES[f"{split}_{kind}"]
            write_idx_gz(array, out_dir / name)
            digests[name] = sha256(out_dir / name)
    (out_dir / "SHA256SUMS").write_text("".join(f"{d}  {n}\n" for n, d in sorted(digests.items())))
    return digests
