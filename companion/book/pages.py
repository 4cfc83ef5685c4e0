"""The book's pages, written as MyST Markdown (and notebook copies) into a Sphinx source folder.

:func:`stage` writes:

- ``index.md``: the survey's taxonomy in survey order, one row per section, its notebook or "no notebook yet";
- ``notebooks/<stem>.ipynb``: each committed notebook, outputs untouched, with one Markdown cell added after
  its title (links to the notebook file and to the library code it uses; the ``Measurement conditions:``
  line of its run) and its author–year citations linked to the bibliography (:mod:`companion.book.cite`);
- ``_files/``: the committed notebooks and ``CITATION.cff`` themselves, offered for download;
- ``library/``: the source of every ``companion`` module, one page per module or package;
- ``bibliography.md`` (every entry of ``references.bib``) and ``cite.md`` (from ``CITATION.cff``).
"""
from __future__ import annotations

import ast
import os
import re
import shutil
from pathlib import Path

from ..io import write_bytes_atomic, write_text_atomic
from . import cff as cff_page
from .cite import bib_path, citation_index, link_cell, read_bib
from .notebook import NotebookInfo, is_busy, read_notebook
from .taxonomy import assign, find_notebooks, ordered

PACKAGE = "companion"


def md_escape(text: str) -> str:
    """Plain text safe inside MyST Markdown: RST ````code```` becomes `` `code` ``, other markup is escaped."""
    parts = re.split(r"(`[^`]*`)", re.sub(r"``([^`]+)``", r"`\1`", text))
    return "".join(p if p.startswith("`") and p.endswith("`") and len(p) > 1
                   else re.sub(r"([\\*_\[\]<>{}|$#~])", r"\\\1", p) for p in parts)


def library_modules(root: Path) -> list[str]:
    """Every top-level module and subpackage of ``companion``, as dotted names, sorted."""
    pkg = Path(root) / PACKAGE
    names = [p.stem for p in pkg.glob("*.py")] + [p.name for p in pkg.iterdir() if (p / "__init__.py").exists()]
    return sorted(f"{PACKAGE}.{n}" for n in set(names))


def module_files(root: Path, name: str) -> list[Path]:
    """The source files of ``companion.<name>``: its ``.py`` file, or every file of the package (``__init__`` first).

    A deeper name (``companion.pruning.criteria``) belongs to its top-level module or package; a name that is
    no module (``companion.load_dataset``, a re-exported function) has no files.
    """
    parts = name.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        return []
    base = Path(root) / PACKAGE / parts[1]
    if base.with_suffix(".py").is_file():
        return [base.with_suffix(".py")]
    if (base / "__init__.py").is_file():
        return sorted(base.rglob("*.py"), key=lambda p: (p.name != "__init__.py", str(p)))
    return []


def top_module(name: str) -> str:
    """``companion.pruning.criteria`` → ``companion.pruning``."""
    return ".".join(name.split(".")[:2])


def summary_line(path: Path) -> str:
    """The first line of a module's docstring (empty when it has none or does not parse)."""
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    except (SyntaxError, UnicodeDecodeError):
        return ""
    return doc.strip().splitlines()[0] if doc else ""


def used_modules(root: Path, info: NotebookInfo) -> list[str]:
    """The top-level modules of ``companion`` a notebook uses that have source files, in order of first use."""
    out: list[str] = []
    for name in info.modules:
        top = top_module(name)
        if module_files(root, top) and top not in out:
            out.append(top)
    return out


def module_page(root: Path, name: str, docdir: Path, used_by: list[NotebookInfo]) -> str:
    """A library page: the docstring summary, the notebooks that use it, then each source file, highlighted."""
    files = module_files(root, name)
    lines = [f"# `{name}`", ""]
    summary = summary_line(files[0]) if files else ""
    if summary:
        lines += [f"*{md_escape(summary)}*", ""]
    if used_by:
        lines += ["Used by " + ", ".join(f"{{doc}}`{md_escape(i.title)} <../notebooks/{i.stem}>`" for i in used_by)
                  + ".", ""]
    for f in files:
        rel = f.relative_to(root).as_posix()
        lines += [f"## `{rel}`", "", f"```{{literalinclude}} {Path(os.path.relpath(f, docdir)).as_posix()}",
                  ":language: python", ":linenos:", "```", ""]
    return "\n".join(lines)


