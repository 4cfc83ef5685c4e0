"""Citations in the notebooks' words, linked to references.bib entries."""
from pathlib import Path

import pytest

from companion.book.cite import (BibEntry, citation_index, is_references_cell, link_cell, link_citations,
                                 link_reference_list, read_bib)

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = [BibEntry("han2015learning", ("Han", "Pool", "Tran", "Dally"), "2015", "Learning both weights"),
           BibEntry("han2016deep", ("Han", "Mao", "Dally"), "2016", "Deep Compression"),
           BibEntry("gong2014compressing", ("Gong", "Liu", "Yang", "Bourdev"), "2014", "Compressing"),
           BibEntry("courbariaux2016binarized", ("Courbariaux", "Hubara", "Soudry"), "2016", "BNN"),
           BibEntry("li2016ternary", ("Li", "Liu"), "2016", "Ternary Weight Networks"),
           BibEntry("berthelier2020survey", ("Berthelier", "Chateau"), "2021", "Survey"),
           BibEntry("a2019", ("Smith",), "2019", "One"), BibEntry("b2019", ("Smith",), "2019", "Two")]
INDEX = citation_index(ENTRIES)


def test_the_repository_bibliography_parses_whole():
    entries = read_bib(ROOT / "references.bib")
    text = (ROOT / "references.bib").read_text()
    assert len(entries) == text.count("\n@") + text.startswith("@"), "an entry was lost (unbalanced braces?)"
    assert all(e.surnames and e.year.isdigit() and e.title for e in entries)
    assert any(e.surnames[0] == "Jégou" for e in entries), "LaTeX accents are decoded"


def test_index_maps_first_authors_and_drops_ambiguous_pairs():
    assert INDEX[("han", "2015")] == "han2015learning" and INDEX[("han", "2016")] == "han2016deep"
    assert INDEX[("hubara", "2016")] == "courbariaux2016binarized", "a unique non-first author counts"
    assert ("smith", "2019") not in INDEX, "two entries share the pair: no link is better than a wrong one"


@pytest.mark.parametrize("text, linked", [
    ("as Han et al. 2015 showed", "as {bibref}`Han et al. 2015 <han2015learning>` showed"),
    ("(Han et al. 2016)", "({bibref}`Han et al. 2016 <han2016deep>`)"),
    ("Gong, Liu, Yang & Bourdev (2014) used", "{bibref}`Gong, Liu, Yang & Bourdev (2014) <gong2014compressing>` used"),
    ("Li & Liu 2016", "{bibref}`Li & Liu 2016 <li2016ternary>`"),
    ("Hubara, Courbariaux et al. 2016", "{bibref}`Hubara, Courbariaux et al. 2016 <courbariaux2016binarized>`"),
    ("Berthelier, Chateau (2020/2021).", "{bibref}`Berthelier, Chateau (2020/2021) <berthelier2020survey>`."),
])
def test_author_year_citations_become_links_in_the_authors_words(text, linked):
    out, keys = link_citations(text, INDEX)
    assert out == linked and len(keys) == 1


@pytest.mark.parametrize("text", [
    "Han et al.'s 12× comes with retraining",           # no year
    "Han et al. 2019 and Smith 2019",                    # no entry / an ambiguous pair
    "`Han et al. 2015` in code", "$Han 2015$ in math", "[Han et al. 2015](https://x.org)",
    "<span title='Han et al. 2015'>x</span>", "## Pruning (Han et al. 2015)",
    "```\nHan et al. 2015\n```",
])
def test_code_math_links_html_headings_and_unknown_citations_are_left_alone(text):
    assert link_citations(text, INDEX) == (text, set())


def test_reference_lists_get_a_bib_link_per_matching_item():
    cell = ("## References\n- S. Han, J. Pool, J. Tran, W. Dally. Learning both weights. NeurIPS 2015.\n"
            "- Gong, Liu, Yang & Bourdev (2014). Compressing.\n- Someone else (1999). Unknown.\n")
    assert is_references_cell(cell)
    out, keys = link_cell(cell, INDEX, ENTRIES)
    assert "NeurIPS 2015. {bibref}`[bib] <han2015learning>`" in out
    assert out.count("gong2014compressing") == 1, "an item already linked in the text gets no second link"
    assert "Someone else (1999). Unknown." in out and keys == {"han2015learning", "gong2014compressing"}
    assert link_reference_list("- Smith (2019). Two.", ENTRIES) == ("- Smith (2019). Two.", set())


def test_cells_without_a_references_heading_get_no_bib_links():
    text = "- S. Han, J. Pool. Learning both weights. NeurIPS 2015."
    assert link_cell(text, INDEX, ENTRIES) == (text, set())
