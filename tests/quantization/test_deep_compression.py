"""companion.quantization.deep_compression: the shared-weight codes and the packed / Huffman files."""
import numpy as np
import pytest
import torch
from torch import nn

from companion.measure import size_bytes
from companion.models import LeNet300
from companion.pruning import sparsity_of
from companion.quantization.deep_compression import (DeepCompressionConfig, decode_shared, encode_shared,
                                                     load_compressed, prune_retrain_, read_compressed, save_compressed,
                                                     share_retrain_)


def shared_weight(shape=(50, 80), sparsity=0.9, k=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    codebook = torch.randn(k, generator=g)
    w = codebook[torch.randint(0, k, shape, generator=g)]
    return w * (torch.rand(shape, generator=g) >= sparsity), codebook


def test_encode_shared_by_hand():
    w = torch.tensor([[0.0, 0.5, 0.0, 0.0, -1.0, 0.5]])
    rel, codes, codebook = encode_shared(w, index_bits=2)
    assert codebook.tolist() == [-1.0, 0.5]
    assert rel.tolist() == [1, 2, 0] and codes.tolist() == [2, 1, 2]  # gaps before each non-zero


def test_filler_entries_get_code_zero():
    w = torch.zeros(1, 12)
    w[0, 10] = 3.0
    rel, codes, codebook = encode_shared(w, index_bits=2)  # a gap of 10 zeros needs 2 fillers of 4
    assert rel.tolist() == [3, 3, 2] and codes.tolist() == [0, 0, 1]
    assert torch.equal(decode_shared(rel, codes, codebook, 12), w.flatten())


@pytest.mark.parametrize("coding", ["packed", "huffman"])
def test_file_round_trip_is_exact(coding, tmp_path):
    w, _ = shared_weight()
    sd = {"fc.weight": w, "fc.bias": torch.randn(50)}
    path = save_compressed(sd, tmp_path / f"m.{coding}", coding)
    back = load_compressed(path)
    assert list(back) == list(sd) and all(torch.equal(back[k], sd[k]) for k in sd)


def test_huffman_file_is_smaller_and_decodes_the_same_codes(tmp_path):
    w, _ = shared_weight(shape=(200, 300), sparsity=0.92)
    packed = save_compressed({"w": w}, tmp_path / "p", "packed")
    huff = save_compressed({"w": w}, tmp_path / "h", "huffman")
    a, b = read_compressed(packed)["w"], read_compressed(huff)["w"]
    assert np.array_equal(a["codes"], b["codes"]) and np.array_equal(a["rel"], b["rel"])
    assert size_bytes(huff).bytes < size_bytes(packed).bytes < w.numel() * 4 / 10


def test_dense_fallback_for_unshared_tensors(tmp_path):
    sd = {"w": torch.randn(20, 30)}  # 600 distinct values: stored as float32
    path = save_compressed(sd, tmp_path / "d", max_codebook=256)
    assert read_compressed(path)["w"]["kind"] == "dense" and torch.equal(load_compressed(path)["w"], sd["w"])


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="coding must be one of"):
        save_compressed({}, tmp_path / "x", coding="zip")
    with pytest.raises(ValueError, match="not a Deep Compression file"):
        (tmp_path / "y").write_bytes(b"nope")
        read_compressed(tmp_path / "y")
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\), got 1.5"):
        DeepCompressionConfig(sparsity=1.5)
    with pytest.raises(ValueError, match=r"bits must be in \[1, 8\].*got 0"):
        DeepCompressionConfig(bits=0)


def test_pipeline_on_tiny_data(tmp_path):
    torch.manual_seed(0)
    x, y = torch.randn(256, 1, 28, 28), torch.randint(0, 10, (256,))
    data = torch.utils.data.TensorDataset(x, y)
    model = LeNet300()
    cfg = DeepCompressionConfig(sparsity=0.9, prune_epochs=1, bits=3, share_epochs=1)
    prune_retrain_(model, data, cfg)
    layers = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    assert sparsity_of(layers) == pytest.approx(0.9, abs=1e-3)
    codebooks = share_retrain_(model, data, cfg)
    for w in layers:
        assert len(torch.unique(w[w != 0])) <= 7  # 2**3 - 1 centroids
    assert set(codebooks) == {"fc1", "fc2", "fc3"}
    path = save_compressed(model, tmp_path / "lenet.dc")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in load_compressed(path).items())
    assert size_bytes(path).bytes * 20 < size_bytes(LeNet300()).bytes


def test_unknown_scope_raises():
    with pytest.raises(ValueError, match="scope must be one of"):
        DeepCompressionConfig(scope="row")