def library_index(root: Path, names: list[str]) -> str:
    """The library's contents page: each module with its summary line, and the toctree of their pages."""
    lines = ["# The library's source", "",
             "Every notebook imports its logic from `companion`; here is all of it, as the notebooks ran it. "
             "Each notebook page links to the modules it uses.", ""]
    for name in names:
        files = module_files(root, name)
        summary = summary_line(files[0]) if files else ""
        lines.append(f"- {{doc}}`{name} <{name}>`" + (f": {md_escape(summary)}" if summary else ""))
    lines += ["", "```{toctree}", ":hidden:", "", *names, "```", ""]
    return "\n".join(lines)


def header_cell(root: Path, info: NotebookInfo) -> str:
    """The Markdown cell added after a notebook's title: its file, its library code, its measurement conditions."""
    modules = used_modules(root, info)
    code = ", ".join(f"{{doc}}`{m} <../library/{m}>`" for m in modules) or "none (it imports no `companion` module)"
    lines = [":::{admonition} About this page", ":class: book-meta", "",
             "The notebook as committed, outputs included: the book shows them without running it again."
             if info.executed else "The notebook as committed: the book shows it without running it.", "",
             f"- **Notebook file:** {{download}}`{info.path.name} <../_files/{info.path.name}>` "
             "(run it yourself in JupyterLab: `make lab`)",
             f"- **Library code it uses:** {code}", ":::", ""]
    if not info.executed:
        lines += [":::{admonition} Not executed yet", ":class: warning not-executed", "",
                  "This notebook is committed without outputs: it has not been run since it was last written "
                  "(`make notebooks` executes it). The page shows its text and code only.", ":::", ""]
    if info.conditions:
        busy = any(is_busy(c) for c in info.conditions)
        lines += [":::{admonition} Measurement conditions of this run",
                  ":class: measurement-conditions" + (" warning" if busy else ""), ""]
        lines += [f"`{c}`" + ("" if i == len(info.conditions) - 1 else "\\") for i, c in enumerate(info.conditions)]
        if busy:
            lines += ["", "Other processes were using the CPU: the latencies on this page are **not** quiet "
                          "measurements."]
    else:
        lines += [":::{admonition} Measurement conditions of this run",
                  ":class: measurement-conditions warning", "",
                  "This run's outputs hold no `Measurement conditions:` line, so nothing on this page says how busy "
                  "the machine was while it measured. Treat its latencies as unverified."]
    return "\n".join(lines + [":::", ""])


LOCAL_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)|<img\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)")


def local_images(markdown: str) -> list[str]:
    """Relative image paths a Markdown cell shows (``![x](figures/a.png)``, ``<img src="a.png">``)."""
    paths = [a or b for a, b in LOCAL_IMAGE.findall(markdown)]
    return [p for p in paths if not re.match(r"^[a-z][a-z0-9+.-]*:", p, re.I) and not p.startswith("/")]


def copy_images(notebook: Path, markdown: str, dest: Path) -> None:
    """Copy the images a cell shows from beside the notebook to beside its staged copy (a missing one is left
    for Sphinx to report: a missing image fails the build)."""
    for rel in local_images(markdown):
        src = (notebook.parent / rel).resolve()
        if src.is_file() and notebook.parent.resolve() in src.parents:
            _copy(src, dest / "notebooks" / rel)


SIBLING_LINK = re.compile(r"\[([^\]]+)\]\(\s*([0-9][\w.-]*\.ipynb)(#[^)\s]*)?\s*\)")


def unlink_missing_notebooks(markdown: str, present: set[str]) -> str:
    """A link to a section notebook that is not written yet becomes plain text marked "(no notebook yet)".

    Notebooks are written one at a time; one that links to a later section must not break the book. Every
    other link is left for Sphinx to resolve, and a broken one still fails the build.
    """
    def one(m: re.Match) -> str:
        return m.group(0) if m.group(2) in present else f"{m.group(1)} (no notebook yet)"

    return SIBLING_LINK.sub(one, markdown)


def stage_notebook(root: Path, info: NotebookInfo, dest: Path, index: dict, entries,
                   present: set[str] = frozenset()) -> set[str]:
    """Write the book's copy of one notebook (header cell added, citations linked); return the keys it cites."""
    import nbformat

    nb = nbformat.read(info.path, as_version=4)
    cited: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            copy_images(info.path, cell.source, dest)
            cell.source = unlink_missing_notebooks(cell.source, present)
            cell.source, keys = link_cell(cell.source, index, entries)
            cited |= keys
    at = next((i + 1 for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), 0)
    nb.cells.insert(at, nbformat.v4.new_markdown_cell(header_cell(root, info)))
    if nb.nbformat_minor < 5:  # cell ids exist from nbformat 4.5 on
        nb.cells[at].pop("id", None)
    write_text_atomic(nbformat.writes(nb), dest / "notebooks" / info.path.name)
    return cited


