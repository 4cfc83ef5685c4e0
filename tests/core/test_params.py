"""Notebook parameters are checked up front, with messages that say what to pass instead."""
import pytest
import torch

from companion import params as P

MODELS = P.list_of(P.one_of("lenet300", "lenet5", "resnet_small"), "model names")


def ns(**over):
    base = dict(SMOKE=False, SEED=0, DEVICE="auto", THREADS=None, DATASET="fashion-mnist-mini", DATA_ROOT=None,
                DOWNLOAD=False, RESULTS_PATH="r.json", MODELS=["lenet5"], EPOCHS=None, SPARSITY=0.9)
    base.update(over)
    return base


def test_good_parameters_pass():
    P.check(ns(), MODELS=MODELS, EPOCHS=P.optional(P.integer(1)), SPARSITY=P.number(0, 1, hi_open=True))


def test_a_list_passed_as_a_string_says_how_to_pass_it():
    with pytest.raises(P.ParameterError) as e:
        P.check(ns(MODELS='["lenet300", "lenet5"]'), MODELS=MODELS)
    assert str(e.value) == ("MODELS must be a list of model names, got the string '[\"lenet300\", \"lenet5\"]' "
                            "(pass lists with -y 'MODELS: [lenet300, lenet5]')")


@pytest.mark.parametrize("over,spec,match", [
    ({"MODELS": ["vgg"]}, {"MODELS": MODELS}, r"has invalid item\(s\) \['vgg'\]"),
    ({"MODELS": []}, {"MODELS": MODELS}, r"needs at least 1 item"),
    ({"SMOKE": "True"}, {}, "SMOKE must be True or False, got the string 'True'"),
    ({"SEED": -1}, {}, "SEED must be an integer >= 0"),
    ({"SEED": 1.5}, {}, "SEED must be an integer"),
    ({"DEVICE": "gpu"}, {}, "DEVICE must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ({"THREADS": 0}, {}, "THREADS must be None or an integer >= 1"),
    ({"THREADS": 10_000}, {}, "THREADS must be at most the"),
    ({"DATASET": "imagenet"}, {}, "DATASET must be one of 'fashion-mnist-mini'"),
    ({"SPARSITY": 1.0}, {"SPARSITY": P.number(0, 1, hi_open=True)}, r"SPARSITY must be a number in \[0, 1\)"),
    ({"EPOCHS": True}, {"EPOCHS": P.optional(P.integer(1))}, "EPOCHS must be None or an integer"),
])
def test_bad_parameters_are_named(over, spec, match):
    with pytest.raises(P.ParameterError, match=match):
        P.check(ns(**over), **spec)


def test_a_missing_common_parameter_is_named():
    bad = ns()
    del bad["THREADS"]
    with pytest.raises(P.ParameterError, match="the parameters cell lacks THREADS"):
        P.check(bad)


def test_setup_applies_threads_and_seed():
    before = torch.get_num_threads()
    try:
        s = P.setup(ns(THREADS=1, SEED=3))
        assert s.threads == 1 and torch.get_num_threads() == 1 and s.device.type in ("cpu", "cuda")
        a = torch.rand(2)
        P.setup(ns(THREADS=1, SEED=3))
        assert torch.equal(a, torch.rand(2))
    finally:
        torch.set_num_threads(before)


def test_dict_parameters():
    spec = P.dict_of(P.one_of("mlp", "thin_cnn"), P.integer(1), "student name → epochs")
    P.check(ns(STUDENTS={"mlp": 20}), STUDENTS=spec)
    with pytest.raises(P.ParameterError, match=r"has invalid entries \{'cnn': 0\}"):
        P.check(ns(STUDENTS={"cnn": 0}), STUDENTS=spec)
    with pytest.raises(P.ParameterError, match=r"got the string .* \(pass dicts with -y 'STUDENTS: \{key: value\}'\)"):
        P.check(ns(STUDENTS='{"mlp": 20}'), STUDENTS=spec)
