"""Distillation losses against direct formulas."""
import math

import pytest
import torch
import torch.nn.functional as F

from companion.distillation import KDConfig, kd_loss, logit_regression_loss, soften, top1_agreement

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


def test_top1_agreement():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    b = torch.tensor([[5.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert top1_agreement(a, b) == 0.5 and top1_agreement(a, a) == 1.0
