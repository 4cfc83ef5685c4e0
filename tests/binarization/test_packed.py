"""The packed model: exact outputs, real file sizes, the converter and the time breakdown."""
import pytest
import torch
import torch.nn.functional as F

from companion.binarization import BinarizeConfig, BinaryNet, sign
from companion.binarization import packed as pk


# ---------------------------------------------------------------- converter and packed file
def _trained_like(method, **kw):
    torch.manual_seed(1)
    model = BinaryNet(BinarizeConfig(method, **kw), channels=(70, 66), hidden=64)
    with torch.no_grad():  # non-trivial batch-norm statistics
        for bn in (model.bn1, model.bn2, model.bn3):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("method,kw", [("bnn", {}), ("xnor", {}), ("binaryconnect", {}), ("ternary", {}),
                                       ("bwn", {}), ("bnn", {"binarize_first_last": True})])
def test_packed_model_reproduces_binary_model_exactly(method, kw, tmp_path):
    model = _trained_like(method, **kw)
    packed = pk.to_packed(model)
    x = torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(packed(x), model(x))
    pk.save_packed(pk.to_packed(_trained_like("ternary")), tmp_path / "packed")  # stale files get replaced
    folder = pk.save_packed(packed, tmp_path / "packed")
    with torch.no_grad():
        assert torch.equal(pk.load_packed(folder)(x), model(x))
    expected = {f"{n}.{k}.npy" for n, m in pk.packed_layers(packed).items() for k in m.planes}
    expected |= {f"{k}.npy" for k in packed.state_dict()} | {"meta.json"}
    assert {p.name for p in folder.iterdir()} == expected


def test_packed_weights_are_about_32x_smaller(tmp_path):
    model = _trained_like("xnor")
    packed = pk.to_packed(model)
    assert packed.conv2.xnor and packed.fc3.xnor and not isinstance(packed.fc4, pk.PackedLayer)
    folder = pk.save_packed(packed, tmp_path / "p")
    fp32 = pk.save_arrays({"fc3.weight": model.fc3.weight}, tmp_path / "f")
    ratio = (fp32 / "fc3.weight.npy").stat().st_size / (folder / "fc3.sign.npy").stat().st_size
    assert 30 < ratio <= 32
    assert sorted(p.name for p in folder.glob("conv2.*")) == ["conv2.scale.npy", "conv2.sign.npy"]


def test_packed_integer_output_and_converter_errors(tmp_path):
    model = _trained_like("bnn")
    layer = pk.to_packed(model).conv2
    x = torch.randn(2, 70, 14, 14)
    ref = F.conv2d(sign(x), sign(model.conv2.weight), stride=2, padding=1)
    assert torch.equal(layer.integer_output(x).float(), ref)
    with pytest.raises(ValueError, match="no binarized layers"):
        pk.to_packed(torch.nn.Linear(3, 3))
    with pytest.raises(FileNotFoundError, match="meta.json"):
        pk.load_packed(tmp_path)
    with pytest.raises(TypeError, match="packed BinaryNet"):
        pk.save_packed(torch.nn.Linear(2, 2), tmp_path / "x")


def test_stage_latency_splits_the_packed_layers():
    packed = pk.to_packed(_trained_like("xnor"))
    rows = pk.stage_latency(packed, torch.randn(1, 1, 28, 28), min_run_time=0.001)
    stages = [(r["module"], r["stage"]) for r in rows]
    assert ("fc3", "xnor-popcount kernel") in stages and ("conv2", "pack signs") in stages
    assert ("conv1", "BinaryConv2d") in stages and sum(s[0] == "act" for s in stages) == 3
    assert all(r["ms"] >= 0 for r in rows)
    before = torch.get_num_threads()
    with pk.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
