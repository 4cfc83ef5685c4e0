import pytest
import torch

from companion import build_model, count_params
from companion.models import LeNet5, LeNet300, ResNetSmall


def test_paper_parameter_counts():
    assert count_params(LeNet300()) == 266_610   # Han et al. 2015: 267K
    assert count_params(LeNet5()) == 431_080     # Han et al. 2015: 431K


@pytest.mark.parametrize("name", ["lenet300", "lenet5", "resnet_small"])
@pytest.mark.parametrize("shape,classes", [((1, 28, 28), 10), ((3, 32, 32), 10), ((1, 28, 28), 3)])
def test_models_take_any_input_shape(name, shape, classes):
    model = build_model(name, shape, classes)
    assert model(torch.zeros(2, *shape)).shape == (2, classes)


def test_resnet_width_and_blocks():
    small, big = ResNetSmall(width=8), ResNetSmall(width=16, blocks=2)
    assert count_params(small) < count_params(big)
    with pytest.raises(ValueError, match="width and blocks must be >= 1"):
        ResNetSmall(width=0)


def test_bad_model_requests():
    with pytest.raises(ValueError, match="unknown model 'vgg'; valid names: lenet300, lenet5, resnet_small"):
        build_model("vgg")
    with pytest.raises(ValueError, match=r"input_shape must be \(C, H, W\)"):
        build_model("lenet5", (28, 28))
