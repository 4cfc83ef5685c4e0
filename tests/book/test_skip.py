"""Without Chromium the browser tests skip and say why; in CI ($CI set) they fail instead."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from companion.book.browser import find_chromium

ROOT = Path(__file__).resolve().parents[2]


def test_find_chromium_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CHROMIUM", str(tmp_path / "no-such-browser"))
    assert find_chromium() is None
    monkeypatch.delenv("CHROMIUM")
    monkeypatch.setenv("CHROMEDRIVER", str(tmp_path / "no-such-driver"))
    assert find_chromium() is None


@pytest.mark.parametrize("ci, outcome", [(None, "1 skipped"), ("1", "1 error")])
def test_a_missing_browser_skips_with_a_reason_but_fails_in_ci(ci, outcome, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "COMPANION_BOOK")}
    env.update(CHROMIUM=str(tmp_path / "no-such-browser"), TQDM_DISABLE="1", **({"CI": ci} if ci else {}))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           "tests/book/test_lab.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert outcome in proc.stdout, proc.stdout[-2000:]
    assert "apt-get install chromium chromium-driver" in proc.stdout
    if ci:
        assert "In CI the browser tests must run" in proc.stdout
