"""``make book``: stage the pages, then build the static site with Sphinx, failing on any warning."""
from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path

from .pages import stage

ROOT = Path(__file__).resolve().parents[2]


class BookError(RuntimeError):
    """The book did not build (Sphinx reported warnings or errors; they are printed above)."""


def build(root=ROOT, out=None, *, quiet: bool = True) -> Path:
    """Build the book of the repository at ``root`` into ``out`` (default ``results/book``); return ``out``.

    Every build starts afresh (new staged source, new environment, emptied output folder), so a warning is
    never hidden by a cache, and a page of a deleted notebook does not linger. Sphinx runs with ``-W
    --keep-going``: all warnings are printed, then the build fails if there was any.
    """
    from sphinx.cmd.build import build_main

    root = Path(root).resolve()
    out = Path(out).resolve() if out else root / "results" / "book"
    src, doctrees = root / "build" / "book-src", root / "build" / "book-doctrees"
    t0 = time.perf_counter()
    infos = stage(root, src)
    for folder in (out, doctrees):
        if folder.exists():
            shutil.rmtree(folder)
    args = ["-b", "html", "-E", "-W", "--keep-going", "-c", str(root / "book"), "-d", str(doctrees), str(src), str(out)]
    if quiet:
        args.insert(0, "-q")
    with warnings.catch_warnings():
        # myst-parser 5.2 still reads a Sphinx attribute deprecated for Sphinx 11: its problem, not the book's
        warnings.filterwarnings("ignore", message=r".*MystReferenceResolver\.app' is deprecated")
        status = build_main(args)
    if status != 0:
        raise BookError(f"the book did not build: Sphinx reported the warnings or errors above (source: {src})")
    print(f"book: {len(infos)} notebooks, {out / 'index.html'} ({time.perf_counter() - t0:.0f} s)")
    return out
