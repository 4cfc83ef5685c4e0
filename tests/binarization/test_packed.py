"""The packed layers and model: exact outputs, bit planes that count (buffers), real file sizes, the converter."""
import pytest
import torch
import torch.nn.functional as F

from companion import binarization as bz
from companion.binarization import BinaryConv2d, BinaryLinear, sign
from companion.binarization import packed as pk
from companion.measure import count_params, size_bytes

NPY_HEADER = 128  # bytes of a .npy header for these shapes (numpy pads the header to 64-byte blocks)


@pytest.mark.parametrize("method,kw", [("bnn", {}), ("xnor", {}), ("binaryconnect", {}), ("ternary", {}),
                                       ("bwn", {}), ("bnn", {"binarize_first_last": True}),
                                       ("binaryconnect", {"stochastic": True, "stochastic_inference": "sign"})])
def test_packed_model_reproduces_binary_model_exactly(method, kw, tmp_path, trained_like):
    model = trained_like(method, **kw)
    packed = pk.to_packed(model)
    x = torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(packed(x), model(x))
    pk.save_packed(pk.to_packed(trained_like("ternary")), tmp_path / "packed")  # stale files get replaced
    folder = pk.save_packed(packed, tmp_path / "packed")
    with torch.no_grad():
        assert torch.equal(pk.load_packed(folder)(x), model(x))
    assert {p.name for p in folder.iterdir()} == {f"{k}.npy" for k in packed.state_dict()} | {"meta.json"}


def test_bit_planes_are_buffers_so_sizes_count_them(tmp_path, trained_like):
    """Issue 11, bug 5: the planes were a plain dict, invisible to state_dict, size_bytes and profile."""
    model = trained_like("xnor")
    packed = pk.to_packed(model)
    state = packed.state_dict()
    assert state["conv2.sign"].dtype == torch.uint64 and state["fc3.sign"].dtype == torch.uint64
    # conv2 70→66 3×3: 3·3·⌈70/64⌉·66 words; fc3 3234→64: ⌈3234/64⌉·64 words
    assert state["conv2.sign"].numel() == 3 * 3 * 2 * 66 and state["fc3.sign"].numel() == 51 * 64
    folder = pk.save_packed(packed, tmp_path / "p")
    payload = sum(p.stat().st_size - NPY_HEADER for p in folder.glob("*.npy"))
    in_memory = sum(t.numel() * t.element_size() for t in state.values())
    assert in_memory == payload, "the bytes in memory are the bytes in the file"
    assert pk.state_bytes(packed) == payload
    assert size_bytes(folder).bytes == payload + NPY_HEADER * len(list(folder.glob("*.npy"))) + \
        (folder / "meta.json").stat().st_size
    container = size_bytes(packed).bytes - in_memory  # torch.save of the same state: zip container and key names
    assert 0 < container < 16_000
    assert size_bytes(packed).bytes < size_bytes(model).bytes / 4


def test_count_weights_equals_what_the_file_stores(tmp_path, trained_like):
    model = trained_like("bnn")
    packed = pk.to_packed(model)
    assert count_params(packed) < count_params(model) / 10  # nn.Parameters alone miss the planes
    assert pk.count_weights(packed) == count_params(model)
    ternary = trained_like("ternary")
    zeros = sum(int((bz.ternarize(m.weight)[0] == 0).sum()) for m in (ternary.conv2, ternary.fc3))
    assert pk.count_weights(pk.to_packed(ternary), nonzero_only=True) == count_params(ternary, nonzero_only=True) - zeros
    loaded = pk.load_packed(pk.save_packed(packed, tmp_path / "p"))
    assert pk.count_weights(loaded) == count_params(model)


def test_load_packed_leaves_the_global_rng_alone(tmp_path, trained_like):
    """Issue 11, bug 10: load_packed built its skeleton with the global RNG, consuming it."""
    folder = pk.save_packed(pk.to_packed(trained_like("bnn")), tmp_path / "p")
    state = torch.get_rng_state()
    pk.load_packed(folder)
    assert torch.equal(torch.get_rng_state(), state)


def test_stochastic_binaryconnect_evaluated_with_real_weights_has_no_packed_form(trained_like):
    with pytest.raises(ValueError, match="real-valued weights, as in the paper"):
        pk.to_packed(trained_like("binaryconnect", stochastic=True))


@pytest.mark.parametrize("kernel,stride,padding", [(1, 1, 0), (5, 2, 2), ((3, 5), (2, 1), (1, 2)), ((1, 3), 1, (0, 1))])
@pytest.mark.parametrize("modes", [("sign", "sign"), ("scaled_sign", "scaled_sign"), ("sign", "real")])
def test_packed_conv_layer_any_geometry(kernel, stride, padding, modes):
    torch.manual_seed(0)
    layer = BinaryConv2d(70, 9, kernel, stride, padding, *modes).eval()
    packed = pk.PackedLayer(layer)
    x = torch.randn(2, 70, 11, 10)
    with torch.no_grad():
        assert torch.equal(packed(x), layer(x))
    if modes[1] == "sign":
        ref = F.conv2d(sign(x), sign(layer.weight), stride=stride, padding=padding)
        assert torch.equal(packed.integer_output(x).float(), ref)


def test_packed_layer_errors(tmp_path):
    with pytest.raises(ValueError, match="no binarized layers"):
        pk.to_packed(torch.nn.Linear(3, 3))
    with pytest.raises(FileNotFoundError, match="meta.json"):
        pk.load_packed(tmp_path)
    with pytest.raises(TypeError, match="packed BinaryNet"):
        pk.save_packed(torch.nn.Linear(2, 2), tmp_path / "x")
    grouped = BinaryConv2d(4, 4, 3, 1, 1, "sign", "sign")
    grouped.groups = 2
    with pytest.raises(ValueError, match="groups=1 and dilation=1"):
        pk.PackedLayer(grouped)
    with pytest.raises(ValueError, match="XNOR inference needs binary weights"):
        pk.PackedLayer(BinaryLinear(8, 4, "ternary", "sign"))



@pytest.mark.parametrize("n,batch", [(1024, 1), (1000, 3), (130, 7), (1024, 200)])  # 200 × 16 × 64 words: the general path
def test_plain_linear_lean_path_is_exact(n, batch):
    torch.manual_seed(0)
    layer = BinaryLinear(n, 64, "sign", "sign").eval()
    packed = pk.PackedLayer(layer)
    assert packed.plain
    x = torch.randn(batch, n)
    with torch.no_grad():
        ref = F.linear(sign(x), sign(layer.weight))
        assert torch.equal(packed(x), ref)
        assert torch.equal(packed(x.double()), ref)  # another dtype: converted
        assert torch.equal(packed(x.T.contiguous().T), ref)  # a strided view: made contiguous
    assert torch.equal(packed(x.requires_grad_()), ref)  # a tensor needing grad: read through detach
    with pytest.raises(ValueError, match=f"expected inputs \\(B, {n}\\)"):
        packed(torch.randn(batch, n + 1))


@pytest.mark.parametrize("floor", [False, True])
def test_layer_forms_agree_and_the_floor_is_an_empty_call(floor):
    torch.manual_seed(0)
    layer, x = BinaryConv2d(70, 9, 3, 1, 1, "sign", "sign").eval(), torch.randn(2, 70, 8, 8)
    forms = bz.report.layer_forms(layer, x, floor=floor)
    assert (bz.report.EMPTY_CALL in forms) == floor
    with torch.no_grad():
        ref = F.conv2d(sign(x), sign(layer.weight), padding=1)
        assert torch.equal(forms["packed layer (float in, float out)"](x), ref)
        assert torch.equal(torch.as_tensor(forms["kernel (bits in, integers out)"](x)).float(), ref)
        if floor:
            empty = forms[bz.report.EMPTY_CALL]
            assert empty(x).shape == ref.shape and empty(x) is empty(torch.zeros(1))  # computes nothing
