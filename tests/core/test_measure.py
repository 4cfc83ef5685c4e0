import io
import subprocess
import sys
import time

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


class ThreadProbe(nn.Module):
    """Records the PyTorch thread count it runs under (what a compiled kernel following torch would use)."""

    def __init__(self, engine=None):
        super().__init__()
        self.seen = []
        if engine:
            self.engine = engine

    def forward(self, x):
        self.seen.append(torch.get_num_threads())
        return x


def test_latency_runs_at_the_requested_threads_and_restores():
    before = torch.get_num_threads()
    probe = ThreadProbe()
    lat = measure.latency_ms(probe, torch.zeros(4, 8), min_run_time=0.01, threads=1)
    assert set(probe.seen) == {1}, "warm-up and timed calls must all run on the requested thread count"
    assert lat.threads == 1 and lat.batch_size == 4 and lat.engine == "pytorch" and lat.runs >= 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="min_run_time must be > 0"):
        measure.latency_ms(nn.Linear(2, 2), torch.zeros(1, 2), min_run_time=0)


def test_both_sides_of_a_comparison_get_the_same_threads():
    a, b = ThreadProbe(), ThreadProbe(engine="numba-xnor")
    r = measure.compare_latency(a, b, torch.zeros(2, 4), rounds=2, min_run_time=0.01, threads=1)
    assert set(a.seen) == set(b.seen) == {1} and r["threads"] == 1
    assert r["engine"] == "numba-xnor" and r["baseline_engine"] == "pytorch"


class Sleeper(nn.Module):
    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def forward(self, x):
        time.sleep(self.seconds)
        return x


def test_speedup_is_the_median_of_per_round_ratios(monkeypatch):
    # Round times chosen so that the median of ratios (2.0) differs from the ratio of medians (3.0 / 1.0 = 3).
    fake = {"a": iter([4.0, 3.0, 1.0]), "b": iter([2.0, 1.0, 1.0])}
    monkeypatch.setattr(measure, "_time", lambda model, x, *a: (next(fake[model.name]), 0.0, 1))
    ma, mb = nn.Identity(), nn.Identity()
    ma.name, mb.name = "a", "b"
    rows = measure.latency_table({"a": ma, "b": mb}, torch.zeros(1, 1), rounds=3, min_run_time=0.01)
    assert rows[0]["speedup"] == 1.0 and rows[1]["ms"] == 1.0 and rows[0]["ms"] == 3.0
    assert rows[1]["speedup"] == 2.0  # median of 4/2, 3/1, 1/1; the ratio of medians would say 3.0


def test_compare_latency_ranks_a_slower_model_slower():
    r = measure.compare_latency(Sleeper(0.004), Sleeper(0.001), torch.zeros(1, 1), rounds=3, min_run_time=0.02)
    assert 2.0 < r["speedup"] < 6.0 and r["baseline_ms"] > r["candidate_ms"]
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        measure.compare_latency(Sleeper(0), Sleeper(0), torch.zeros(1, 1), rounds=0)
    with pytest.raises(ValueError, match="reference 'c' is not one of the models"):
        measure.latency_table({"a": Sleeper(0)}, torch.zeros(1, 1), reference="c")


def test_busy_other_sees_another_process_and_not_our_own_work():
    if measure.busy_other(0.2) is None:
        pytest.skip("no /proc/stat on this system")
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert measure.busy_other(0.6) > 0.5, "a busy-looping process is at least half a core"
    finally:
        hog.kill()
        hog.wait()
    with pytest.raises(ValueError, match="interval must be > 0"):
        measure.busy_other(0)


def test_our_own_cpu_time_is_not_counted_as_other(monkeypatch):
    # 1.5 s of machine-wide busy time over 1 s of wall time, 1.2 s of it ours: others used 0.3 cores.
    clock = iter([10.0, 11.0])
    busy = iter([100.0, 101.5])
    own = iter([5.0, 6.2])
    monkeypatch.setattr(measure.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(measure, "_busy_seconds", lambda: next(busy))
    monkeypatch.setattr(measure, "_own_seconds", lambda: next(own))
    assert measure.CpuMonitor().start().stop() == pytest.approx(0.3)


def test_conditions_line_says_busy_loudly():
    c = {"cpu": "X", "cores": 2, "cpu_capability": "AVX512", "flags": ["avx2"], "torch": "2.14.1", "threads": 2,
         "quantized_engine": "x86", "busy_other": 1.3, "quiet": False}
    line = measure.conditions_line(c)
    assert line.startswith("Measurement conditions: X, 2 cores") and "1.30 cores: BUSY" in line
    assert measure.conditions_line({**c, "busy_other": 0.01, "quiet": True}).endswith("0.01 cores: quiet")
    assert measure.is_quiet(measure.QUIET_CORES) and not measure.is_quiet(measure.QUIET_CORES + 0.01)


def test_latency_fields_fill_a_row():
    r = {"baseline_ms": 2.0, "candidate_ms": 1.0, "speedup": 2.0, "batch_size": 8, "threads": 2, "engine": "x",
         "baseline_engine": "pytorch", "device": "cpu", "busy_other": 0.0}
    assert measure.latency_fields(r) == {"latency_ms": 1.0, "latency_kind": "measured", "latency_batch": 8,
                                         "threads": 2, "engine": "x", "device": "cpu", "busy_other": 0.0}
    assert measure.latency_fields(r, "baseline")["engine"] == "pytorch"
    with pytest.raises(ValueError, match="side must be"):
        measure.latency_fields(r, "both")


def test_profile_has_the_size_columns():
    p = measure.profile(nn.Linear(10, 3), torch.zeros(1, 10))
    assert p["macs"] == 30 and p["params"] == 33 and p["size_kind"] == "file"
    assert "latency_ms" not in p, "latency comes only from interleaved comparisons"


def test_environment_and_cpu_flags():
    env = measure.environment()
    assert env["cpu_capability"] and env["torch"] == torch.__version__ and "device" not in env
    flags = measure.cpu_flags(("avx2", "no_such_flag"))
    assert flags == {} or flags["no_such_flag"] is False


def test_a_timing_context_is_entered_around_the_timed_calls():
    class Bound(ThreadProbe):
        def __init__(self):
            super().__init__()
            self.inside = []
            self.active = False

        def timing_context(self):
            import contextlib

            @contextlib.contextmanager
            def ctx():
                self.active = True
                try:
                    yield
                finally:
                    self.active = False
            return ctx()

        def forward(self, x):
            self.inside.append(self.active)
            return x

    m = Bound()
    measure.compare_latency(ThreadProbe(), m, torch.zeros(1, 1), rounds=1, min_run_time=0.01)
    assert m.inside and all(m.inside) and not m.active
