import nbformat
import pytest


@pytest.fixture
def make_notebook():
    """Write a small notebook: a ``parameters`` cell, then one code cell per source."""
    def make(path, params: str, *sources: str):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"),
                    nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
                    *[nbformat.v4.new_code_cell(s) for s in sources]]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        return path
    return make
