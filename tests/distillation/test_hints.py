"""FitNets hints: regressor shapes, hooks, hint training."""

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from companion.distillation import HintConfig, ThinDeepCNN, hint_loss, hint_regressor, intermediate, train_hints
from companion.measure import count_params
from companion.models import ResNetSmall
from companion.train import seed_everything


def test_hint_config_validation():
    with pytest.raises(ValueError, match="hint epochs must be >= 1, got 0"):
        HintConfig(epochs=0)
    with pytest.raises(ValueError, match="hint lr must be > 0"):
        HintConfig(lr=0)


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
