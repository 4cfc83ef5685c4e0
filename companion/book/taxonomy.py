"""The survey's taxonomy in survey order, and which notebook covers each section.

Berthelier et al. (2020) split the field in two: compression techniques (§2) and architecture optimization
(§3), then discuss them together (§4). The landing page of the book lists every section in that order,
whether or not its notebook exists yet; notebooks are matched by their number (``04_*.ipynb`` for §2.2).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Section:
    """One entry of the taxonomy: survey section number, title, notebook number, what the notebook shows."""

    number: str
    title: str
    notebook: str
    summary: str


@dataclass(frozen=True)
class Part:
    """A group of sections, as in the survey's outline (and a part for the notebook that precedes it)."""

    title: str
    sections: tuple[Section, ...]


TAXONOMY = (
    Part("Before the survey: one way to measure", (
        Section("–", "Baselines and the measurement protocol", "00",
                "LeNet-300-100, LeNet-5 and a small ResNet: accuracy, parameters, bytes, MACs, latency"),
    )),
    Part("2 · Compression techniques", (
        Section("2.1", "Knowledge distillation", "01", "a small student learns from a large teacher"),
        Section("2.2", "Hashing", "04", "connections share weights through a hash function (HashedNets)"),
        Section("2.3", "Pruning", "02", "magnitude, second-order and filter pruning; sparse files and kernels"),
        Section("2.4", "Quantization", "03", "k-means weight sharing, uniform quantizers, real int8 engines"),
        Section("2.5", "Reduction of numerical precision", "05",
                "fixed point and low-precision floats (fp16, bf16), stochastic rounding"),
        Section("2.6", "Binarization", "06", "1-bit weights and activations, XNOR and popcount"),
    )),
    Part("3 · Architecture optimization", (
        Section("3.1", "Architecture overview", "07", "Fire modules, depthwise-separable and group convolutions"),
        Section("3.2", "Neural architecture search", "08", "searching an architecture under a budget"),
    )),
    Part("4 · Discussion", (
        Section("4", "Discussion and conclusion", "09", "every method side by side, from the committed results"),
    )),
)


def number_of(notebook: Path) -> str:
    """The number a notebook file starts with: ``"04"`` for ``04_hashing.ipynb``."""
    return Path(notebook).stem.split("_", 1)[0]


def find_notebooks(folder: Path) -> list[Path]:
    """The section notebooks in ``folder``: ``[0-9]*.ipynb``, sorted by name."""
    return sorted(p for p in Path(folder).glob("[0-9]*.ipynb") if ".partial" not in p.name)


def assign(notebooks: list[Path]) -> tuple[list[tuple[Part, list[tuple[Section, Path | None]]]], list[Path]]:
    """Pair every section with its notebook (``None`` when there is none yet); return the pairs and the rest.

    Two notebooks with one number are an error: the book could show only one of them.
    """
    by_number: dict[str, Path] = {}
    for nb in notebooks:
        n = number_of(nb)
        if n in by_number:
            raise ValueError(f"two notebooks share the number {n}: {by_number[n].name} and {nb.name}")
        by_number[n] = nb
    parts = [(part, [(s, by_number.pop(s.notebook, None)) for s in part.sections]) for part in TAXONOMY]
    return parts, sorted(by_number.values())


def ordered(notebooks: list[Path]) -> list[Path]:
    """The notebooks in survey order (the taxonomy's), then any others by name."""
    parts, others = assign(notebooks)
    return [nb for _, pairs in parts for _, nb in pairs if nb is not None] + others
