"""Cached teacher targets and the distillation trainers."""

import pytest
import torch
from torch.utils.data import TensorDataset

from companion.distillation import (KDConfig, ThinCNN, cached_logits, distill, kd_loss, kd_objective, pack_targets,
                                    precompute_logits, unpack_targets, with_teacher_logits)
from companion.train import TrainConfig, evaluate, seed_everything

S = torch.tensor([[2.0, 1.0, 0.0], [0.5, -1.0, 3.0]])


T_ = torch.tensor([[3.0, 0.0, -1.0], [1.0, 1.0, 1.0]])


Y = torch.tensor([0, 2])


def test_distill_with_mismatched_teacher_raises():
    data = TensorDataset(torch.randn(8, 1, 16, 16), torch.arange(8) % 10)
    with pytest.raises(ValueError, match="same number of classes: student 10, teacher 5"):
        distill(ThinCNN((1, 16, 16)), data, torch.zeros(8, 5), TrainConfig(epochs=1), KDConfig(), device="cpu")


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


def test_cached_logits_computes_once(isolated_cache):
    model = ThinCNN((1, 16, 16), channels=(2, 2))
    data = TensorDataset(torch.randn(6, 1, 16, 16), torch.zeros(6, dtype=torch.long))
    first = cached_logits(model, data, "k", device="cpu")
    assert torch.equal(first, precompute_logits(model, data, device="cpu"))
    assert len(list(isolated_cache.glob("logits-k-6.pt"))) == 1
    with torch.no_grad():
        model.fc.weight.zero_()   # a changed model under the same key still reads the stored logits
    assert torch.equal(cached_logits(model, data, "k", device="cpu"), first)
