"""The sparse file (relative indices) and the CSR kernel."""
import pytest
import torch
from torch import nn

from companion.models import LeNet5, LeNet300, ResNetSmall
from companion.pruning import PruneConfig, SparseLinear, load_sparse, prune_, save_sparse, to_sparse_linear


@pytest.mark.parametrize("make", [LeNet300, LeNet5, lambda: ResNetSmall(width=8)])
def test_sparse_file_round_trips_to_identical_weights(tmp_path, make):
    torch.manual_seed(0)
    model = make()
    prune_(model, PruneConfig(sparsity=0.9))
    path = save_sparse(model, tmp_path / "m.cspz")
    loaded = load_sparse(path)
    original = model.state_dict()
    assert list(loaded) == list(original)
    for k in original:
        assert loaded[k].dtype == original[k].dtype and torch.equal(loaded[k], original[k]), k
    clone = make()
    clone.load_state_dict(loaded)
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(clone.eval()(x), model.eval()(x))


def test_sparse_file_is_smaller_at_high_sparsity_and_dense_when_not(tmp_path):
    torch.manual_seed(0)
    dense = LeNet300()
    path = save_sparse(dense, tmp_path / "dense.cspz")
    assert path.stat().st_size < 1.01 * 266_610 * 4  # nothing shrinks: stored dense, small header
    prune_(dense, PruneConfig(sparsity=0.95))
    small = save_sparse(dense, tmp_path / "sparse.cspz").stat().st_size
    assert small < 266_610 * 4 / 8


def test_load_sparse_rejects_other_files(tmp_path):
    bad = tmp_path / "x.pt"
    torch.save({"a": torch.ones(2)}, bad)
    with pytest.raises(ValueError, match="not a sparse model file"):
        load_sparse(bad)


# ---------------------------------------------------------------- sparse kernels
def test_sparse_linear_matches_dense():
    torch.manual_seed(0)
    model = LeNet300()
    prune_(model, PruneConfig(sparsity=0.9))
    sparse = to_sparse_linear(model)
    assert isinstance(sparse.fc1, SparseLinear) and isinstance(model.fc1, nn.Linear)
    x = torch.randn(5, 1, 28, 28)
    torch.testing.assert_close(sparse(x), model.eval()(x), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- relative indices: edge cases (issue 11)
from companion.formats.relative import decode_relative, encode_relative  # noqa: E402


@pytest.mark.parametrize("bits", [2, 5, 8])
def test_relative_indices_at_gaps_of_exactly_base_minus_one_base_and_twice_base(bits):
    """A gap of 2^b − 1 zeros fits one index; 2^b needs one filler then index 0; 2·2^b needs two fillers."""
    base = 2 ** bits
    for gap, rel, values in [(base - 1, [0, base - 1], [1.0, 2.0]),
                             (base, [0, base - 1, 0], [1.0, 0.0, 2.0]),
                             (2 * base, [0, base - 1, base - 1, 0], [1.0, 0.0, 0.0, 2.0])]:
        flat = torch.zeros(gap + 2)
        flat[0], flat[gap + 1] = 1.0, 2.0  # a non-zero first element: relative index 0
        got_rel, got_values = encode_relative(flat, bits)
        assert got_rel.tolist() == rel and got_values.tolist() == values, gap
        assert torch.equal(decode_relative(got_rel, got_values, len(flat)), flat), gap


def test_relative_indices_of_all_zero_and_trailing_zero_tensors():
    rel, values = encode_relative(torch.zeros(100), 5)
    assert len(rel) == 0 and len(values) == 0
    assert torch.equal(decode_relative(rel, values, 100), torch.zeros(100))
    flat = torch.zeros(100)
    flat[3] = -1.0  # 96 trailing zeros cost nothing: the length is in the header
    rel, values = encode_relative(flat, 5)
    assert rel.tolist() == [3] and values.tolist() == [-1.0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int64])
def test_sparse_file_round_trips_edge_tensors(tmp_path, dtype):
    """Empty, all-zero, first-element and gap-boundary tensors, in every dtype, come back bit for bit."""
    gaps = torch.zeros(4, 66, dtype=dtype)
    gaps.view(-1)[[0, 32, 65, 130, 263]] = torch.tensor([1, 2, 3, 4, 5], dtype=dtype)  # gaps 31, 32, 64, 132
    state = {"empty": torch.empty(0, dtype=dtype), "empty2d": torch.empty(0, 5, dtype=dtype),
             "zeros": torch.zeros(30, 40, dtype=dtype), "gaps": gaps, "scalar": torch.tensor(7, dtype=dtype)}
    loaded = load_sparse(save_sparse(state, tmp_path / "e.cspz", index_bits=5))
    assert list(loaded) == list(state)
    for k, t in state.items():
        assert loaded[k].dtype == t.dtype and loaded[k].shape == t.shape and torch.equal(loaded[k], t), k


def test_sparse_file_stores_a_pruned_bfloat16_weight_sparse(tmp_path):
    torch.manual_seed(0)
    w = torch.randn(100, 100) * (torch.rand(100, 100) < 0.05)
    path = save_sparse({"w": w.to(torch.bfloat16)}, tmp_path / "b.cspz")
    assert path.stat().st_size < 100 * 100 * 2 / 4
    assert torch.equal(load_sparse(path)["w"], w.to(torch.bfloat16))


def _corrupt(data: bytes, how: str) -> bytes:
    import json
    import struct
    (hlen,) = struct.unpack("<I", data[5:9])
    header = json.loads(data[9:9 + hlen])
    if how == "short":
        return data[:7]
    if how == "truncated":
        return data[:-3]
    if how == "header":
        return data[:9] + b"}" + data[10:]
    if how == "header_length":
        return data[:5] + struct.pack("<I", len(data)) + data[9:]
    rec = next(r for r in header["tensors"] if r["format"] == "relative")
    if how == "missing_key":
        del rec["shape"]
    elif how == "entries":
        rec["entries"] += 1
    elif how == "index_overflow":
        rec["shape"] = [1, 3]  # the same indices now point past the end of the tensor
    new = json.dumps(header, separators=(",", ":")).encode()
    return data[:5] + struct.pack("<I", len(new)) + new + data[9 + hlen:]


@pytest.mark.parametrize("how", ["short", "truncated", "header", "header_length", "missing_key", "entries",
                                 "index_overflow"])
def test_load_sparse_reports_a_corrupt_file_clearly(tmp_path, how):
    torch.manual_seed(0)
    model = LeNet300()
    prune_(model, PruneConfig(sparsity=0.9))
    good = save_sparse(model, tmp_path / "m.cspz").read_bytes()
    bad = tmp_path / "bad.cspz"
    bad.write_bytes(_corrupt(good, how))
    with pytest.raises(ValueError, match=r"bad\.cspz.*corrupt"):
        load_sparse(bad)
