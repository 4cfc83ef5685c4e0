"""The book's one Sphinx extension: the ``{bibref}`` role, a citation that keeps the author's words.

```` {bibref}`Han et al. 2015 <han2015learning>` ```` renders "Han et al. 2015" as a link to the entry
``han2015learning`` of the bibliography page (sphinxcontrib-bibtex's ``{bibliography}`` directive, whose
entries carry the ids ``bib-<key>``; see ``bibtex_cite_id`` in ``book/conf.py``). A key that no
bibliography holds is a warning, so it fails the build like any broken cross-reference.
"""
from __future__ import annotations

import re

from docutils import nodes
from sphinx import addnodes

ROLE = "bibref"


def bibref_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``Words <key>`` → a pending cross-reference to ``key`` whose link text is ``Words``."""
    m = re.fullmatch(r"(?s)\s*(.*?)\s*<([^<>\s]+)>\s*", text)
    if m is None or not m.group(1):
        msg = inliner.reporter.error(f"{ROLE} needs 'words <key>', got {text!r}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    words, key = m.groups()
    node = addnodes.pending_xref(rawtext, refdomain="", reftype=ROLE, reftarget=key, refexplicit=True,
                                 refwarn=True)
    node += nodes.inline(words, words, classes=["bibref"])
    return [node], []


def _citation_target(env, key: str) -> tuple[str, str] | None:
    """``(docname, id)`` of the bibliography entry ``key``, from sphinxcontrib-bibtex's domain."""
    domain = env.get_domain("cite")
    for bib_key, bibliography in domain.bibliographies.items():
        node = bibliography.citation_nodes.get(key)
        if node is not None and node["ids"]:
            return bib_key.docname, node["ids"][0]
    return None


def resolve_bibref(app, env, node, contnode):
    """``missing-reference`` handler: link a ``bibref`` to its entry (``None`` for other references)."""
    if node.get("reftype") != ROLE:
        return None
    target = _citation_target(env, node["reftarget"])
    if target is None:
        return None  # Sphinx then warns "bibref reference target not found"
    docname, anchor = target
    uri = app.builder.get_relative_uri(node["refdoc"], docname) + "#" + anchor
    ref = nodes.reference("", "", internal=True, refuri=uri, reftitle=node["reftarget"], classes=["bibref"])
    ref += contnode
    return ref


def bibliography_style():
    """The bibliography's pybtex style: numbered, sorted by author and year, titles as ``references.bib`` writes them.

    pybtex's ``unsrt`` lower-cases titles (``BinaryConnect`` → ``Binaryconnect``), as BibTeX does unless
    every proper noun is braced; the book keeps the casing of the file instead.
    """
    from pybtex.style.formatting.unsrt import Style
    from pybtex.style.template import field, sentence

    class BookStyle(Style):
        default_label_style = "number"
        default_sorting_style = "author_year_title"

        def format_title(self, e, which_field, as_sentence=True):
            title = field(which_field)
            return sentence[title] if as_sentence else title

    return BookStyle


def setup(app):
    from pybtex.plugin import register_plugin

    register_plugin("pybtex.style.formatting", "companion", bibliography_style())
    app.setup_extension("sphinxcontrib.bibtex")
    app.add_role(ROLE, bibref_role)
    app.connect("missing-reference", resolve_bibref)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
