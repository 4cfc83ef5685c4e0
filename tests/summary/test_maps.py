"""Honest axes: analytic sizes never on the bytes axis, one latency protocol per axis, rows against their parent."""
import numpy as np
import pandas as pd
import pytest

from companion.summary import family_of, latency_axis, relative_to_parent, size_axis


def frame():
    return pd.DataFrame([
        {"method": "lenet300", "base_model": "lenet300", "accuracy": 0.84, "size_bytes": 1000, "size_kind": "file",
         "latency_ms": 1.0, "latency_kind": "measured", "latency_batch": 1, "threads": 2, "speedup": None,
         "speedup_kind": "none", "section": "00_baseline"},
        {"method": "magnitude", "base_model": "lenet300", "accuracy": 0.83, "size_bytes": 100, "size_kind": "file",
         "latency_ms": 0.5, "latency_kind": "measured", "latency_batch": 1, "threads": 2, "speedup": 2.0,
         "speedup_kind": "measured", "section": "02_pruning"},
        {"method": "W2 analytic", "base_model": "lenet300", "accuracy": 0.80, "size_bytes": 60, "size_kind": "analytic",
         "latency_ms": 0.4, "latency_kind": "measured", "latency_batch": 64, "threads": 2, "speedup": 16.0,
         "speedup_kind": "analytic", "section": "03_quantization"},
        {"method": "no latency", "base_model": "lenet5", "accuracy": 0.83, "size_bytes": 50, "size_kind": "file",
         "latency_ms": None, "latency_kind": "none", "latency_batch": None, "threads": None, "speedup": None,
         "speedup_kind": "none", "section": "02_pruning"},
    ])


def test_no_analytic_size_on_the_bytes_axis():
    keep, dropped = size_axis(frame())
    assert "analytic" not in set(keep["size_kind"]) and dropped == 1 and len(keep) == 3


def test_one_latency_protocol_per_axis():
    keep, dropped, (batch, threads) = latency_axis(frame())
    assert (batch, threads) == (1, 2) and list(keep["method"]) == ["lenet300", "magnitude"] and dropped == 2
    keep64, _, _ = latency_axis(frame(), batch=64, threads=2)
    assert list(keep64["method"]) == ["W2 analytic"]


def test_each_row_against_its_own_parent():
    parents = {"lenet300": {"accuracy": 0.84, "size_bytes": 1000}}
    rel = relative_to_parent(frame(), parents).set_index("method")
    assert rel.loc["magnitude", "compression"] == pytest.approx(10.0)
    assert rel.loc["magnitude", "delta_accuracy"] == pytest.approx(-1.0)
    assert np.isnan(rel.loc["W2 analytic", "compression"]), "an analytic size is no compression ratio of a file"
    assert "no latency" not in rel.index, "a row whose parent is unknown is left out"


@pytest.mark.parametrize("method,family", [("mlp kd", "distillation"), ("resnet_small int8 (x86)", "int8"),
                                           ("lenet300 Deep Compression: huffman", "weight sharing"),
                                           ("HashedNets 1/64", "hashing"), ("fp16", "precision"), ("xnor", "binarization"),
                                           ("L1 filter pruning 50%", "structured pruning"), ("magnitude 90% sparse", "pruning")])
def test_families(method, family):
    assert family_of({"method": method}) == family
    assert family_of({"method": method, "family": "mine"}) == "mine"


@pytest.mark.parametrize("missing", [None, float("nan"), ""])
def test_a_missing_family_setting_falls_back_to_the_method(missing):
    """A frame of several sections has a ``family`` column that is NaN for rows without the setting."""
    import pandas as pd
    assert family_of({"method": "dynamic fixed point", "family": missing}) == "precision"
    assert family_of(pd.Series({"method": "xnor", "family": missing})) == "binarization"
