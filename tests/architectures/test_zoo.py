"""The zoo: offline metadata, and our counts against it within 1 % (two small models, to stay fast)."""
import pytest

from companion.architectures import ZOO, zoo_counts, zoo_metadata, zoo_model


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "mobilenet_v3_small"])
def test_counts_match_torchvision_metadata(name):
    r = zoo_counts(name)
    assert r["params"] == r["published_params"]
    assert abs(r["macs_error"]) <= r["macs_tolerance"]
    assert r["macs_tolerance"] >= 0.01 and 0.5 < r["top1"] < 0.8


def test_metadata_is_read_offline_for_the_whole_zoo():
    for name in ZOO:
        m = zoo_metadata(name)
        assert 0.5 < m["top1"] < 0.8 and m["published_params"] > 1e6 and m["published_macs"] > 1e7
    assert zoo_metadata("resnet18")["published_macs"] == pytest.approx(1.814e9)


def test_unknown_model_and_bad_resolution_raise():
    with pytest.raises(ValueError, match="unknown torchvision model"):
        zoo_model("mobilenet_v9")
    with pytest.raises(ValueError, match="resolution"):
        zoo_counts("resnet18", resolution=8)
