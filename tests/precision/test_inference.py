"""Formats at inference: the format list of a model, a real file scored, and the per-tensor range table."""
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from companion.precision import FAMILIES, evaluate_format, get_format, model_formats, reference_casts, tensor_ranges
from companion.precision.inference import fractional_length, minifloat_names


def two_layer(seed=0):
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 4))
    with torch.no_grad():
        m[0].weight.mul_(8.0)  # one tensor with a range 8x the other's
    return m


def test_model_formats_lists_every_family():
    m = two_layer()
    pairs = model_formats(m, minifloats=["e4m3fn", "e2m1"], fixed_bits=[8, 4])
    names = [f.name for _, f in pairs]
    assert names[:3] == ["fp32", "fp16", "bf16"] and "e2m1-scaled" in names and "dfp<4>" in names
    assert {fam for fam, _ in pairs} == set(FAMILIES)
    static8 = next(f for fam, f in pairs if fam == "fixed point (static)" and f.bits == 8)
    biggest = max(t.abs().max().item() for t in m.state_dict().values())
    assert static8.quantize(torch.tensor([biggest])).item() == pytest.approx(biggest, rel=2 ** -6)
    assert len(model_formats(m, minifloats=["e4m3fn"], scaled=False)) == 4


def test_evaluate_format_writes_a_real_file(tmp_path):
    m = two_layer()
    x = torch.randn(64, 20, generator=torch.Generator().manual_seed(0))
    data = TensorDataset(x, m(x).argmax(1).detach())
    fp32 = evaluate_format(m, get_format("fp32"), data, tmp_path, "toy")
    dfp4 = evaluate_format(m, get_format("dfp<4>"), data, tmp_path, "toy")
    assert fp32["accuracy"] == 1.0 and 0 <= dfp4["accuracy"] <= 1
    assert (tmp_path / "toy.dfp4.pt").exists() and dfp4["size_bytes"] < fp32["size_bytes"] / 1.5  # tiny model: the container dominates
    assert m[0].weight.dtype == torch.float32  # the model itself is untouched


def test_tensor_ranges_show_what_static_fixed_point_erases():
    rows = {r["tensor"]: r for r in tensor_ranges(two_layer(), 4)}
    big, small = rows["0.weight"], rows["2.weight"]
    assert big["static_fl"] == big["dynamic_fl"]  # the largest tensor sets the static range
    assert small["dynamic_fl"] > small["static_fl"]
    assert small["zeroed_static"] > small["zeroed_dynamic"]
    with pytest.raises(ValueError, match="scaled fixed-point"):
        fractional_length(get_format("fp16"), torch.ones(2))


def test_reference_casts_and_names():
    x = torch.tensor([0.1, 1.3, -2.7])
    casts = reference_casts(x, get_format("e4m3fn"))
    assert set(casts) == {"torch", "ml_dtypes"} and torch.equal(casts["torch"], casts["ml_dtypes"])
    assert set(reference_casts(x, get_format("e2m1"))) == {"ml_dtypes"}
    assert "e2m1" in minifloat_names() and "fp16" not in minifloat_names()
