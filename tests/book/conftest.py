"""Fixtures of the book's tests: the built book, a local server, headless Chromium.

Browser tests skip with a clear reason only where Chromium or ChromeDriver cannot be found, and never in
CI (``$CI`` set): there a missing browser is a failure.
"""
import os
from pathlib import Path

import pytest

from companion.book import browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "results" / "book-screenshots"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives headless Chromium (Debian chromium + chromium-driver)")


def require_chromium():
    """Skip (outside CI) or fail (in CI) when Chromium or ChromeDriver is missing."""
    if browser.find_chromium() is not None:
        return
    reason = ("Chromium or ChromeDriver not found (looked for chromium, chromium-browser, google-chrome and "
              "chromedriver on the PATH, or $CHROMIUM/$CHROMEDRIVER): apt-get install chromium chromium-driver")
    if os.environ.get("CI"):
        pytest.fail(f"{reason}. In CI the browser tests must run: .ci/run installs these packages.")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def book():
    """The book: ``$COMPANION_BOOK`` when set (``make test-book`` builds it first), else built once per session
    into results/book as ``make book`` does."""
    from companion.book import build

    given = os.environ.get("COMPANION_BOOK")
    if given:
        folder = (ROOT / given).resolve()
        if not (folder / "index.html").is_file():
            pytest.fail(f"COMPANION_BOOK={given}: no index.html there (run make book)")
        return folder
    return build(ROOT)


@pytest.fixture(scope="session")
def site(book):
    """``(base_url, folder)`` of the book served on 127.0.0.1; the server stops after the session."""
    with browser.serve(book) as url:
        yield url, book


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session (fresh profile), quit afterwards."""
    require_chromium()
    with browser.chromium() as driver:
        yield driver
