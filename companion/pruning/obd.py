"""Optimal Brain Damage (LeCun, Denker & Solla 1990): the saliency ½·h_ii·w² and an exact Gauss–Newton diagonal."""
from __future__ import annotations

import torch
from torch import nn

from .masks import prunable_layers


def obd_saliency(weight: torch.Tensor, hessian_diag: torch.Tensor) -> torch.Tensor:
    """Optimal Brain Damage saliency ``s_i = ½ · h_ii · w_i²`` (LeCun, Denker & Solla 1990).

    The second-order Taylor estimate of the loss increase when ``w_i`` is set to zero, assuming
    a trained (zero-gradient) network and a diagonal Hessian ``h_ii``.
    """
    if hessian_diag.shape != weight.shape:
        raise ValueError(f"hessian_diag shape {tuple(hessian_diag.shape)} != weight shape {tuple(weight.shape)}")
    return 0.5 * hessian_diag * weight.detach() ** 2


def _layer_features(layer: nn.Module, a: torch.Tensor) -> torch.Tensor:
    """What a weight multiplies: the input (Linear) or its ``unfold``-ed patches (Conv2d, groups=1)."""
    if isinstance(layer, nn.Linear):
        return a
    if layer.groups != 1 or isinstance(layer.padding, str):
        raise ValueError("gauss_newton_diagonal supports Conv2d with groups=1 and numeric padding only")
    return nn.functional.unfold(a, layer.kernel_size, layer.dilation, layer.padding, layer.stride)


def _sq_grad_sum(layer: nn.Module, feats: torch.Tensor, g: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``Σ_n weight_n · (∂ℓ_n/∂W)²`` of one layer from its features and output gradients ``g``.

    Linear: the per-sample gradient is ``g_n a_nᵀ``, so the sum is ``(weight·g²)ᵀ a²`` (no
    per-sample tensors). Conv2d: per-sample gradients ``g_n · patches_nᵀ`` are formed, squared, summed.
    """
    if isinstance(layer, nn.Linear):
        return (weight[:, None] * g ** 2).T @ feats ** 2
    per_sample = g.flatten(2) @ feats.transpose(1, 2)  # (N, out, in·kh·kw)
    return torch.einsum("n,noi->oi", weight, per_sample ** 2).view_as(layer.weight)


def gauss_newton_diagonal(model: nn.Module, x: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
    """Diagonal of the Gauss–Newton matrix of the cross-entropy, per prunable layer weight.

    ``h_ii = (1/N) Σ_n Σ_c p_nc · (∂ log p_nc / ∂w_i)²`` over the images ``x`` (N, C, H, W), with
    ``p_nc`` the model's softmax: exact on the batch, no sampling, no labels. For softmax
    cross-entropy the Gauss–Newton matrix equals the Fisher information; it is the positive
    ("Levenberg–Marquardt") approximation of the Hessian that Optimal Brain Damage uses (LeCun
    et al. 1990): the second derivative of the network itself is dropped. Cost: one backward
    pass per class, per-sample squares from layer inputs and output gradients (hooks).
    """
    named = prunable_layers(model, layers)
    inputs, outputs = {}, {}

    def keep(name):
        def hook(module, inp, out):
            inputs[name], outputs[name] = inp[0].detach(), out
        return hook

    handles = [m.register_forward_hook(keep(n)) for n, m in named.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.enable_grad():  # Pruner.prune_ runs under no_grad
            logp = torch.log_softmax(model(x), -1)
            probs = logp.detach().exp()
            feats = {n: _layer_features(m, inputs[n]) for n, m in named.items()}
            total = {n: torch.zeros_like(m.weight, dtype=torch.float32) for n, m in named.items()}
            for c in range(logp.shape[-1]):
                grads = torch.autograd.grad(logp[:, c].sum(), [outputs[n] for n in named], retain_graph=True)
                for (n, m), g in zip(named.items(), grads):
                    total[n] += _sq_grad_sum(m, feats[n], g.detach(), probs[:, c])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {n: t / len(x) for n, t in total.items()}
