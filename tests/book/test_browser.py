"""The built book in headless Chromium: every page loads cleanly, shows its images and equations, and links
only to pages and anchors that exist; a screenshot of each page goes to results/book-screenshots/."""
import json
from pathlib import Path

import pytest

from companion.book import browser, links
from companion.book.notebook import read_notebook
from companion.book.taxonomy import TAXONOMY, find_notebooks

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "results" / "book-screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

CONTENT = ("index.html", "bibliography.html", "cite.html", "library/index.html")


@pytest.fixture(scope="session")
def pages(chromium, site):
    """Every page's facts (see ``browser.PAGE_FACTS``) and console errors, with a screenshot of each."""
    url, folder = site
    for old in SCREENSHOTS.glob("*.png"):  # this run's pages only (jupyterlab-*.png belongs to test_lab)
        if not old.name.startswith("jupyterlab-"):
            old.unlink()
    facts = {}
    browser.console_errors(chromium)  # start from an empty log
    for page in links.html_pages(folder):
        name = page.as_posix()
        f = browser.page_facts(chromium, url + name)
        f["console"] = browser.console_errors(chromium)
        # whole pages for what a person reads; the first screen of each library source page (they are long)
        full = name in CONTENT or name.startswith("notebooks/")
        f["screenshot"] = browser.screenshot(chromium, SCREENSHOTS / (name.replace("/", "__")[:-5] + ".png"),
                                             full_page=full)
        facts[name] = f
    return facts


def test_every_page_loads_without_console_errors(pages):
    bad = {p: f["console"] for p, f in pages.items() if f["console"]}
    assert not bad, f"console errors: {json.dumps(bad, indent=1)}"


def test_every_image_loads(pages):
    bad = {p: [i["src"][:100] for i in f["images"] if not i["ok"]] for p, f in pages.items()}
    assert not {p: v for p, v in bad.items() if v}, f"images that did not load: {bad}"
    for nb in find_notebooks(ROOT / "notebooks"):
        shown, committed = len(pages[f"notebooks/{nb.stem}.html"]["images"]), read_notebook(nb).figures
        assert shown >= committed, f"{nb.name}: {committed} committed figures, {shown} images on its page"
    assert sum(read_notebook(nb).figures for nb in find_notebooks(ROOT / "notebooks")) > 0, "no figure at all"


def test_every_equation_is_rendered_and_no_raw_tex_is_left(pages):
    for page, f in pages.items():
        assert f["math"] in ("typeset", "no math"), f"{page}: MathJax {f['math']}"
        assert f["math_rendered"] == f["math_total"], f"{page}: {f['math_total'] - f['math_rendered']} equations left"
        assert f["math_errors"] == 0, f"{page}: {f['math_errors']} equations MathJax could not parse"
        assert not f["raw_tex"], f"{page}: TeX left in the text: {f['raw_tex'][:3]}"
    assert sum(f["math_total"] for f in pages.values()) > 0, "no equation anywhere: is math rendering wired?"


def test_every_internal_link_resolves(pages, site):
    url, folder = site
    bad = sorted({problem for f in pages.values() for href in f["links"] if links.is_internal(href, url)
                  for problem in [links.broken(href, url, folder)] if problem})
    assert not bad, "broken links:\n" + "\n".join(bad[:20])


def test_nothing_is_fetched_from_outside_the_site(pages, site):
    url, _ = site
    outside = {p: [r for r in f["resources"] if not r.startswith((url, "data:", "blob:"))] for p, f in pages.items()}
    assert not {p: r for p, r in outside.items() if r}, f"resources from elsewhere: {outside}"
    assert any("mathjax/" in r for f in pages.values() for r in f["resources"]), "MathJax was not loaded locally"


def test_a_screenshot_of_every_page(pages):
    for page, f in pages.items():
        assert f["screenshot"].stat().st_size > 5000, f"{page}: screenshot {f['screenshot']} is (nearly) empty"


def test_landing_page_lists_the_taxonomy_in_survey_order(pages, chromium, site):
    url, _ = site
    chromium.get(url + "index.html")
    text = chromium.find_element("css selector", "div.body").text
    positions = [text.find(s.title) for part in TAXONOMY for s in part.sections]
    assert -1 not in positions and positions == sorted(positions), "survey sections missing or out of order"
    have = {nb.stem.split("_")[0] for nb in find_notebooks(ROOT / "notebooks")}
    missing = [s for part in TAXONOMY for s in part.sections if s.notebook not in have]
    assert text.count("no notebook yet") == len(missing)


def test_each_notebook_page_links_its_file_its_code_and_shows_its_conditions(pages, chromium, site):
    url, _ = site
    for nb in find_notebooks(ROOT / "notebooks"):
        info = read_notebook(nb)
        chromium.get(f"{url}notebooks/{nb.stem}.html")
        meta = chromium.find_element("css selector", "div.book-meta")
        hrefs = [a.get_attribute("href") for a in meta.find_elements("css selector", "a")]
        assert any(h.endswith(f"/{nb.name}") for h in hrefs), f"{nb.name}: no link to the notebook file"
        assert any("/library/companion." in h for h in hrefs), f"{nb.name}: no link to the library code"
        shown = chromium.find_element("css selector", "div.measurement-conditions").text
        for line in info.conditions:
            assert line in " ".join(shown.split()), f"{nb.name}: conditions line not shown"
        if not info.conditions:
            assert "no Measurement conditions: line" in shown
        notice = chromium.find_elements("css selector", "div.not-executed")
        assert bool(notice) == (not info.executed), f"{nb.name}: the not-executed notice is wrong"


def test_citations_link_to_the_bibliography(pages, chromium, site):
    url, _ = site
    chromium.get(url + "notebooks/00_baseline.html")
    refs = chromium.find_elements("css selector", "a.bibref")
    assert refs, "no citation of 00_baseline links to the bibliography"
    assert all("bibliography.html#bib-" in r.get_attribute("href") for r in refs)
