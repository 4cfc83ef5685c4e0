"""MACs against measured time, block by block: one interleaved run per (batch, threads, memory format).

For each condition every block of :data:`~.registry.BLOCKS` (and the channel shuffle alone, on the tensor it
shuffles inside the ShuffleNet unit) is timed in one ``measure.latency_table`` run against the standard 3×3,
so each block's ``speedup`` (standard time / its time, median of per-round ratios) sits beside its
``mac_ratio`` (standard MACs / its MACs). A block whose speed-up falls short of its MAC ratio runs fewer
MACs per second than the standard convolution: depthwise and grouped convolutions are memory-bound.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import measure
from .registry import BLOCKS, block_counts, make_block
from .shuffle import check_groups, shuffle

LAYOUTS = ("nchw", "channels_last")
SHUFFLE_ALONE = "channel shuffle alone"
REFERENCE = "standard 3×3"


@dataclass(frozen=True)
class TimingConfig:
    """Conditions of the block timings: every combination of ``batches`` × ``threads`` × ``layouts``.

    ``threads`` entries of ``None`` mean all usable cores. ``rounds`` and ``min_run_time`` (s) go to
    ``measure.latency_table``.
    """

    channels: int = 64
    size: int = 14
    batches: tuple[int, ...] = (1, 32)
    threads: tuple[int | None, ...] = (1, None)
    layouts: tuple[str, ...] = LAYOUTS
    blocks: tuple[str, ...] = BLOCKS
    groups: int = 4
    rounds: int = 3
    min_run_time: float = 0.05

    def __post_init__(self):
        if self.channels < 8 or self.channels % 8:
            raise ValueError(f"channels must be a positive multiple of 8 (Fire needs c/8), got {self.channels}")
        check_groups(self.channels // 4, self.groups, "channels / 4 (the ShuffleNet bottleneck)")
        if self.size < 1 or any(b < 1 for b in self.batches) or not self.batches:
            raise ValueError(f"size and batches must be positive, got size={self.size}, batches={self.batches}")
        bad = [lay for lay in self.layouts if lay not in LAYOUTS]
        if bad or not self.layouts:
            raise ValueError(f"layouts must be among {LAYOUTS}, got {self.layouts}")
        unknown = [b for b in self.blocks if b not in BLOCKS]
        if unknown or REFERENCE not in self.blocks:
            raise ValueError(f"blocks must be among {BLOCKS} and include {REFERENCE!r}, got {self.blocks}")
        if self.rounds < 1 or not self.min_run_time > 0:
            raise ValueError(f"rounds must be >= 1 and min_run_time > 0, got {self.rounds}, {self.min_run_time}")


def in_layout(module, x: torch.Tensor, layout: str):
    """``module`` and ``x`` in ``layout``: ``"nchw"`` (as they are) or ``"channels_last"`` (NHWC in memory)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "nchw":
        return module, x
    return module.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)


def block_subjects(config: TimingConfig, batch: int, layout: str, seed: int = 0) -> tuple[dict, dict, torch.Tensor]:
    """``({label: module or callable}, {label: its own input}, the shared input)`` for one condition."""
    g = torch.Generator().manual_seed(seed)
    c, s = config.channels, config.size
    x = torch.randn(batch, c, s, s, generator=g)
    models, inputs = {}, {}
    for name in config.blocks:
        torch.manual_seed(seed)
        models[name], xin = in_layout(make_block(name, c, groups=config.groups).eval(), x, layout)
    if "ShuffleNet unit" in config.blocks:  # the shuffle alone, on the unit's bottleneck tensor
        models[SHUFFLE_ALONE] = lambda t, gr=config.groups: shuffle(t, gr)
        inputs[SHUFFLE_ALONE] = in_layout(torch.nn.Identity(), torch.randn(batch, c // 4, s, s, generator=g), layout)[1]
    return models, inputs, xin


def time_blocks(config: TimingConfig, seed: int = 0) -> list[dict]:
    """One row per block and condition: ms, speed-up over the standard 3×3 (interleaved) and the MAC ratio."""
    counts = {name: block_counts(name, config.channels, config.size, config.size, groups=config.groups)
              for name in config.blocks}
    rows = []
    for batch in config.batches:
        for layout in config.layouts:
            models, inputs, x = block_subjects(config, batch, layout, seed)
            for threads in config.threads:
                table = measure.latency_table(models, x, reference=REFERENCE, rounds=config.rounds,
                                              min_run_time=config.min_run_time, threads=threads, inputs=inputs)
                for r in table:
                    macs = counts.get(r["model"])
                    rows.append({**r, "block": r["model"], "layout": layout, "macs": macs.macs * batch if macs else 0,
                                 "mac_ratio": counts[REFERENCE].macs / macs.macs if macs else None})
    return rows


def shuffle_share(rows: list[dict]) -> list[dict]:
    """Per condition: the channel shuffle's time as a share of the ShuffleNet unit's, and the unit's time with the
    shuffle over its time without (both from the same interleaved run)."""
    key = lambda r: (r["batch_size"], r["threads"], r["layout"])
    by = {}
    for r in rows:
        by.setdefault(key(r), {})[r["block"]] = r
    out = []
    for (batch, threads, layout), blocks in by.items():
        if SHUFFLE_ALONE in blocks and "ShuffleNet unit" in blocks:
            unit = blocks["ShuffleNet unit"]["ms"]
            no = blocks.get("ShuffleNet unit, no shuffle", {}).get("ms")
            out.append({"batch_size": batch, "threads": threads, "layout": layout, "unit_ms": unit,
                        "shuffle_ms": blocks[SHUFFLE_ALONE]["ms"], "share": blocks[SHUFFLE_ALONE]["ms"] / unit,
                        "with_over_without": unit / no if no else None})
    return out
