"""Real low-precision files: exact round trips, the bytes each format costs, and the bit packer."""
import pytest
import torch
from torch import nn

from companion.measure import size_bytes
from companion.precision import FORMATS, dynamic_fixed_point, get_format, static_fixed_point
from companion.precision.storage import (CONTAINER, load_state_dict, pack_codes, quantize_state_dict, save_model,
                                         unpack_codes)


def small_model(seed=0):
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Linear(200, 300), nn.BatchNorm1d(300), nn.Linear(300, 10))
    with torch.no_grad():
        m[1].running_var.uniform_(0.5, 3.0)
        m[1].running_mean.normal_()
    return m


NAMES = ["fp32", "fp16", "bf16", "e5m2", "e4m3fn", "e4m3", "e3m4", "e3m2", "e2m3", "e2m1", "e4m3fn-scaled",
         "e2m1-scaled", "fixed<8,6>", "fixed<12,10>", "fixed<6,4>", "dfp<16>", "dfp<12>", "dfp<8>", "dfp<6>", "dfp<4>",
         "dfp<3>"]


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_is_exact(name, tmp_path):
    m = small_model()
    fmt = get_format(name)
    path = save_model(m, tmp_path / "m.pt", fmt)
    back = load_state_dict(path)
    expected = quantize_state_dict(m.state_dict(), fmt)
    assert back.keys() == expected.keys()
    for k, v in expected.items():
        assert back[k].dtype == v.dtype and torch.equal(back[k], v), k
    assert back["1.num_batches_tracked"].dtype == torch.int64
    clone = small_model(1)
    clone.load_state_dict(back)  # a float32 model takes the decoded file directly


def test_static_fixed_point_round_trip(tmp_path):
    m = small_model()
    fmt = static_fixed_point([v for v in m.state_dict().values() if v.is_floating_point()], 6)
    back = load_state_dict(save_model(m, tmp_path / "s.pt", fmt))
    assert all(torch.equal(back[k], v) for k, v in quantize_state_dict(m.state_dict(), fmt).items())


def test_stochastic_rounding_files_are_exact_and_seeded(tmp_path):
    m = small_model()
    a = load_state_dict(save_model(m, tmp_path / "a.pt", "fixed<8,6>", "stochastic", torch.Generator().manual_seed(1)))
    b = load_state_dict(save_model(m, tmp_path / "b.pt", "fixed<8,6>", "stochastic", torch.Generator().manual_seed(1)))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["0.weight"], quantize_state_dict(m.state_dict(), get_format("fixed<8,6>"))["0.weight"])


def test_bytes_follow_the_bits(tmp_path):
    m = small_model()
    n = sum(v.numel() for v in m.state_dict().values() if v.is_floating_point())
    size = {name: size_bytes(save_model(m, tmp_path / f"{name}.pt", name)).bytes
            for name in ["fp32", "fp16", "bf16", "e4m3fn", "dfp<12>", "dfp<8>", "e3m2", "e2m1"]}
    assert abs(size["fp16"] / size["fp32"] - 0.5) < 0.02 and size["bf16"] == size["fp16"]
    for name, bits in [("e4m3fn", 8), ("dfp<12>", 12), ("dfp<8>", 8), ("e3m2", 6), ("e2m1", 4)]:
        payload = n * bits / 8
        assert payload <= size[name] < payload + 4096, (name, size[name], payload)  # codes + a small container
    assert size["e2m1"] < size["e3m2"] < size["dfp<8>"] < size["dfp<12>"] < size["fp16"]


def test_plain_cast_files_are_state_dicts_of_the_dtype(tmp_path):
    m = small_model()
    raw = torch.load(save_model(m, tmp_path / "h.pt", "fp16"), weights_only=True)
    assert raw["0.weight"].dtype == torch.float16 and "container" not in raw
    raw8 = torch.load(save_model(m, tmp_path / "f8.pt", FORMATS["e4m3fn"]), weights_only=True)
    assert raw8["0.weight"].dtype == torch.float8_e4m3fn
    box = torch.load(save_model(m, tmp_path / "d.pt", dynamic_fixed_point(8)), weights_only=True)
    assert box["container"] == CONTAINER and box["entries"]["0.weight"]["codes"].dtype == torch.int8


@pytest.mark.parametrize("bits", [1, 3, 4, 6, 7, 12, 13, 16, 24])
def test_pack_codes_round_trip(bits):
    codes = torch.randint(0, 2 ** bits, (1001,), generator=torch.Generator().manual_seed(bits))
    packed = pack_codes(codes, bits)
    assert packed.dtype == torch.uint8 and packed.numel() == -(-1001 * bits // 8)
    assert torch.equal(unpack_codes(packed, bits, 1001), codes)


def test_pack_codes_lsb_first():
    assert pack_codes(torch.tensor([1, 2, 3]), 2).tolist() == [0b00111001]
    assert pack_codes(torch.tensor([0xABC, 0x123]), 12).tolist() == [0xBC, 0x3A, 0x12]


def test_bad_codes():
    with pytest.raises(ValueError, match="codes must be in"):
        pack_codes(torch.tensor([4]), 2)
    with pytest.raises(ValueError, match="bits must be"):
        pack_codes(torch.tensor([1]), 0)
    with pytest.raises(ValueError, match="cannot hold"):
        unpack_codes(torch.zeros(1, dtype=torch.uint8), 4, 3)
    with pytest.raises(ValueError, match="unknown format"):
        save_model(small_model(), "/tmp/never-written.pt", "fp12")
