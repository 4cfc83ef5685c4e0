"""The book's pages from a small stand-in repository: the taxonomy, the notebook pages, the library, and
a Sphinx build that fails on a broken reference or a missing image."""
import base64
import io
import shutil
from pathlib import Path

import nbformat
import pytest

from companion.book import BookError, build, stage
from companion.book.pages import md_escape, module_files

ROOT = Path(__file__).resolve().parents[2]
CONDITIONS = ("Measurement conditions: Test CPU, 2 cores, AVX2 [avx2]; torch 2.14.1, 2 threads; "
              "other processes 0.00 cores: quiet")
BIB = """@article{han2015learning, title = {Learning both Weights and Connections}, author = {Han, Song and Pool, Jeff},
  journal = {NeurIPS}, year = {2015}}
@article{lecun1998gradient, title = {Gradient-Based Learning}, author = {LeCun, Yann}, journal = {Proc. IEEE},
  year = {1998}}
"""


def png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 20), (40, 90, 180)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def notebook(title: str, *, code: str, conditions: bool, extra_md: str = "") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    out = nbformat.v4.new_code_cell(code, execution_count=1)
    out.outputs = [nbformat.v4.new_output("stream", name="stdout", text=(CONDITIONS + "\n") if conditions else "hi\n"),
                   nbformat.v4.new_output("display_data", data={"image/png": png(), "text/plain": "<Figure>"})]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n*A subtitle.*"),
                nbformat.v4.new_markdown_cell("As Han et al. 2015 found, $s = \\frac{a}{b}$ and\n$$x^2$$\n" + extra_md),
                out]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture
def repo(tmp_path):
    """A repository with two of the ten notebooks, a two-module library, a bibliography and CITATION.cff."""
    root = tmp_path / "repo"
    (root / "companion" / "pkg").mkdir(parents=True)
    (root / "companion" / "__init__.py").write_text('"""The library."""\n')
    (root / "companion" / "alpha.py").write_text('"""Alpha: ``a`` * b [c]."""\nX = 1\n')
    (root / "companion" / "pkg" / "__init__.py").write_text('"""A package."""\nfrom .core import Y\n')
    (root / "companion" / "pkg" / "core.py").write_text('"""Core of the package."""\nY = 2\n')
    (root / "notebooks").mkdir()
    nbformat.write(notebook("00 · Base: one", code="from companion import alpha\nimport companion.pkg.core",
                            conditions=True), root / "notebooks" / "00_base.ipynb")
    nbformat.write(notebook("02 · Prune: two", code="import companion as cp\ncp.alpha.X", conditions=False),
                   root / "notebooks" / "02_prune.ipynb")
    (root / "references.bib").write_text(BIB)
    shutil.copy2(ROOT / "CITATION.cff", root / "CITATION.cff")
    shutil.copytree(ROOT / "book", root / "book")
    return root


def test_stage_writes_every_page(repo, tmp_path):
    src = tmp_path / "src"
    infos = stage(repo, src)
    assert [i.stem for i in infos] == ["00_base", "02_prune"]
    index = (src / "index.md").read_text()
    assert index.count("**no notebook yet**") == 8 and "{doc}`00 · Base: one <notebooks/00_base>`" in index
    assert index.index("2.1") < index.index("2.2") < index.index("2.3") < index.index("3.2")
    staged = nbformat.read(src / "notebooks" / "00_base.ipynb", as_version=4)
    header = staged.cells[1].source
    assert "{download}`00_base.ipynb <../_files/00_base.ipynb>`" in header
    assert "{doc}`companion.alpha <../library/companion.alpha>`" in header and "companion.pkg" in header
    assert f"`{CONDITIONS}`" in header
    assert "{bibref}`Han et al. 2015 <han2015learning>`" in staged.cells[2].source
    assert "no `Measurement conditions:` line" in nbformat.read(src / "notebooks" / "02_prune.ipynb",
                                                               as_version=4).cells[1].source
    assert "Not executed yet" not in header
    assert (src / "_files" / "00_base.ipynb").read_bytes() == (repo / "notebooks" / "00_base.ipynb").read_bytes()
    pkg = (src / "library" / "companion.pkg.md").read_text()
    assert pkg.index("companion/pkg/__init__.py") < pkg.index("companion/pkg/core.py")
    assert "Used by {doc}`00 · Base: one <../notebooks/00_base>`." in pkg
    assert "{download}`CITATION.cff <_files/CITATION.cff>`" in (src / "cite.md").read_text()


def test_a_notebook_committed_without_outputs_says_so(repo, tmp_path):
    nb = nbformat.read(repo / "notebooks" / "02_prune.ipynb", as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = []
    nbformat.write(nb, repo / "notebooks" / "02_prune.ipynb")
    infos = {i.stem: i for i in stage(repo, tmp_path / "src")}
    assert not infos["02_prune"].executed and infos["00_base"].executed and infos["00_base"].figures == 1
    header = nbformat.read(tmp_path / "src" / "notebooks" / "02_prune.ipynb", as_version=4).cells[1].source
    assert "Not executed yet" in header and ":class: warning not-executed" in header


def test_images_beside_a_notebook_come_along(repo, tmp_path):
    from companion.book.pages import local_images

    md = '![a](figures/a.png) ![b](https://x.org/b.png) <img src="c.png"> ![d](data:image/png;base64,xx)'
    assert local_images(md) == ["figures/a.png", "c.png"]
    (repo / "notebooks" / "figures").mkdir()
    (repo / "notebooks" / "figures" / "a.png").write_bytes(b"png")
    nb = nbformat.read(repo / "notebooks" / "00_base.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("![a](figures/a.png)"))
    nbformat.write(nb, repo / "notebooks" / "00_base.ipynb")
    stage(repo, tmp_path / "src")
    assert (tmp_path / "src" / "notebooks" / "figures" / "a.png").read_bytes() == b"png"


def test_links_to_notebooks_not_written_yet_become_plain_text():
    from companion.book.pages import unlink_missing_notebooks

    md = "See [00](00_base.ipynb), [hashing](04_hashing.ipynb#sec) and [x](other.md)."
    assert unlink_missing_notebooks(md, {"00_base.ipynb"}) == \
        "See [00](00_base.ipynb), hashing (no notebook yet) and [x](other.md)."


def test_module_files_and_escaping(repo):
    assert module_files(repo, "companion.alpha") == [repo / "companion" / "alpha.py"]
    assert [p.name for p in module_files(repo, "companion.pkg.core")] == ["__init__.py", "core.py"]
    assert module_files(repo, "companion.load_dataset") == [] and module_files(repo, "numpy.x") == []
    assert md_escape("``a`` * b [c] $d$") == "`a` \\* b \\[c\\] \\$d\\$"


def test_the_book_builds_and_a_broken_reference_or_a_missing_image_fails_it(repo, tmp_path):
    out = build(repo, tmp_path / "site")
    page = (out / "notebooks" / "00_base.html").read_text()
    assert 'class="math' in page and "bibliography.html#bib-han2015learning" in page
    assert "_static/mathjax/tex-chtml.js" in page and "cdn." not in page
    assert (out / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir(), "fonts are local"
    for broken in ("See {doc}`a page that does not exist <nowhere>`.", "![a figure](missing.png)"):
        nbformat.write(notebook("02 · Prune: two", code="x", conditions=False, extra_md=broken),
                       repo / "notebooks" / "02_prune.ipynb")
        with pytest.raises(BookError):
            build(repo, tmp_path / "broken")
