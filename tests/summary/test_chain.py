"""The chain on tiny data: every stage a real file, the final file decodes bit for bit, bad settings refused."""
import pytest
import torch

from companion import distillation as kd
from companion.data import load_dataset, subset
from companion.models import LeNet300
from companion.summary import ChainConfig, ablation, identical, run_chain
from companion.summary.guide import recommend


def test_chain_on_tiny_data(tmp_path):
    splits = load_dataset()
    small = type(splits)(splits.name, subset(splits.train, 256), subset(splits.test, 200), splits.classes)
    torch.manual_seed(0)
    dense = LeNet300()
    teacher_logits = torch.randn(256, 10, generator=torch.Generator().manual_seed(0))
    cfg = ChainConfig(student_epochs=1, prune_epochs=1, share_epochs=1, bits=3, sparsity=0.8)
    before = torch.random.get_rng_state()
    stages, final, decoded = run_chain(dense, small, cfg, teacher_logits, workdir=tmp_path)
    assert torch.equal(before, torch.random.get_rng_state()), "the chain must not consume the global RNG"
    assert [s["stage"] for s in stages] == ["dense", "distilled", "pruned", "shared", "huffman"]
    sizes = {s["stage"]: s["bytes"] for s in stages}
    assert sizes["huffman"] < sizes["shared"] < sizes["pruned"] < sizes["dense"]
    assert all((tmp_path / p.split("/")[-1]).exists() for p in [s["path"] for s in stages])
    assert identical(final.state_dict(), decoded.state_dict())
    assert stages[-1]["sparsity"] >= 0.8 - 1e-3
    ce, _, _ = run_chain(dense, small, ablation(cfg), workdir=tmp_path)
    assert [s["stage"] for s in ce] == ["dense", "pruned", "shared", "huffman"]


def test_identical_sees_one_changed_bit():
    a = LeNet300().state_dict()
    b = {k: v.clone() for k, v in a.items()}
    assert identical(a, b)
    b["fc3.bias"][0] = torch.nextafter(b["fc3.bias"][0], torch.tensor(1.0))
    assert not identical(a, b)


@pytest.mark.parametrize("kwargs,match", [({"sparsity": 1.0}, "sparsity must be in"), ({"bits": 9}, "bits must be in"),
                                          ({"prune_epochs": 0}, "prune_epochs >= 1"), ({"temperature": 0}, "temperature"),
                                          ({"sparsity": 0.0}, "sparsity must be in"), ({"bits": 1}, "bits must be in"),
                                          ({"student_epochs": 0}, "student_epochs must be"), ({"scope": "row"}, "scope")])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ChainConfig(**kwargs)


def test_distillation_needs_the_teacher():
    splits = load_dataset()
    with pytest.raises(ValueError, match="needs teacher_logits"):
        run_chain(LeNet300(), splits, ChainConfig(student_epochs=1), None)


def test_guide_recommends_only_supported_rows():
    import pandas as pd
    rel = pd.DataFrame([
        {"family": "int8", "section": "03", "method": "int8 (x86)", "base_model": "resnet_small", "delta_accuracy": -0.3,
         "compression": 3.7, "speedup": 2.0, "speedup_kind": "measured", "size_kind": "file"},
        {"family": "pruning", "section": "02", "method": "magnitude 95%", "base_model": "lenet300", "delta_accuracy": -4.0,
         "compression": 15.0, "speedup": 1.2, "speedup_kind": "measured", "size_kind": "file"},
        {"family": "weight sharing", "section": "03", "method": "Deep Compression", "base_model": "lenet300",
         "delta_accuracy": -0.5, "compression": 40.0, "speedup": None, "speedup_kind": "none", "size_kind": "file"},
    ])
    flash = recommend(rel, "flash size")
    assert list(flash["method"]) == ["Deep Compression", "int8 (x86)"], "the 4-point loss is over the budget"
    assert list(recommend(rel, "RAM at run time")["family"]) == ["int8"]
    assert list(recommend(rel, "latency on a CPU")["method"]) == ["int8 (x86)"]
    assert recommend(rel, "no training data").empty
    with pytest.raises(ValueError, match="unknown constraint"):
        recommend(rel, "battery")


def test_guide_knows_a_family_by_its_first_word():
    """03 names its int8 families per engine ("int8 (x86)"): they run compressed and need no retraining."""
    import pandas as pd
    rel = pd.DataFrame([{"family": "int8 (onednn)", "section": "03", "method": "resnet_small int8 (onednn)",
                         "base_model": "resnet_small", "delta_accuracy": 0.0, "compression": 3.7, "speedup": 2.0,
                         "speedup_kind": "measured", "size_kind": "file"}])
    assert list(recommend(rel, "RAM at run time")["method"]) == ["resnet_small int8 (onednn)"]
    assert list(recommend(rel, "no retraining possible")["method"]) == ["resnet_small int8 (onednn)"]
