"""The summary (09_summary): every section's committed rows on one map, and the techniques chained.

``rows`` (load and check every section's rows), ``maps`` (honest axes, method families, the front across
sections, each row against its own parent), ``chain`` (distil → prune → share → Huffman on LeNet-300-100),
``guide`` (which techniques the measurements support for a given constraint).
"""
from . import chain, guide, maps, rows
from .chain import ChainConfig, ablation, identical, run_chain
from .guide import CONSTRAINTS, recommend
from .maps import draw_map, family_of, latency_axis, legend_handles, relative_to_parent, size_axis
from .rows import SECTIONS, Loaded, check_row, load_sections

__all__ = ["chain", "guide", "maps", "rows", "ChainConfig", "ablation", "identical", "run_chain", "CONSTRAINTS",
           "recommend", "draw_map", "family_of", "latency_axis", "legend_handles", "relative_to_parent", "size_axis",
           "SECTIONS", "Loaded", "check_row", "load_sections"]
