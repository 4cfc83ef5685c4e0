"""Checking a notebook's parameters cell before anything runs, with messages a new user can act on.

papermill's ``-p NAME VALUE`` passes a list as a *string* (``-p MODELS '["lenet5"]'`` gives the text
``'["lenet5"]'``); without a check it fails deep inside a library call. Each notebook calls
:func:`check` right after its parameters cell with the specs of its own knobs; the common block
(:data:`COMMON`) is always checked.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["ParameterError", "Spec", "Session", "COMMON", "check", "setup", "flag", "integer", "number", "text", "one_of", "list_of", "dict_of",
           "optional"]


class ParameterError(ValueError):
    """A notebook parameter has the wrong type or value; the message says what is allowed."""


@dataclass(frozen=True)
class Spec:
    """What a parameter may hold: ``test(value)`` is an error message or ``None``; ``what`` describes it."""

    what: str
    test: Callable[[Any], str | None]
    kind: str = ""  # "list" or "dict": a string given for it gets a hint on how to pass one


def _list_hint(name: str, value: str) -> str:
    try:
        items = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        items = None
    shown = ", ".join(map(str, items)) if isinstance(items, (list, tuple)) else "..."
    return f" (pass lists with -y '{name}: [{shown}]')"


def flag() -> Spec:
    return Spec("True or False", lambda v: None if isinstance(v, bool) else "")


def integer(lo: int | None = None, hi: int | None = None) -> Spec:
    def test(v):
        if isinstance(v, bool) or not isinstance(v, int):
            return ""
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return f"out of range [{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        return None
    what = "an integer" + (f" >= {lo}" if lo is not None and hi is None else "")
    return Spec(what if hi is None else f"an integer in [{lo}, {hi}]", test)


def number(lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False) -> Spec:
    def test(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return ""
        if lo is not None and (v < lo or (lo_open and v == lo)):
            return "out of range"
        if hi is not None and (v > hi or (hi_open and v == hi)):
            return "out of range"
        return None
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    bounds = f" in {left}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}{right}"
    return Spec("a number" + (bounds if lo is not None or hi is not None else ""), test)


def text() -> Spec:
    return Spec("a string", lambda v: None if isinstance(v, str) and v else "")


def one_of(*choices) -> Spec:
    return Spec(f"one of {', '.join(map(repr, choices))}", lambda v: None if v in choices else "")


def optional(spec: Spec) -> Spec:
    return Spec(f"None or {spec.what}", lambda v: None if v is None else spec.test(v), spec.kind)


def list_of(item: Spec, what: str | None = None, min_len: int = 1) -> Spec:
    """A list (or tuple) of at least ``min_len`` items, each passing ``item``."""
    def test(v):
        if not isinstance(v, (list, tuple)):
            return ""
        if len(v) < min_len:
            return f"needs at least {min_len} item(s)"
        bad = [x for x in v if item.test(x) is not None]
        return f"has invalid item(s) {bad!r}; each must be {item.what}" if bad else None
    return Spec(f"a list of {what or item.what}", test, "list")


def dict_of(key: Spec, value: Spec, what: str | None = None, min_len: int = 1) -> Spec:
    """A dict of at least ``min_len`` entries, each key passing ``key`` and each value passing ``value``."""
    def test(v):
        if not isinstance(v, dict):
            return ""
        if len(v) < min_len:
            return f"needs at least {min_len} entr{'y' if min_len == 1 else 'ies'}"
        bad = {k: x for k, x in v.items() if key.test(k) is not None or value.test(x) is not None}
        return f"has invalid entries {bad!r}; keys must be {key.what}, values {value.what}" if bad else None
    return Spec(f"a dict of {what or f'{key.what} → {value.what}'}", test, "dict")


def _device_test(v):
    if not isinstance(v, str):
        return ""
    if v in ("auto", "cpu", "cuda") or (v.startswith("cuda:") and v[5:].isdigit()):
        return None
    return ""


def _common() -> dict[str, Spec]:
    from .data import DATASETS
    return {
        "SMOKE": flag(),
        "SEED": integer(0),
        "DEVICE": Spec("'auto', 'cpu', 'cuda' or 'cuda:N'", _device_test),
        "THREADS": optional(integer(1)),
        "DATASET": one_of(*DATASETS),
        "DATA_ROOT": optional(text()),
        "DOWNLOAD": flag(),
        "RESULTS_PATH": text(),
    }


COMMON = ("SMOKE", "SEED", "DEVICE", "THREADS", "DATASET", "DATA_ROOT", "DOWNLOAD", "RESULTS_PATH")


def _describe(value) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{type(value).__name__} {value!r}"


def check(namespace: dict, **specs: Spec) -> None:
    """Check the common block and every parameter named in ``specs`` in ``namespace`` (a notebook's ``globals()``).

    Raises :class:`ParameterError` naming the first bad parameter, what it got and what is allowed.
    """
    all_specs = {**_common(), **specs}
    missing = [n for n in all_specs if n not in namespace]
    if missing:
        raise ParameterError(f"the parameters cell lacks {', '.join(missing)}")
    for name, spec in all_specs.items():
        value = namespace[name]
        problem = spec.test(value)
        if problem is None:
            continue
        message = f"{name} must be {spec.what}, got {_describe(value)}"
        if problem:
            message += f": {problem}"
        if isinstance(value, str) and spec.kind == "list":
            message += _list_hint(name, value)
        elif isinstance(value, str) and spec.kind == "dict":
            message += f" (pass dicts with -y '{name}: {{key: value}}')"
        raise ParameterError(message)
    if namespace["THREADS"] is not None:
        from .measure import usable_cores
        if namespace["THREADS"] > usable_cores():
            raise ParameterError(f"THREADS must be at most the {usable_cores()} cores of this machine, "
                                 f"got {namespace['THREADS']} (None: all cores)")


@dataclass(frozen=True)
class Session:
    """What :func:`setup` decided: the device models run on and the thread count of every measurement."""

    device: Any
    threads: int


def setup(namespace: dict) -> Session:
    """Apply the common block of a checked parameters cell: seed everything with ``SEED``, set PyTorch's
    intra-op threads to ``THREADS`` (``None``: all usable cores) and resolve ``DEVICE``."""
    import torch

    from .measure import usable_cores
    from .train import resolve_device, seed_everything

    threads = namespace["THREADS"] or usable_cores()
    torch.set_num_threads(threads)
    seed_everything(namespace["SEED"])
    return Session(resolve_device(namespace["DEVICE"]), threads)
