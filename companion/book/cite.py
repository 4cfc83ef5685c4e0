"""Author–year citations in the notebooks' Markdown, linked to the book's bibliography page.

The notebooks cite in plain words ("Han et al. 2015", "Gong, Liu, Yang & Bourdev (2014)") so that they
read well in JupyterLab. When the book is built, each such citation whose first surname and year match
exactly one entry of ``references.bib`` becomes a ``{bibref}`` role (see :mod:`companion.book.sphinx_ext`)
that keeps the author's words and links them to the entry. Code, math, links, HTML and headings are left
alone; so is any citation that matches no entry, or more than one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BibEntry:
    """One ``references.bib`` entry: its key, the authors' surnames (plain text, in order), year and title."""

    key: str
    surnames: tuple[str, ...]
    year: str
    title: str


def read_bib(path) -> list[BibEntry]:
    """Parse a BibTeX file with pybtex (LaTeX accents decoded: ``J{\\'e}gou`` → ``Jégou``)."""
    from pybtex.database import parse_file
    from pybtex.richtext import Text

    def plain(latex: str) -> str:
        return Text.from_latex(latex).render_as("text")

    db = parse_file(str(path), bib_format="bibtex")
    return [BibEntry(key, tuple(plain(" ".join(p.prelast_names + p.last_names)) for p in e.persons.get("author", [])),
                     e.fields.get("year", ""), plain(e.fields.get("title", "")))
            for key, e in db.entries.items()]


def citation_index(entries: list[BibEntry]) -> dict[tuple[str, str], str]:
    """``(surname, year)`` → key: every first author, and any other author whose name and year are unique.

    A pair shared by two entries (the same first author twice in a year) maps to nothing: such a citation
    cannot be resolved from its words, so it stays plain text.
    """
    first: dict[tuple[str, str], set[str]] = {}
    anyone: dict[tuple[str, str], set[str]] = {}
    for e in entries:
        for i, name in enumerate(e.surnames):
            pair = (name.casefold(), e.year)
            (first if i == 0 else anyone).setdefault(pair, set()).add(e.key)
    index = {pair: next(iter(keys)) for pair, keys in anyone.items() if len(keys) == 1 and pair not in first}
    index.update({pair: next(iter(keys)) for pair, keys in first.items() if len(keys) == 1})
    return index


_NAME = r"[A-Z][\w'’-]+"
# "Han et al. 2015", "Li & Liu 2016", "Hinton, Vinyals & Dean 2015", "Courbariaux, Bengio, David (2015)",
# "Berthelier, Chateau, Duffner, Garcia & Blanc (2020/2021)", "Zhou et al. (2016)"
CITATION = re.compile(
    rf"(?P<who>{_NAME})(?:\s+et\s+al\.?|,?\s+(?:&|and)\s+{_NAME}|,\s+{_NAME})*"
    r"(?P<open>,?\s*\(|,?\s+)(?P<years>(?:19|20)\d\d(?:/(?:19|20)\d\d)?)(?P<close>\))?")
# Markdown that must not be touched: code, math, links and images, HTML tags, URLs, headings.
PROTECTED = re.compile(r"```.*?```|~~~.*?~~~|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]+\$|!?\[[^\]\n]*\]\([^)\n]*\)"
                       r"|<[^>\n]*>|https?://\S+|^#{1,6}\s[^\n]*$|\{[a-z:]+\}`[^`\n]*`", re.S | re.M)


def _role(text: str, key: str) -> str:
    return f"{{bibref}}`{text} <{key}>`"


def _link_free_text(text: str, index: dict) -> tuple[str, set[str]]:
    out, used, pos = [], set(), 0
    for m in CITATION.finditer(text):
        years = m.group("years").split("/")
        key = next((index[(m.group("who").casefold(), y)] for y in years if (m.group("who").casefold(), y) in index),
                   None)
        if key is None:
            continue
        # "(2014)" is linked whole; the ")" of "(Han et al. 2015)" closes an outer parenthesis and stays out
        end = m.end("years") if m.group("close") and "(" not in m.group("open") else m.end()
        out.append(text[pos:m.start()])
        out.append(_role(text[m.start():end], key))
        used.add(key)
        pos = end
    out.append(text[pos:])
    return "".join(out), used


def link_citations(markdown: str, index: dict) -> tuple[str, set[str]]:
    """Turn the author–year citations of ``markdown`` into ``{bibref}`` roles; return the text and keys cited.

    >>> link_citations("as Han et al. 2015 showed", {("han", "2015"): "han2015learning"})[0]
    'as {bibref}`Han et al. 2015 <han2015learning>` showed'
    """
    out, used, pos = [], set(), 0
    for m in PROTECTED.finditer(markdown):
        linked, keys = _link_free_text(markdown[pos:m.start()], index)
        out += [linked, m.group(0)]
        used |= keys
        pos = m.end()
    linked, keys = _link_free_text(markdown[pos:], index)
    return "".join(out) + linked, used | keys


_ITEM = re.compile(r"^(?P<lead>\s*(?:[-*+]|\d+\.)\s+)(?P<body>.+)$", re.M)


def link_reference_list(markdown: str, entries: list[BibEntry]) -> tuple[str, set[str]]:
    """In a "References" list, add a ``[bib]`` link to each item whose first author and year match one entry.

    Items are written in many styles ("S. Han, J. Pool, … NeurIPS 2015."); an item matches an entry when
    the entry's first surname appears among the item's first 80 characters and the entry's year in the item.
    Items that already hold a ``{bibref}`` are left as they are.
    """
    used: set[str] = set()

    def one(m: re.Match) -> str:
        body = m.group("body")
        if "{bibref}" in body:
            return m.group(0)
        years = set(re.findall(r"(?:19|20)\d\d", body))
        hits = [e for e in entries if e.surnames and e.year in years
                and re.search(rf"\b{re.escape(e.surnames[0])}\b", body[:80])]
        if len(hits) != 1:
            return m.group(0)
        used.add(hits[0].key)
        return f"{m.group('lead')}{body} {_role('[bib]', hits[0].key)}"

    return _ITEM.sub(one, markdown), used


def is_references_cell(markdown: str) -> bool:
    """Whether a Markdown cell holds the notebook's "References" heading."""
    return re.search(r"^#{1,6}\s+References\s*$", markdown, re.M) is not None


def link_cell(markdown: str, index: dict, entries: list[BibEntry]) -> tuple[str, set[str]]:
    """Link one Markdown cell: in-text citations everywhere, ``[bib]`` links after the References heading."""
    text, used = link_citations(markdown, index)
    if is_references_cell(text):
        head, sep, tail = re.split(r"(^#{1,6}\s+References\s*$)", text, maxsplit=1, flags=re.M)
        tail, more = link_reference_list(tail, entries)
        text, used = head + sep + tail, used | more
    return text, used


def bib_path(root: Path) -> Path:
    """The bibliography every notebook cites: ``references.bib`` at the repository root."""
    return Path(root) / "references.bib"
