"""The students and the one call that trains them with any method."""

import pytest
import torch
from torch.utils.data import TensorDataset

from companion.distillation import MLP, STUDENTS, KDConfig, build_student, train_student
from companion.measure import count_params
from companion.models import ResNetSmall
from companion.train import TrainConfig


def test_students_are_smaller_than_the_teacher():
    teacher = count_params(ResNetSmall())
    sizes = {name: count_params(build_student(name)) for name in STUDENTS}
    assert sizes["thin_cnn"] == 18_378 and sizes["tiny_cnn"] == 2_202
    assert sizes["mlp"] == 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10 == 269_322
    assert all(n < teacher for n in sizes.values())
    with pytest.raises(ValueError, match="unknown student 'big'"):
        build_student("big")


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
