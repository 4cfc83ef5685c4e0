"""Atomic file writes: the one place every writer of the companion goes through.

A write goes to a temporary file in the destination's folder, is flushed to disk, then renamed over
the destination with ``os.replace`` (atomic on POSIX and Windows). On any error, Ctrl-C included,
the temporary file is removed and the old file, if any, is left whole: a crash never leaves half a
file behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", **open_kwargs):
    """Open a temporary file next to ``path`` for writing; rename it onto ``path`` on success.

    ``mode`` is ``"wb"`` or ``"w"`` (text; ``open_kwargs`` such as ``newline=""`` are passed on).
    Parent folders are created. Yields the open file object.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(data: bytes, path) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text_atomic(text: str, path) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)


def write_json_atomic(obj, path, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (non-JSON values written with ``str``)."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, default=str)
    return Path(path)


def torch_save_atomic(obj, path) -> Path:
    """``torch.save(obj)`` to ``path`` atomically and return the path."""
    import torch

    with atomic_write(path, "wb") as f:
        torch.save(obj, f)
    return Path(path)


def save_state_dict(model, path) -> Path:
    """Save ``model.state_dict()`` to ``path`` atomically and return the path."""
    return torch_save_atomic(model.state_dict(), path)


def numpy_save_atomic(array, path) -> Path:
    """``numpy.save(array)`` to ``path`` (which should end in ``.npy``) atomically."""
    import numpy as np

    with atomic_write(path, "wb") as f:
        np.save(f, array, allow_pickle=False)
    return Path(path)
