"""LSH neuron selection: SimHash codes, same-size controls, the gather kernel, the multiplication count."""
import pytest
import torch

from companion.hashing import (LSHMLP, GatherLSH, active_fraction, calibrate_tables, multiplications, simhash_codes,
                               top_count_mask)


def test_simhash_codes_match_the_sign_bits():
    v, p = torch.randn(5, 4), torch.randn(2, 3, 4)
    codes = simhash_codes(v, p)
    n, t = 3, 1
    bits = [(p[t, b] @ v[n] > 0).item() for b in range(3)]
    assert codes[n, t] == sum(int(bit) << b for b, bit in enumerate(bits))
    assert torch.equal(simhash_codes(2 * v, p), codes)  # scale-invariant: a cosine hash


def test_top_count_mask_keeps_exactly_the_counts():
    s = torch.tensor([[0.1, 0.9, 0.5, 0.3], [4.0, 3.0, 2.0, 1.0]])
    m = top_count_mask(s, torch.tensor([2, 1]))
    assert m.tolist() == [[False, True, True, False], [True, False, False, False]]


def test_controls_select_as_many_neurons_as_lsh_and_topk_keeps_the_largest():
    torch.manual_seed(0)
    model = LSHMLP(width=64, bits=3, tables=2).eval()
    x = torch.randn(6, 784)
    z = model.fc1(x)
    lsh = model.lsh_mask(x)
    for sel in ("random", "topk"):
        model.selection = sel
        m = model.active_mask(x, z)
        assert torch.equal(m.sum(1), lsh.sum(1))
    kept = z.masked_fill(~m, float("inf")).min(1).values
    dropped = z.masked_fill(m, float("-inf")).max(1).values
    assert torch.all(kept[m.sum(1) > 0] >= dropped[m.sum(1) > 0])


def test_gather_kernel_equals_masked_forward():
    torch.manual_seed(1)
    model = LSHMLP(width=128, bits=4, tables=3).eval()
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(GatherLSH(model)(x), model(x), atol=1e-5)
        assert torch.allclose(GatherLSH(model)(x[:1]), model(x[:1]), atol=1e-5)


def test_calibration_lands_near_the_target_and_more_tables_select_more():
    torch.manual_seed(2)
    model = LSHMLP(width=512, bits=6, tables=1).eval()
    x = torch.randn(32, 784)
    one = float(active_fraction(model, x).mean())
    tables = calibrate_tables(model, x, 0.1, max_tables=20)
    assert model.projections.shape[0] == tables
    assert abs(float(active_fraction(model, x).mean()) - 0.1) < 0.03 and tables > 1 and one < 0.1


def test_multiplications_count_the_hashing():
    model = LSHMLP(width=1024, bits=6, tables=4)
    m = multiplications(model, active=50)
    assert m["dense"] == 784 * 1024 + 1024 * 10
    assert m["hashing"] == 4 * 6 * 785 and m["lsh"] == m["hashing"] + 50 * 794


def test_training_rehashes_and_bad_input_raises():
    model = LSHMLP(width=32, bits=2, tables=2, rehash_every=1)
    model.train()
    model(torch.randn(4, 784)).sum().backward()
    assert model.codes.shape == (2, 32) and model.fc1.weight.grad is not None
    with pytest.raises(ValueError, match="selection"):
        model.selection = "all"
    with pytest.raises(ValueError):
        LSHMLP(bits=0)
    with pytest.raises(ValueError, match="target"):
        calibrate_tables(model, torch.randn(2, 784), 1.5)
