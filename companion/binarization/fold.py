"""Batch norm followed by ``sign``, folded into one integer threshold per channel.

Between two binary layers a BNN computes ``sign(act(BN(z)))`` on the integer output ``z`` of the first
(``act`` is hard-tanh, which keeps the sign). ``BN(z) = γ (z − μ) / √(σ² + ε) + β`` is monotone in ``z``:
increasing where ``γ > 0``, decreasing where ``γ < 0``, constant where ``γ = 0``. So for every integer ``z`` the
binary output is a comparison with one integer per channel::

    sign(BN(z)) = −1   ⇔   (z < t) XOR flip        (flip: γ < 0)

and a binary block goes from packed bits to packed bits with no floats in between (the folding of Umuroglu et
al. 2017, FINN, and of Larq Compute Engine's bconv with bitpacked output).

The thresholds are not derived from a formula in exact arithmetic, which could disagree with float32 rounding
right at the boundary: :func:`sign_thresholds` evaluates the layer's own batch norm, in float32, on *every*
integer the binary layer can produce (``|z| <= fan_in``), and reads off where its sign changes. The folded
layer therefore gives exactly the bits of the float model.
"""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def bn_outputs(bn: nn.Module, fan_in: int) -> torch.Tensor:
    """``bn`` (eval mode) on every integer ``z`` in [−fan_in, fan_in]: shape (2·fan_in + 1, C).

    A ``BatchNorm2d`` sees them as one (1, C, L, 1) map, so it runs the same per-channel plane loop as on a
    convolution's output; a ``BatchNorm1d`` sees an (L, C) batch, as after a linear layer.
    """
    if not isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)):
        raise TypeError(f"expected a BatchNorm1d or BatchNorm2d, got {type(bn).__name__}")
    if fan_in < 1:
        raise ValueError(f"fan_in must be >= 1, got {fan_in}")
    was_training = bn.training
    bn.eval()
    try:
        z = torch.arange(-fan_in, fan_in + 1, dtype=torch.float32, device=bn.running_mean.device)
        channels = bn.num_features
        if isinstance(bn, nn.BatchNorm2d):
            y = bn(z.view(1, 1, -1, 1).expand(1, channels, -1, 1).contiguous())[0, :, :, 0].T
        else:
            y = bn(z.view(-1, 1).expand(-1, channels).contiguous())
    finally:
        bn.train(was_training)
    return y.cpu()


def thresholds_from_signs(negative: torch.Tensor, fan_in: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per channel, the (threshold, flip) reproducing ``negative`` (L, C), the sign bits at z = −fan_in … fan_in.

    ``negative[:, c]`` must be a step: True then False (``flip`` False, ``t`` = first z that is not negative),
    False then True (``flip`` True, ``t`` = first negative z), or constant. Anything else raises.
    """
    z = torch.arange(-fan_in, fan_in + 1)
    if negative.shape[0] != len(z):
        raise ValueError(f"negative must have {len(z)} rows (z = -{fan_in} … {fan_in}), got {negative.shape[0]}")
    neg = negative.bool()
    changes = (neg[1:] != neg[:-1]).sum(0)
    if (changes > 1).any():
        bad = int(torch.nonzero(changes > 1)[0])
        raise ValueError(f"the sign of channel {bad} changes {int(changes[bad])} times over z: not monotone")
    flip = neg[-1] & ~neg[0]                                   # False → True: negative for large z
    first_change = torch.where(changes > 0, (neg[1:] != neg[:-1]).int().argmax(0) + 1, 0)
    threshold = torch.where(changes > 0, z[first_change],        # the first z of the second run
                            torch.where(neg[0], fan_in + 1, -fan_in))  # constant: always or never negative
    return threshold.to(torch.int64), flip


def sign_thresholds(bn: nn.Module, fan_in: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``sign(bn(z)) < 0 ⇔ (z < threshold) XOR flip`` for every integer ``|z| <= fan_in``: (threshold, flip), (C,) each.

    ``fan_in`` is the binary layer's input length (``C·kh·kw`` or ``in_features``), the largest ``|z|``.
    ``sign(0) = +1``, so ``z`` is negative exactly where ``bn(z) < 0``.
    """
    return thresholds_from_signs(bn_outputs(bn, fan_in) < 0, fan_in)


def apply_thresholds(z: torch.Tensor, threshold: torch.Tensor, flip: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """The folded comparison in PyTorch, the reference: ``(z < threshold) XOR flip`` along channel dimension ``dim``."""
    shape = [1] * z.dim()
    shape[dim] = -1
    return (z < threshold.view(shape)) ^ flip.view(shape)
