"""Optimal Brain Damage: the saliency and the exact Gauss–Newton diagonal."""
import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from companion.pruning import gauss_newton_diagonal, obd_saliency, score_mask


def test_obd_saliency_hand_case():
    w, h = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([4.0, 1.0, 0.0])
    assert obd_saliency(w, h).tolist() == [2.0, 2.0, 0.0]
    assert score_mask(obd_saliency(w, h), 1 / 3).tolist() == [True, True, False]
    with pytest.raises(ValueError, match="shape"):
        obd_saliency(w, torch.ones(2))


# ---------------------------------------------------------------- OBD's Hessian diagonal
def test_gauss_newton_diagonal_of_logistic_regression_is_analytic():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    x = torch.randn(9, 1, 3, 4)
    h = gauss_newton_diagonal(model, x)["1"]
    p = torch.softmax(model(x), -1)
    expected = (p * (1 - p)).T @ x.flatten(1) ** 2 / len(x)  # diag of the exact Hessian for a linear model
    torch.testing.assert_close(h, expected, rtol=1e-5, atol=1e-7)


def test_gauss_newton_diagonal_matches_per_sample_autograd_on_a_conv_net():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    x = torch.randn(6, 1, 8, 8)
    ours = gauss_newton_diagonal(model, x)
    params = {k: v.detach() for k, v in model.named_parameters()}
    def logp(p, xi, c):
        return torch.log_softmax(functional_call(model, p, (xi[None],)), -1)[0, c]
    probs = torch.softmax(model(x), -1).detach()
    ref = {k: torch.zeros_like(v) for k, v in params.items()}
    for c in range(5):
        g = vmap(grad(logp), in_dims=(None, 0, None))(params, x, c)
        for k in ref:
            ref[k] += torch.einsum("n,n...->...", probs[:, c], g[k] ** 2) / len(x)
    torch.testing.assert_close(ours["0"], ref["0.weight"], rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(ours["3"], ref["3.weight"], rtol=1e-4, atol=1e-7)
