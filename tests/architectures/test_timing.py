"""Block timing: one interleaved table per condition with MAC ratios; the shuffle share; config errors."""
import pytest

from companion.architectures import SHUFFLE_ALONE, TimingConfig, shuffle_share, time_blocks


def test_time_blocks_rows_carry_speedups_and_mac_ratios():
    cfg = TimingConfig(channels=16, size=6, batches=(1,), threads=(1,), layouts=("nchw", "channels_last"),
                       blocks=("standard 3×3", "depthwise-separable 3×3", "ShuffleNet unit"), rounds=1, min_run_time=0.002)
    rows = time_blocks(cfg)
    assert len(rows) == 2 * 4
    ds = next(r for r in rows if r["block"] == "depthwise-separable 3×3")
    assert ds["mac_ratio"] == pytest.approx(1 / (1 / 16 + 1 / 9)) and ds["speedup"] > 0 and ds["threads"] == 1
    shares = shuffle_share(rows)
    assert len(shares) == 2 and all(0 < s["share"] for s in shares)
    assert all(r["macs"] == 0 for r in rows if r["block"] == SHUFFLE_ALONE)


def test_bad_timing_config_raises():
    with pytest.raises(ValueError, match="multiple of 8"):
        TimingConfig(channels=12)
    with pytest.raises(ValueError, match="groups=3 must divide"):
        TimingConfig(channels=64, groups=3)
    with pytest.raises(ValueError, match="layouts"):
        TimingConfig(layouts=("nhwc",))
    with pytest.raises(ValueError, match="include"):
        TimingConfig(blocks=("Fire",))
