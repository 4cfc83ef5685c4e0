"""What the book reads from a committed notebook: its title, the library modules it uses, its conditions.

Nothing here executes a notebook: the committed outputs are the content.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

CONDITIONS_PREFIX = "Measurement conditions:"


@dataclass(frozen=True)
class NotebookInfo:
    """A notebook as the book shows it."""

    path: Path
    title: str
    modules: tuple[str, ...]     # companion modules it imports, in order of first use ("companion.measure")
    conditions: tuple[str, ...]  # the distinct "Measurement conditions:" lines of its outputs, in order
    executed: bool = True        # whether any code cell carries committed outputs
    figures: int = 0             # image outputs (PNG, JPEG, SVG) committed

    @property
    def stem(self) -> str:
        return self.path.stem


def title_of(nb) -> str:
    """The first Markdown heading of the notebook (its ``# 0N · Section: subtitle`` line), else the file name."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#{1,6}\s+(.+?)\s*#*\s*$", cell.source, re.M)
            if m:
                return m.group(1)
    return Path(nb.metadata.get("papermill", {}).get("input_path", "notebook")).stem


def _parse(source: str) -> ast.AST | None:
    """A code cell's syntax tree, IPython magics and shell escapes blanked out; ``None`` if it does not parse."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def imported_modules(sources: list[str], package: str = "companion") -> list[str]:
    """Every ``package.<name>`` the code imports or uses as an attribute of an alias (``cp.measure``).

    ``from companion import data, measure as m`` gives ``companion.data`` and ``companion.measure``;
    ``from companion.pruning import X`` gives ``companion.pruning``; with ``import companion as cp``, the
    attribute ``cp.train`` gives ``companion.train``. Names that are not modules (``cp.load_dataset``) are
    kept too: :func:`companion.book.pages.module_file` decides which of them have a source file.
    """
    found: list[str] = []
    aliases: set[str] = set()

    def add(name: str) -> None:
        if name not in found:
            found.append(name)

    for source in sources:
        tree = _parse(source)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name == package:
                        aliases.add(a.asname or a.name)
                    elif a.name.startswith(package + "."):
                        add(a.name)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == package:
                    for a in node.names:
                        add(f"{package}.{a.name}")
                elif node.module.startswith(package + "."):
                    add(node.module)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                add(f"{package}.{node.attr}")
    return found


def conditions_lines(nb) -> list[str]:
    """The distinct ``Measurement conditions:`` lines printed in the notebook's outputs, in order."""
    lines: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else \
                out.get("data", {}).get("text/plain", "")
            for line in (text if isinstance(text, str) else "".join(text)).splitlines():
                line = line.strip()
                if line.startswith(CONDITIONS_PREFIX) and line not in lines:
                    lines.append(line)
    return lines


def read_notebook(path) -> NotebookInfo:
    """Read a committed notebook (no execution) into a :class:`NotebookInfo`."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    figures = sum(1 for c in code for o in c.get("outputs", [])
                  if {"image/png", "image/jpeg", "image/svg+xml"} & set(o.get("data", {})))
    return NotebookInfo(path, title_of(nb), tuple(imported_modules([c.source for c in code])),
                        tuple(conditions_lines(nb)), any(c.get("outputs") for c in code), figures)


def is_busy(line: str) -> bool:
    """Whether a conditions line says the machine was busy (``... : BUSY``), so its latencies are not quiet."""
    return line.rstrip().endswith("BUSY")
