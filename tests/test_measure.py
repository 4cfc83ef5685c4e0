import io

import pytest
import torch
from torch import nn

from companion import measure


def test_count_params_total_and_nonzero():
    lin = nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.zero_()
        lin.weight[0, 0] = 1.0
        lin.bias.fill_(2.0)
    assert measure.count_params(lin) == 8
    assert measure.count_params(lin, nonzero_only=True) == 3


def test_macs_by_hand():
    assert measure.count_macs(nn.Linear(10, 4), torch.zeros(3, 10)) == 3 * 10 * 4
    conv = nn.Conv2d(2, 5, 3, padding=1)
    assert measure.count_macs(conv, torch.zeros(1, 2, 8, 8)) == 8 * 8 * 5 * 2 * 9
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))
    assert measure.count_macs(model, torch.zeros(1, 1, 28, 28)) == 784 * 300 + 300 * 100 + 100 * 10


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "shufflenet_v2_x1_0", "squeezenet1_0"])
def test_macs_match_torchvision_published_gflops(name):
    ref = measure.torchvision_check(name)
    assert abs(ref["relative_error"]) < 0.01, ref
    assert ref["params"] == ref["published_params"]


def test_size_bytes_is_the_real_file(tmp_path):
    model = nn.Linear(100, 50)
    size = measure.size_bytes(model)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    assert size.bytes == len(buf.getvalue()) >= 5050 * 4
    assert 0 < size.gzip_bytes
    path = measure.save_state_dict(model, tmp_path / "m.pt")
    assert measure.size_bytes(path).bytes == path.stat().st_size
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a").write_bytes(b"x" * 10)
    (tmp_path / "folder" / "b").write_bytes(b"y" * 7)
    assert measure.size_bytes(tmp_path / "folder").bytes == 17
    zeros = nn.Linear(100, 50)
    nn.init.zeros_(zeros.weight)
    assert measure.size_bytes(zeros).gzip_bytes < size.gzip_bytes / 5
    with pytest.raises(FileNotFoundError, match="no file or folder"):
        measure.size_bytes(tmp_path / "missing")


def test_analytic_size():
    assert measure.analytic_size_bytes(nn.Linear(3, 2), bits=32) == 32
    assert measure.analytic_size_bytes(nn.Linear(3, 2), bits=4) == 4
    with pytest.raises(ValueError, match="bits must be > 0"):
        measure.analytic_size_bytes(nn.Linear(3, 2), bits=0)


def test_latency_reports_conditions():
    lat = measure.latency_ms(nn.Linear(64, 64), torch.zeros(4, 64), min_run_time=0.02)
    assert lat.median_ms > 0 and lat.iqr_ms >= 0 and lat.runs >= 1
    assert lat.batch_size == 4 and lat.threads == torch.get_num_threads()
    assert lat.quantized_engine == torch.backends.quantized.engine
    with pytest.raises(ValueError, match="min_run_time must be > 0"):
        measure.latency_ms(nn.Linear(2, 2), torch.zeros(1, 2), min_run_time=0)


def test_compare_latency_ranks_a_much_bigger_model_slower():
    small, big = nn.Linear(16, 16), nn.Sequential(*[nn.Linear(512, 512) for _ in range(8)])
    r = measure.compare_latency(big, small, torch.zeros(8, 512), candidate_input=torch.zeros(8, 16),
                                rounds=3, min_run_time=0.02)
    assert r["speedup"] > 2 and r["baseline_ms"] > r["candidate_ms"]
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        measure.compare_latency(small, small, torch.zeros(1, 16), rounds=0)


def test_profile_has_the_row_columns():
    p = measure.profile(nn.Linear(10, 3), torch.zeros(1, 10), min_run_time=0.02)
    assert {"params", "nonzero_params", "size_bytes", "gzip_bytes", "macs", "latency_ms"} <= set(p)
    assert p["macs"] == 30 and p["params"] == 33


def test_environment_records_engine_and_capability():
    env = measure.environment()
    assert env["threads"] >= 1 and env["cpu_capability"] and env["quantized_engine"] in \
        torch.backends.quantized.supported_engines + ["none"]
