"""The book: a static, offline HTML site of the committed notebooks (``make book``; see README)."""
from .build import BookError, build
from .cite import BibEntry, citation_index, link_cell, link_citations, read_bib
from .notebook import CONDITIONS_PREFIX, NotebookInfo, read_notebook
from .pages import stage
from .taxonomy import TAXONOMY, Part, Section, assign, find_notebooks, ordered

__all__ = ["BookError", "build", "BibEntry", "citation_index", "link_cell", "link_citations", "read_bib",
           "CONDITIONS_PREFIX", "NotebookInfo", "read_notebook", "stage", "TAXONOMY", "Part", "Section", "assign",
           "find_notebooks", "ordered"]
