"""The "How to cite" page, written from ``CITATION.cff`` (Citation File Format 1.2)."""
from __future__ import annotations

import re
from pathlib import Path


def read_cff(path) -> dict:
    """``CITATION.cff`` as a dict (YAML); an error that names the file when a required key is missing."""
    import yaml

    cff = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    missing = [k for k in ("cff-version", "message", "title", "authors") if k not in (cff or {})]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)} (required by the Citation File Format)")
    return cff


def person(p: dict) -> str:
    """An author of the CFF file as written in a reference: ``Berthelier, A.`` or an entity's name."""
    if "family-names" in p:
        initials = " ".join(f"{g[0]}." for g in str(p.get("given-names", "")).split() if g)
        return f"{p['family-names']}, {initials}".rstrip(", ")
    return str(p.get("name", "anonymous"))


def bibtex_names(people: list[dict]) -> str:
    """BibTeX ``author`` field: ``Family, Given and ...``; an entity in braces so BibTeX keeps it whole."""
    names = [f"{p['family-names']}, {p.get('given-names', '')}".rstrip(", ") if "family-names" in p
             else "{" + str(p.get("name", "anonymous")) + "}" for p in people]
    return " and ".join(names)


def _key(text: str, year) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return (words[0] if words else "ref") + str(year or "")


def software_bibtex(cff: dict) -> str:
    """A ``@software`` BibTeX entry for the companion itself."""
    year = str(cff.get("date-released", ""))[:4]
    fields = {"title": cff["title"], "author": bibtex_names(cff["authors"]), "version": cff.get("version"),
              "year": year or None, "license": cff.get("license"), "url": cff.get("repository-code") or cff.get("url")}
    body = ",\n".join(f"  {k:<8}= {{{v}}}" for k, v in fields.items() if v)
    return f"@software{{companion{year},\n{body}\n}}"


def article_bibtex(ref: dict) -> str:
    """A ``@article`` BibTeX entry from a CFF reference of type ``article``."""
    pages = f"{ref['start']}--{ref['end']}" if "start" in ref and "end" in ref else None
    fields = {"title": ref.get("title"), "author": bibtex_names(ref.get("authors", [])), "journal": ref.get("journal"),
              "volume": ref.get("volume"), "pages": pages, "year": ref.get("year"), "doi": ref.get("doi")}
    body = ",\n".join(f"  {k:<8}= {{{v}}}" for k, v in fields.items() if v)
    first = ref.get("authors", [{}])[0]
    return f"@article{{{_key(first.get('family-names', first.get('name', 'ref')), ref.get('year'))},\n{body}\n}}"


def reference_text(ref: dict) -> str:
    """One reference in prose: ``Berthelier, A., … (2021). Title. *Journal* 93, 863–878. doi: …``."""
    authors = ", ".join(person(p) for p in ref.get("authors", []))
    text = f"{authors} ({ref.get('year', 'n.d.')}). {ref.get('title', '')}."
    if ref.get("journal"):
        text += f" *{ref['journal']}*"
        if ref.get("volume"):
            text += f" {ref['volume']}"
        if "start" in ref and "end" in ref:
            text += f", {ref['start']}–{ref['end']}"
        text += "."
    if ref.get("doi"):
        text += f" doi: [{ref['doi']}](https://doi.org/{ref['doi']})"
    return text


def cite_page(cff: dict, cff_download: str) -> str:
    """The MyST page: the CFF message, the companion's entry, then each reference the CFF file lists."""
    authors = "; ".join(person(p) for p in cff["authors"])
    lines = ["# How to cite", "", cff["message"], "",
             f"The source of this page is {{download}}`CITATION.cff <{cff_download}>` "
             "([Citation File Format](https://citation-file-format.github.io/)); every paper the notebooks cite "
             "is in the {doc}`bibliography`.", "",
             "## This companion", "",
             f"{authors} ({str(cff.get('date-released', 'n.d.'))[:4]}). *{cff['title']}* "
             f"(version {cff.get('version', 'unversioned')}; licence {cff.get('license', 'not stated')}).", "",
             "```bibtex", software_bibtex(cff), "```", ""]
    refs = cff.get("references", [])
    if refs:
        lines += ["## The work it accompanies" if len(refs) == 1 else "## The works it accompanies", ""]
    for ref in refs:
        lines += [reference_text(ref), ""]
        if ref.get("type") == "article":
            lines += ["```bibtex", article_bibtex(ref), "```", ""]
    return "\n".join(lines)