def index_page(parts, others: list[NotebookInfo], infos: dict[Path, NotebookInfo], intro: str) -> str:
    """The landing page: every survey section in survey order, with its notebook or a plain "no notebook yet"."""
    lines = ["# Deep model compression and architecture optimization, measured", "", intro, "",
             "## The survey's taxonomy, section by section", ""]
    for part, pairs in parts:
        lines += [f"### {part.title}", "", "| § | Survey section | Notebook | What it measures |", "|---|---|---|---|"]
        for section, nb in pairs:
            page = f"{{doc}}`{md_escape(infos[nb].title)} <notebooks/{nb.stem}>`" if nb else \
                f"**no notebook yet** (`{section.notebook}_*.ipynb`)"
            lines.append(f"| {section.number} | {section.title} | {page} | {md_escape(section.summary)} |")
        lines.append("")
    if others:
        lines += ["### Other notebooks", ""] + [f"- {{doc}}`{md_escape(i.title)} <notebooks/{i.stem}>`"
                                                for i in others] + [""]
    lines += ["## Also in this book", "",
              "- {doc}`bibliography`: every paper the notebooks cite (`references.bib`); citations in the notebooks "
              "link to it.", "- {doc}`cite`: how to cite the companion and the survey (`CITATION.cff`).",
              "- {doc}`library/index`: the source of the `companion` library the notebooks run.", ""]
    order = [infos[p] for p in ordered(list(infos))]
    lines += ["```{toctree}", ":hidden:", ":caption: Notebooks", "", *[f"notebooks/{i.stem}" for i in order], "```", "",
              "```{toctree}", ":hidden:", ":caption: Reference", "", "bibliography", "cite", "library/index", "```", ""]
    return "\n".join(lines)


BIBLIOGRAPHY = """# Bibliography

Every entry of the repository's `references.bib`, sorted by author and year. A citation in a notebook links
to its entry here.

```{bibliography}
:all:
```
"""

INTRO = ("The executable companion to *Deep Model Compression and Architecture Optimization for Embedded "
         "Systems: A Survey* (Berthelier, Chateau, Duffner, Garcia & Blanc, 2020). One notebook per survey "
         "section teaches a method, runs it for real on the same data and measures what it buys: accuracy, "
         "parameters, bytes on disk, MACs and latency. This book shows the notebooks as they were last executed "
         "and committed; to run them, see the repository's README (`make run`, `make lab`).")


def _copy(src: Path, dst: Path) -> None:
    write_bytes_atomic(Path(src).read_bytes(), dst)


def stage(root, dest) -> list[NotebookInfo]:
    """Write the Sphinx source of the book for the repository at ``root`` into ``dest`` (emptied first)."""
    root, dest = Path(root).resolve(), Path(dest).resolve()
    if dest.exists():
        shutil.rmtree(dest)
    notebooks = find_notebooks(root / "notebooks")
    infos = {nb: read_notebook(nb) for nb in notebooks}
    entries = read_bib(bib_path(root))
    index = citation_index(entries)
    for info in infos.values():
        _copy(info.path, dest / "_files" / info.path.name)
        stage_notebook(root, info, dest, index, entries, {nb.name for nb in notebooks})
    parts, others = assign(notebooks)
    write_text_atomic(index_page(parts, [infos[o] for o in others], infos, INTRO), dest / "index.md")
    write_text_atomic(BIBLIOGRAPHY, dest / "bibliography.md")
    _copy(root / "CITATION.cff", dest / "_files" / "CITATION.cff")
    cff = cff_page.read_cff(root / "CITATION.cff")
    write_text_atomic(cff_page.cite_page(cff, "_files/CITATION.cff"), dest / "cite.md")
    names = library_modules(root)
    write_text_atomic(library_index(root, names), dest / "library" / "index.md")
    for name in names:
        used_by = [i for i in infos.values() if name in used_modules(root, i)]
        write_text_atomic(module_page(root, name, dest / "library", used_by), dest / "library" / f"{name}.md")
    return [infos[p] for p in ordered(notebooks)]
