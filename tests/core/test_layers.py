import pytest
from torch import nn

from companion.layers import find_layers
from companion.models import LeNet5, ResNetSmall


def test_finds_weighted_layers_in_model_order():
    assert list(find_layers(LeNet5())) == ["conv1", "conv2", "fc1", "fc2"]
    assert list(find_layers(LeNet5(), (nn.Linear,))) == ["fc1", "fc2"]
    assert len(find_layers(ResNetSmall(), (nn.BatchNorm2d,))) == 9  # stem, 2 per block, 2 shortcuts


def test_names_select_and_unknown_names_are_errors():
    assert list(find_layers(LeNet5(), names=["fc2", "conv1"])) == ["fc2", "conv1"]
    with pytest.raises(ValueError, match=r"no Linear/Conv2d layer \['pool'\] in LeNet5; Linear/Conv2d layers: conv1, conv2"):
        find_layers(LeNet5(), names=["pool"])
    with pytest.raises(ValueError, match=r"no prunable layer \['x'\] in LeNet5; prunable layers: conv1"):
        find_layers(LeNet5(), names=["x"], kind="prunable")
