import os

import pytest

os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """Point the model cache at a fresh folder."""
    monkeypatch.setenv("COMPANION_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
