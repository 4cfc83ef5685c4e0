"""Lottery tickets: rewinding to the initial weights."""
import pytest
import torch
from torch import nn

from companion.pruning import LotteryConfig, lottery_ticket
from companion.train import TrainConfig, fit


# ---------------------------------------------------------------- the pruner
def _tiny_data(n=128):
    g = torch.Generator().manual_seed(0)
    return torch.utils.data.TensorDataset(torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))


def test_lottery_ticket_rewinds_to_the_initial_weights():
    def make(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    init = make(0).state_dict()
    starts = []
    def train_fn(model, pruner):
        starts.append({k: v.clone() for k, v in model.state_dict().items()})
        fit(model, _tiny_data(64), TrainConfig(epochs=1, batch_size=32), device="cpu", step_callback=pruner)
    rows = lottery_ticket(make, train_fn, lambda m: 0.1, LotteryConfig(rounds=2, rate=0.5), seed=0)
    assert [r["round"] for r in rows] == [0, 1, 2] and rows[0]["reinit_accuracy"] is None
    assert rows[1]["sparsity"] == pytest.approx((0.5 * 784 * 32 + 0.25 * 320) / (784 * 32 + 320), abs=1e-4)
    assert rows[2]["sparsity"] > rows[1]["sparsity"]
    ticket, reinit = starts[1], starts[2]  # round 1: ticket first, then the random re-init
    kept = ticket["1.weight"] != 0
    assert torch.equal(ticket["1.weight"][kept], init["1.weight"][kept])  # survivors rewound to θ₀
    assert torch.equal(reinit["1.weight"] != 0, kept) and not torch.equal(reinit["1.weight"], ticket["1.weight"])
    with pytest.raises(ValueError, match=r"rate must be in \(0, 1\)"):
        LotteryConfig(rate=1.0)
