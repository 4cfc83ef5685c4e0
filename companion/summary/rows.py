"""Where the summary's rows come from: each section notebook's committed rows, checked for what they say.

Every section notebook's committed run writes its tidy rows to ``notebooks/results/<notebook>.json``
(``make notebooks`` refreshes them); the summary reads those by default, or any folder of results (the
output of ``make run`` or of a sweep). A missing section is listed and skipped; a corrupt file or a row
with an unknown kind is reported with its file, never silently dropped into a plot.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..results import LATENCY_KINDS, SCHEMA, SIZE_KINDS, SPEEDUP_KINDS, read_rows

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "notebooks" / "results"
SECTIONS = ("00_baseline", "01_distillation", "02_pruning", "03_quantization", "04_hashing", "05_precision",
            "06_binarization", "07_architectures", "08_nas")
KINDS = {"size_kind": (None, *SIZE_KINDS), "latency_kind": LATENCY_KINDS, "speedup_kind": SPEEDUP_KINDS}


@dataclass
class Loaded:
    """The rows found, and what was missing or wrong: ``missing`` sections, ``problems`` (file: message),
    ``extra_columns`` (columns beyond the schema, kept as settings)."""

    rows: list[dict]
    present: list[str]
    missing: list[str]
    problems: dict[str, str] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)

    def frame(self):
        import pandas as pd
        return pd.DataFrame(self.rows)

    def report(self) -> str:
        lines = [f"sections with rows: {', '.join(self.present) or 'none'}"]
        if self.missing:
            lines.append(f"missing (skipped): {', '.join(self.missing)}")
        lines += [f"skipped {name}: {msg}" for name, msg in self.problems.items()]
        return "\n".join(lines)


def check_row(row: dict) -> None:
    """Raise ``ValueError`` naming the column when a row lacks a schema column or has an unknown kind."""
    missing = [c for c in SCHEMA if c not in row]
    if missing:
        raise ValueError(f"row {row.get('method')!r} lacks schema columns {missing}")
    for column, allowed in KINDS.items():
        if row[column] not in allowed:
            raise ValueError(f"row {row.get('method')!r} has {column}={row[column]!r}; allowed: {allowed}")


def load_sections(folder=None, sections=SECTIONS) -> Loaded:
    """The rows of every section in ``folder`` (default: the committed ``notebooks/results/``).

    A section's rows are ``<folder>/<section>.json``. A missing file is listed in ``missing``; a file that is
    not valid JSON, or holds a row that lacks a schema column or has an unknown kind, is skipped whole and
    named in ``problems``.
    """
    folder = Path(folder) if folder is not None else COMMITTED
    if not folder.is_dir():
        raise FileNotFoundError(f"no results folder at {folder}; run `make notebooks` (committed rows) or "
                                "`make run` (results/), or name a sweep's output folder")
    rows, present, missing, problems, extra = [], [], [], {}, set()
    for name in sections:
        path = folder / f"{name}.json"
        if not path.exists():
            missing.append(name)
            continue
        try:
            found = read_rows(path)
            for r in found:
                check_row(r)
        except ValueError as e:
            problems[name] = str(e)
            continue
        if not found:
            problems[name] = f"{path} holds no result rows"
            continue
        present.append(name)
        extra |= {k for r in found for k in r if k not in SCHEMA}
        rows += [{**r, "notebook": name} for r in found]
    return Loaded(rows, present, missing, problems, sorted(extra))
