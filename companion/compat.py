"""Quiet imports and warning filters for third-party code whose harmless noise would clutter outputs."""
from __future__ import annotations

import contextlib
import importlib
import logging
import warnings


def import_quietly(module: str):
    """Import ``module`` without the harmless 'No CUDA runtime is found' message that importing
    ``torch.utils.cpp_extension`` logs on CPU-only machines (torch.utils.benchmark, torch-pruning)."""
    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        return importlib.import_module(module)
    finally:
        log.setLevel(level)


@contextlib.contextmanager
def ignore_warnings(known: tuple[tuple[type, str], ...]):
    """Silence the warnings listed as ``(category, message prefix)`` inside the block, and only them.

    The filters are restored on exit, so the caller's warning settings are never changed.
    """
    with warnings.catch_warnings():
        for category, message in known:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield
