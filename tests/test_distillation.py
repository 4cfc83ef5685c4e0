"""Tests of companion.distillation: losses against direct formulas, bad settings, shapes, wrappers."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from companion.distillation import (
    HintConfig, KDConfig, MLP, cached_logits, STUDENTS, ThinCNN, ThinDeepCNN, build_student, distill, hint_loss, hint_regressor,
    intermediate, kd_loss, kd_objective, logit_regression_loss, pack_targets, precompute_logits, soften,
    top1_agreement, train_hints, train_student, unpack_targets, with_teacher_logits,
)
from companion.measure import count_params
from companion.models import ResNetSmall
from companion.train import TrainConfig, evaluate, fit, seed_everything

S = torch.tensor([[2.0, 1.0, 0.0], [0.5, -1.0, 3.0]])
T_ = torch.tensor([[3.0, 0.0, -1.0], [1.0, 1.0, 1.0]])
Y = torch.tensor([0, 2])


def direct_kd(s, t, y, T, alpha):
    """KL written out element by element: Σ_i p_i (log p_i − log q_i), then batch mean."""
    total_soft, total_hard = 0.0, 0.0
    for si, ti, yi in zip(s.tolist(), t.tolist(), y.tolist()):
        zs = sum(math.exp(v / T) for v in si)
        zt = sum(math.exp(v / T) for v in ti)
        q = [math.exp(v / T) / zs for v in si]
        p = [math.exp(v / T) / zt for v in ti]
        total_soft += sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q))
        z1 = sum(math.exp(v) for v in si)
        total_hard += -math.log(math.exp(si[yi]) / z1)
    n = len(y)
    return alpha * T * T * total_soft / n + (1 - alpha) * total_hard / n


@pytest.mark.parametrize("T", [1.0, 2.0, 4.0, 20.0])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_kd_loss_matches_direct_kl_formula(T, alpha):
    assert kd_loss(S, T_, Y, T, alpha).item() == pytest.approx(direct_kd(S, T_, Y, T, alpha), rel=1e-5)


def test_kd_loss_alpha_endpoints_and_T_squared():
    assert kd_loss(S, T_, Y, 4.0, 0.0).item() == pytest.approx(F.cross_entropy(S, Y).item(), rel=1e-6)
    kl4 = F.kl_div(F.log_softmax(S / 4, 1), F.softmax(T_ / 4, 1), reduction="batchmean").item()
    assert kd_loss(S, T_, Y, 4.0, 1.0).item() == pytest.approx(16 * kl4, rel=1e-5)
    # alpha = 1 ignores the labels entirely
    assert kd_loss(S, T_, 1 - Y.clamp(max=1), 4.0, 1.0).item() == pytest.approx(16 * kl4, rel=1e-5)


def test_kd_loss_zero_soft_term_when_student_equals_teacher():
    assert kd_loss(T_, T_, Y, 3.0, 1.0).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("T", [1.0, 4.0, 20.0])
def test_soft_gradient_is_T_times_probability_gap(T):
    # d(T² KL)/ds = T (softmax(s/T) − softmax(t/T)), divided by the batch size N
    s = S.clone().requires_grad_()
    kd_loss(s, T_, Y, T, 1.0).backward()
    torch.testing.assert_close(s.grad, T * (soften(S, T) - soften(T_, T)) / 2)


def test_t_squared_keeps_soft_gradient_scale():
    # for large T the soft gradient → (s − t)/(C·N) (zero-mean logits): T² cancels the 1/T² shrinkage
    s = (S - S.mean(1, keepdim=True)).requires_grad_()
    t = T_ - T_.mean(1, keepdim=True)
    kd_loss(s, t, Y, 1000.0, 1.0).backward()
    torch.testing.assert_close(s.grad, (s.detach() - t) / (3 * 2), rtol=5e-3, atol=1e-4)


@pytest.mark.parametrize("T", [0.0, -1.0])
def test_bad_temperature_raises(T):
    with pytest.raises(ValueError, match="temperature must be > 0"):
        KDConfig(temperature=T)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        kd_loss(S, T_, Y, T, 0.5)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        soften(S, T)


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_bad_alpha_raises(alpha):
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        KDConfig(alpha=alpha)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        kd_loss(S, T_, Y, 2.0, alpha)


def test_class_count_mismatch_raises():
    with pytest.raises(ValueError, match="same number of classes: student 3, teacher 5"):
        kd_loss(S, torch.zeros(2, 5), Y, 2.0, 0.5)
    with pytest.raises(ValueError, match="same number of classes"):
        logit_regression_loss(S, torch.zeros(2, 4))


def test_distill_with_mismatched_teacher_raises():
    data = TensorDataset(torch.randn(8, 1, 16, 16), torch.arange(8) % 10)
    with pytest.raises(ValueError, match="same number of classes: student 10, teacher 5"):
        distill(ThinCNN((1, 16, 16)), data, torch.zeros(8, 5), TrainConfig(epochs=1), KDConfig(), device="cpu")


def test_hint_config_validation():
    with pytest.raises(ValueError, match="hint epochs must be >= 1, got 0"):
        HintConfig(epochs=0)
    with pytest.raises(ValueError, match="hint lr must be > 0"):
        HintConfig(lr=0)


def test_soften_limits():
    assert torch.allclose(soften(S, 1.0), torch.softmax(S, 1))
    assert torch.allclose(soften(S, 1e6), torch.full_like(S, 1 / 3), atol=1e-5)
    p4 = soften(S, 4.0)
    assert torch.allclose(p4.sum(1), torch.ones(2))
    assert (p4.max(1).values < soften(S, 1.0).max(1).values).all()  # flatter at higher T


def test_logit_regression_loss_formula():
    expected = 0.5 * ((S - T_) ** 2).sum(1).mean()
    assert logit_regression_loss(S, T_).item() == pytest.approx(expected.item())
    assert logit_regression_loss(T_, T_).item() == 0.0


def test_pack_unpack_roundtrip():
    logits = torch.randn(5, 10)
    labels = torch.tensor([0, 9, 3, 3, 7])
    y, t = unpack_targets(pack_targets(labels, logits))
    assert y.dtype == torch.int64 and torch.equal(y, labels) and torch.equal(t, logits)
    with pytest.raises(ValueError, match="5 labels but 4 rows"):
        pack_targets(labels, logits[:4])


def test_kd_objective_equals_online_teacher():
    seed_everything(0)
    teacher, student = ThinCNN(channels=(4, 8)), ThinCNN(channels=(2, 4))
    data = TensorDataset(torch.randn(6, 1, 28, 28), torch.tensor([0, 1, 2, 3, 4, 5]))
    packed = with_teacher_logits(data, precompute_logits(teacher, data, device="cpu"))
    x, y = packed.tensors
    cfg = KDConfig(temperature=3.0, alpha=0.7)
    with torch.no_grad():
        online = kd_loss(student(x), teacher.eval()(x), data.tensors[1], 3.0, 0.7)
        assert kd_objective(cfg)(student, x, y).item() == pytest.approx(online.item(), rel=1e-6)


@pytest.mark.parametrize("s_shape,t_shape,kernel", [((16, 14, 14), (64, 14, 14), 1), ((8, 16, 16), (32, 12, 12), 5)])
def test_hint_regressor_maps_student_shape_to_teacher_shape(s_shape, t_shape, kernel):
    reg = hint_regressor(s_shape, t_shape)
    assert reg.kernel_size == (kernel, kernel)
    assert reg(torch.randn(3, *s_shape)).shape == (3, *t_shape)


def test_hint_regressor_rejects_smaller_student_map():
    with pytest.raises(ValueError, match="cannot regress student features 7×7 onto teacher features 14×14"):
        hint_regressor((16, 7, 7), (64, 14, 14))


def test_hint_loss_formula_and_shape_check():
    r, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert hint_loss(r, t).item() == pytest.approx((0.5 * ((r - t) ** 2).sum() / 2).item(), rel=1e-6)
    with pytest.raises(ValueError, match="must match the teacher's hint"):
        hint_loss(r, torch.randn(2, 3, 5, 5))


def test_intermediate_captures_and_removes_hook():
    model = ResNetSmall(width=4)
    out = intermediate(model, model.layers[1], torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 8, 14, 14)
    assert not model.layers[1]._forward_hooks
    with pytest.raises(ValueError, match="did not run"):
        intermediate(model, nn.Linear(2, 2), torch.randn(1, 1, 28, 28))


def test_fitnet_student_guided_layer_matches_teacher_hint():
    student, teacher = ThinDeepCNN(), ResNetSmall()
    x = torch.randn(2, 1, 28, 28)
    s = intermediate(student, student.guided, x)
    t = intermediate(teacher, teacher.layers[1], x)
    assert s.shape == (2, 8, 14, 14) and t.shape == (2, 64, 14, 14)
    assert sum(isinstance(m, nn.Conv2d) for m in student.modules()) == 9 > sum(
        isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) for m in teacher.modules())  # deeper
    assert count_params(student) == 10_818
    assert hint_regressor(s.shape, t.shape)(s).shape == t.shape


def test_train_hints_reduces_hint_loss_and_trains_student_in_place():
    seed_everything(0)
    teacher, student = ResNetSmall((1, 16, 16), width=4), ThinDeepCNN((1, 16, 16), widths=(4, 4), depth=1)
    data = TensorDataset(torch.randn(64, 1, 16, 16), torch.zeros(64, dtype=torch.long))
    before = student.stem[0].weight.detach().clone()
    net, history = train_hints(student, student.guided, teacher, teacher.layers[1], data,
                               HintConfig(epochs=3, lr=1e-2), batch_size=16, device="cpu")
    assert net.regressor.kernel_size == (1, 1)
    assert history[-1]["loss"] < history[0]["loss"]
    assert not torch.equal(before, student.stem[0].weight)
    assert set(dict(net.named_parameters())) >= {"regressor.weight", "student.stem.0.weight"}


def test_students_are_smaller_than_the_teacher():
    teacher = count_params(ResNetSmall())
    sizes = {name: count_params(build_student(name)) for name in STUDENTS}
    assert sizes["thin_cnn"] == 18_378 and sizes["tiny_cnn"] == 2_202
    assert sizes["mlp"] == 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10 == 269_322
    assert all(n < teacher for n in sizes.values())
    with pytest.raises(ValueError, match="unknown student 'big'"):
        build_student("big")


def test_distillation_learns_a_separable_problem():
    # a linear teacher on 2 clusters; the student distilled from its logits must learn them
    seed_everything(0)
    x = torch.randn(128, 1, 16, 16) * 0.1
    y = torch.arange(128) % 2
    x[y == 1] += 1.0
    data = TensorDataset(x, y)
    teacher_logits = torch.stack([-(x.mean((1, 2, 3)) - 0.5), x.mean((1, 2, 3)) - 0.5], 1) * 10
    student = ThinCNN((1, 16, 16), num_classes=2, channels=(2, 2))
    distill(student, data, teacher_logits, TrainConfig(epochs=5, lr=1e-2, batch_size=32), KDConfig(4.0, 1.0),
            device="cpu")
    assert evaluate(student, data, device="cpu") > 0.95


def test_train_student_same_init_and_order_for_every_method():
    data = TensorDataset(torch.randn(32, 1, 16, 16), torch.arange(32) % 3)
    logits = torch.randn(32, 3)
    cfg = TrainConfig(epochs=0, seed=7)
    a, _ = train_student("thin_cnn", data, cfg, num_classes=3, device="cpu")
    b, _ = train_student("thin_cnn", data, cfg, method="kd", teacher_logits=logits, num_classes=3, device="cpu")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    # alpha = 0 is plain cross-entropy: the distilled run reproduces the scratch run exactly
    cfg = TrainConfig(epochs=1, seed=7, batch_size=8)
    a, ha = train_student("thin_cnn", data, cfg, num_classes=3, device="cpu")
    b, hb = train_student("thin_cnn", data, cfg, method="kd", teacher_logits=logits, kd=KDConfig(2.0, 0.0),
                          num_classes=3, device="cpu")
    assert ha[0]["loss"] == pytest.approx(hb[0]["loss"], rel=1e-6)
    assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(a.parameters(), b.parameters()))


def test_train_student_bad_method():
    data = TensorDataset(torch.randn(4, 1, 16, 16), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="method must be one of"):
        train_student("mlp", data, TrainConfig(epochs=0), method="hinton")
    with pytest.raises(ValueError, match="method 'kd' needs teacher_logits"):
        train_student("mlp", data, TrainConfig(epochs=0), method="kd")


def test_mlp_student_shapes():
    assert MLP((1, 16, 16), 3, hidden=(8,))(torch.randn(2, 1, 16, 16)).shape == (2, 3)


def test_top1_agreement():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    b = torch.tensor([[5.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert top1_agreement(a, b) == 0.5 and top1_agreement(a, a) == 1.0


def test_cached_logits_computes_once(isolated_cache):
    model = ThinCNN((1, 16, 16), channels=(2, 2))
    data = TensorDataset(torch.randn(6, 1, 16, 16), torch.zeros(6, dtype=torch.long))
    first = cached_logits(model, data, "k", device="cpu")
    assert torch.equal(first, precompute_logits(model, data, device="cpu"))
    assert len(list(isolated_cache.glob("logits-k-6.pt"))) == 1
    with torch.no_grad():
        model.fc.weight.zero_()   # a changed model under the same key still reads the stored logits
    assert torch.equal(cached_logits(model, data, "k", device="cpu"), first)
