"""The grid of a sweep: the notebook's parameters, values checked against them, points and their stable ids."""
from __future__ import annotations

import ast
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .executors import KERNEL

SEED_PARAM = "SEED"


RESERVED = {"RESULTS_PATH": "the sweep sets it to DIR/<point-id>/results.json"}


_TYPES = {"bool": bool, "int": int, "float": float, "str": str, "list": list, "tuple": list, "dict": dict}


class SweepError(ValueError):
    """A sweep that cannot start: missing notebook, no parameters cell, unknown parameter, wrong type."""


@dataclass(frozen=True)
class NotebookParameter:
    """One assignment of a notebook's ``parameters`` cell: its name, declared type (None: unknown), default."""

    name: str
    type: type | None
    default: str
    help: str = ""


def _literal_type(text: str) -> type | None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return None if value is None else _TYPES.get(type(value).__name__)


def notebook_parameters(notebook) -> dict[str, NotebookParameter]:
    """The parameters a notebook declares, from papermill's parameter inspection (names, annotations, help);
    a name's type is its annotation, else the type of its literal default (``X = 1`` → int).

    Raises :class:`SweepError` if the notebook is missing, unreadable or has no cell tagged ``parameters``.
    """
    import nbformat
    from papermill.translators import papermill_translators

    path = Path(notebook)
    if not path.is_file():
        raise SweepError(f"no such notebook: {path}")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:  # nbformat raises several kinds for a broken file
        raise SweepError(f"cannot read notebook {path}: {e}") from e
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise SweepError(f"{path} has no cell tagged 'parameters'; papermill needs one to inject a sweep's values "
                         "(tag the cell holding its literals, e.g. SEED = 0)")
    out = {}
    # what papermill.inspect_notebook does, with the kernel the sweep runs (the notebook may name none)
    for p in papermill_translators.find_translator(KERNEL, "python").inspect(cells[0]):
        annotation = p.inferred_type_name
        typ = _TYPES.get(annotation.split("[")[0].strip()) if annotation != "None" else _literal_type(p.default)
        out[p.name] = NotebookParameter(p.name, typ, p.default, p.help)
    try:  # papermill's line parser skips lines with two '=': take those from the syntax tree
        tree = ast.parse(cells[0].source)
    except SyntaxError:
        return out
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, text = node.targets[0].id, ast.get_source_segment(cells[0].source, node.value) or ""
            out.setdefault(name, NotebookParameter(name, _literal_type(text), text))
    return out


def parse_value(text: str):
    """A command-line value as a Python literal (``0.5``, ``8``, ``True``, ``"cifar10"``, ``[8, 4]``);
    anything that is not a literal (``cifar10``) is taken as a string; ``nan``/``inf`` are floats."""
    if text.strip().lower() in ("nan", "inf", "+inf", "-inf"):
        return float(text)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def load_grid(path) -> dict[str, list]:
    """``GRID.yaml`` mapping parameter names to lists of values (a single value is a list of one)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SweepError(f"no such grid file: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise SweepError(f"cannot parse grid file {path}: {e}") from e
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise SweepError(f"grid file {path} must map parameter names to lists of values, e.g. 'SPARSITY: [0.5, 0.9]'")
    return {k: list(v) if isinstance(v, list) else [v] for k, v in data.items()}


def _passable(value) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_passable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _passable(v) for k, v in value.items())
    return False


def _coerce(value, typ: type):
    """``value`` as ``typ`` (an int is a fine float), or raise TypeError."""
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ is list and isinstance(value, tuple):
        return list(value)
    if isinstance(value, typ) and not (typ is int and isinstance(value, bool)):
        return value
    raise TypeError


def check_value(param: NotebookParameter, value):
    """``value`` checked against the parameter's declared type and normalised (int → float where a float is
    declared, tuple → list); raises :class:`SweepError` naming the parameter on a mismatch."""
    if not _passable(value):
        raise SweepError(f"parameter {param.name}: {value!r} ({type(value).__name__}) cannot be passed to a notebook; "
                         "use numbers, strings, booleans, None, lists or dicts")
    if param.type is None:
        return value
    try:
        value = _coerce(value, param.type)
        default = ast.literal_eval(param.default) if param.type is list else None
        element = {type(v) for v in default or []}
        if len(element) == 1 and (etype := element.pop()) in (bool, int, float, str):
            value = [_coerce(v, etype) for v in value]
    except (TypeError, ValueError, SyntaxError):
        hint = ""
        if isinstance(value, str) and re.fullmatch(r"[-+]?[\d.]+(e[-+]?\d+)?", value.strip(), re.I):
            hint = " (in a YAML grid write exponents with a dot, 1.0e-3, or numbers unquoted)"
        raise SweepError(f"parameter {param.name} expects {param.type.__name__} (its default is {param.default}), "
                         f"got {type(value).__name__} {value!r}{hint}") from None
    return value


def build_grid(parameters: dict[str, NotebookParameter], values: dict[str, list], seeds: int | None = None,
               notebook: str = "the notebook") -> list[dict]:
    """Every point of the grid (Cartesian product, in the order given), each value checked and normalised."""
    values = dict(values)
    if seeds is not None:
        if seeds < 1:
            raise SweepError(f"--seeds must be >= 1, got {seeds}")
        if SEED_PARAM in values:
            raise SweepError(f"give either --seeds or -p {SEED_PARAM}, not both")
        values[SEED_PARAM] = list(range(seeds))
    valid = ", ".join(n for n in parameters if n not in RESERVED)
    for name, vals in values.items():
        if name in RESERVED:
            raise SweepError(f"parameter {name} cannot be swept: {RESERVED[name]}")
        if name not in parameters:
            raise SweepError(f"unknown parameter {name!r}: {notebook}'s parameters cell defines {valid}")
        if not vals:
            raise SweepError(f"parameter {name} has no values")
    for name in RESERVED:
        if name not in parameters:
            raise SweepError(f"{notebook}'s parameters cell must define {name}: {RESERVED[name]}")
    axes = {}
    for name, vals in values.items():
        checked = [check_value(parameters[name], v) for v in vals]
        axes[name] = [v for i, v in enumerate(checked) if _canon(v) not in {_canon(w) for w in checked[:i]}]
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def _canon(obj) -> str:
    return json.dumps(obj, sort_keys=True, allow_nan=True)


def point_id(params: dict) -> str:
    """A stable, readable folder name for a point: ``NAME=a_X=1_Y=0.5-<8 hex of its parameters' hash>``."""
    digest = hashlib.sha1(_canon(params).encode()).hexdigest()[:8]
    slug = "_".join(f"{k}={v if not isinstance(v, (list, dict)) else _canon(v)}" for k, v in sorted(params.items()))
    slug = re.sub(r"[^A-Za-z0-9.=+-]+", "_", slug).strip("_")[:64] or "defaults"
    return f"{slug}-{digest}"
