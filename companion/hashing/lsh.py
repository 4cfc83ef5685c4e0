"""LSH selection of active neurons (Spring & Shrivastava 2017; SLIDE, Chen et al. 2020) in a wide hidden layer.

SimHash: ``bits`` signed random projections per table, ``tables`` tables, over the hidden layer's rows [w_i, b_i];
a sample's query code comes from [x, 1]; its active set is the union over tables of the neurons sharing its
bucket (a cosine proxy for the largest inner products: a simplification of the paper's asymmetric MIPS hash).
Only active neurons are computed (and trained). Controls of the same size per sample: a random subset and the
exact top-k of w·x + b.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SELECTIONS = ("dense", "lsh", "random", "topk")


def simhash_codes(v: torch.Tensor, projections: torch.Tensor) -> torch.Tensor:
    """Integer bucket codes (N, L) of rows v (N, d) under projections (L, bits, d): Σ_b 2^b · [p_lb · v > 0]."""
    bits = torch.einsum("nd,lbd->nlb", v, projections) > 0
    return (bits.long() << torch.arange(projections.shape[1])).sum(-1)


def top_count_mask(scores: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Boolean (B, N): for each row, its ``counts[row]`` highest scores."""
    ranks = scores.argsort(dim=1, descending=True).argsort(dim=1)
    return ranks < counts[:, None]


class LSHMLP(nn.Module):
    """784-``width``-10 MLP whose hidden neurons are selected per input (``selection``, one of :data:`SELECTIONS`).

    ``lsh``: SimHash active set; ``random`` and ``topk``: as many neurons per sample as LSH selects, at random or
    the exact largest pre-activations. Training rebuilds the weight codes every ``rehash_every`` steps.
    """

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, *, width: int = 1024, bits: int = 6,
                 tables: int = 4, selection: str = "lsh", rehash_every: int = 50, hash_seed: int = 0):
        super().__init__()
        if bits < 1 or tables < 1 or width < 1 or rehash_every < 1:
            raise ValueError(f"width, bits, tables and rehash_every must be >= 1, got {width}, {bits}, {tables}, "
                             f"{rehash_every}")
        d = 1
        for s in input_shape:
            d *= s
        self.fc1, self.fc2 = nn.Linear(d, width), nn.Linear(width, num_classes)
        g = torch.Generator().manual_seed(hash_seed)
        self.register_buffer("projections", torch.randn(tables, bits, d + 1, generator=g), persistent=False)
        self.register_buffer("codes", torch.empty(0, dtype=torch.long), persistent=False)
        self._hash_seed, self.rehash_every, self._steps = hash_seed, rehash_every, 0
        self.selection = selection

    @property
    def selection(self) -> str:
        return self._selection

    @selection.setter
    def selection(self, value: str) -> None:
        if value not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {value!r}")
        self._selection = value
        self.generator = torch.Generator().manual_seed(self._hash_seed + 1)  # the random control is reproducible

    def train(self, mode: bool = True) -> "LSHMLP":
        """Entering eval mode drops the weight codes: the first evaluation rehashes the current weights."""
        super().train(mode)
        if not mode:
            self.codes = torch.empty(0, dtype=torch.long, device=self.fc1.weight.device)
        return self

    def rehash(self) -> None:
        """Recompute the buckets of the hidden neurons from the current weights."""
        with torch.no_grad():
            rows = torch.cat([self.fc1.weight, self.fc1.bias[:, None]], 1)
            self.codes = simhash_codes(rows, self.projections.to(rows.device)).T.contiguous()  # (L, N)

    def lsh_mask(self, x: torch.Tensor) -> torch.Tensor:
        """Boolean (B, width): neurons sharing a bucket with the sample in at least one table."""
        if self.codes.numel() == 0 or (self.training and self._steps % self.rehash_every == 0):
            self.rehash()
        query = simhash_codes(torch.cat([x, torch.ones_like(x[:, :1])], 1), self.projections.to(x.device))  # (B, L)
        return (self.codes[None, :, :] == query[:, :, None]).any(1)

    def active_mask(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        mask = self.lsh_mask(x)
        if self._selection == "lsh":
            return mask
        counts = mask.sum(1)
        scores = z if self._selection == "topk" else torch.rand(z.shape, generator=self.generator).to(z.device)
        return top_count_mask(scores, counts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        z = self.fc1(x)
        h = torch.relu(z)
        if self._selection != "dense":
            with torch.no_grad():
                mask = self.active_mask(x, z)
            h = h * mask
        if self.training:
            self._steps += 1
        return self.fc2(h)


def active_fraction(model: LSHMLP, x: torch.Tensor) -> torch.Tensor:
    """Per-sample fraction of hidden neurons in the LSH active set."""
    with torch.no_grad():
        return model.lsh_mask(torch.flatten(x, 1)).float().mean(1)


def calibrate_tables(model: LSHMLP, x: torch.Tensor, target: float, max_tables: int = 64) -> int:
    """Give ``model`` the number of tables L (same ``bits``) whose mean active fraction on ``x`` is closest to
    ``target``: draws ``max_tables`` tables once and takes the shortest prefix that reaches it (the union only grows)."""
    if not 0 < target < 1:
        raise ValueError(f"target must be a fraction in (0, 1), got {target}")
    bits, d = model.projections.shape[1:]
    proj = torch.randn(max_tables, bits, d, generator=torch.Generator().manual_seed(12345))
    with torch.no_grad():
        rows = torch.cat([model.fc1.weight, model.fc1.bias[:, None]], 1)
        codes = simhash_codes(rows, proj).T  # (L, N)
        query = simhash_codes(torch.cat([x, torch.ones_like(x[:, :1])], 1), proj)  # (B, L)
        union = torch.zeros(x.shape[0], rows.shape[0], dtype=torch.bool)
        fractions = []
        for t in range(max_tables):
            union |= codes[t][None, :] == query[:, t, None]
            fractions.append(float(union.float().mean()))
            if fractions[-1] >= target:
                break
    best = min(range(len(fractions)), key=lambda i: abs(fractions[i] - target)) + 1
    model.projections, model.codes = proj[:best].clone(), torch.empty(0, dtype=torch.long)
    return best


def multiplications(model: LSHMLP, active: float) -> dict:
    """Multiplications per sample: dense, and LSH with ``active`` (mean active neurons) including the hashing."""
    d, width = model.fc1.in_features, model.fc1.out_features
    out = model.fc2.out_features
    tables, bits = model.projections.shape[:2]
    hashing = tables * bits * (d + 1)
    return {"dense": d * width + width * out, "hashing": hashing, "active": active * (d + out),
            "lsh": hashing + active * (d + out)}


class GatherLSH(nn.Module):
    """Inference with the LSH active set really gathered: W1[A] and W2[:, A] for A = the union over the batch.

    At batch 1 this computes only the active neurons; at batch B the union of B active sets (close to all
    neurons at batch 64), then each sample's mask.
    """

    def __init__(self, model: LSHMLP):
        super().__init__()
        self.model = model.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = torch.flatten(x, 1)
        mask = m.lsh_mask(x)
        idx = mask.any(0).nonzero().flatten()
        h = torch.relu(F.linear(x, m.fc1.weight[idx], m.fc1.bias[idx])) * mask[:, idx]
        return F.linear(h, m.fc2.weight[:, idx], m.fc2.bias)
