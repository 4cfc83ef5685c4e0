"""Headless Chromium for the book's and JupyterLab's browser tests: a local server, the browser, page checks.

Chromium and ChromeDriver come from the Debian packages ``chromium`` and ``chromium-driver``; Selenium
drives them through an explicit ``Service`` (``/usr/bin/chromedriver``), so nothing is ever downloaded.
Every server binds 127.0.0.1 only and is stopped when its ``with`` block ends, whatever happens.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import os
import shutil
import tempfile
import threading
from pathlib import Path

# The network is closed: without the background-networking flags Chromium keeps trying to reach Google.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1")
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> tuple[str, str] | None:
    """``(browser, chromedriver)``, from ``$CHROMIUM``/``$CHROMEDRIVER`` or the PATH; ``None`` if either is missing."""
    browser = os.environ.get("CHROMIUM") or next((p for b in BROWSERS if (p := shutil.which(b))), None)
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if browser and driver and Path(browser).exists() and Path(driver).exists():
        return browser, driver
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the standard library's name)
        pass


@contextlib.contextmanager
def serve(folder):
    """Serve ``folder`` over HTTP on 127.0.0.1 (a free port) in a thread; yield the base URL ending in ``/``."""
    folder = Path(folder)
    if not (folder / "index.html").exists():
        raise FileNotFoundError(f"no index.html in {folder}: build the book first (make book)")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="book-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900):
    """A headless Chromium driven by Selenium, with a fresh profile; quit (and profile removed) on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_chromium()
    if found is None:
        raise FileNotFoundError("Chromium or ChromeDriver not found (apt-get install chromium chromium-driver)")
    browser, driver_path = found
    with tempfile.TemporaryDirectory(prefix="companion-chromium-") as profile:
        options = webdriver.ChromeOptions()
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={width},{height}")
        options.binary_location = browser
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            driver.set_page_load_timeout(60)
            driver.set_script_timeout(60)
            yield driver
        finally:
            driver.quit()


def console_errors(driver) -> list[str]:
    """The browser console's errors since the last call (Chromium's SEVERE entries)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


WAIT_FOR_MATH = """
const done = arguments[arguments.length - 1];
if (!document.querySelector('.math')) { done('no math'); return; }
const wait = (n) => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done('typeset'), (e) => done('error: ' + e));
  } else if (n > 0) { setTimeout(() => wait(n - 1), 100); } else { done('MathJax never started'); }
};
wait(300);
"""

# What a reader would notice: images that did not load, math left as TeX, resources from elsewhere.
PAGE_FACTS = """
const body = document.querySelector('div.body') || document.body;
const images = [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}));
const maths = [...body.querySelectorAll('.math')];
const skip = 'pre, code, script, style, textarea, mjx-container, .math, .highlight';
const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
const raw = [];
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  if (n.parentElement.closest(skip)) continue;
  const m = n.textContent.match(/\\$[^$\\s][^$]*\\$|\\\\\\(|\\\\\\[|\\\\begin\\{/);
  if (m) raw.push(n.textContent.trim().slice(0, 120));
}
return {
  title: document.title,
  images: images,
  math_total: maths.length,
  math_rendered: maths.filter(m => m.querySelector('mjx-container')).length,
  math_errors: body.querySelectorAll('mjx-merror').length,
  raw_tex: raw,
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  resources: performance.getEntriesByType('resource').map(r => r.name),
  height: document.documentElement.scrollHeight,
};
"""


def page_facts(driver, url: str) -> dict:
    """Load ``url``, wait for MathJax, and return what :data:`PAGE_FACTS` reads off the page."""
    driver.get(url)
    facts = {"math": driver.execute_async_script(WAIT_FOR_MATH)}
    facts.update(driver.execute_script(PAGE_FACTS))
    return facts


def screenshot(driver, path, *, full_page: bool = True, max_height: int = 16000) -> Path:
    """A PNG of the page (the whole page, up to ``max_height`` pixels, or the window) at ``path``."""
    from ..io import write_bytes_atomic

    size = driver.execute_script("return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    width = driver.execute_script("return window.innerWidth")
    height = min(size[1], max_height) if full_page else driver.execute_script("return window.innerHeight")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": full_page,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    return write_bytes_atomic(base64.b64decode(shot["data"]), path)
