"""JupyterLab in headless Chromium: 00_baseline opens with the project's kernel (no "kernel not found" prompt),
its first code cells run through the UI and their output appears, and its committed figures display.
The server runs on 127.0.0.1 with a token, and is stopped whatever happens."""
import re
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest

from companion.book import browser
from companion.execution import lab_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "00_baseline.ipynb"
SCREENSHOT = ROOT / "results" / "book-screenshots" / "jupyterlab-00_baseline.png"

STATUS = "return (document.querySelector('#jp-main-statusbar') || {innerText: ''}).innerText"
DIALOGS = "return [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText)"
CELL = "return document.querySelectorAll('.jp-Notebook .jp-CodeCell')[arguments[0]]"
IMAGES = """return [...document.querySelectorAll('.jp-Notebook .jp-RenderedImage img')]
                   .map(i => i.complete && i.naturalWidth > 0)"""


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def copy_with_fresh_cells(src: Path, dest: Path) -> tuple[int, list[str]]:
    """Copy the notebook, clearing the outputs of its code cells up to the first that has committed output.

    Returns how many code cells that is, and the words of that output's first line (what must reappear).
    """
    nb = nbformat.read(src, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    last = next(i for i, c in enumerate(code) if c.outputs)
    out = code[last].outputs[0]
    text = out.get("text") or out.get("data", {}).get("text/plain", "")
    words = [w for w in next(line for line in text.splitlines() if line.strip()).split() if re.search(r"\w", w)]
    for c in code[: last + 1]:
        c.outputs, c.execution_count = [], None
    nbformat.write(nb, dest / src.name)
    return last + 1, words


def test_jupyterlab_opens_runs_and_shows_00_baseline(tmp_path, chromium):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    n_run, words = copy_with_fresh_cells(NOTEBOOK, tmp_path)
    driver = chromium
    browser.console_errors(driver)  # start from an empty log
    with lab_server(tmp_path) as (base, token, log):
        driver.get(f"{base}lab/tree/{NOTEBOOK.name}?token={token}")
        status = wait_for(lambda: "Idle" in (t := driver.execute_script(STATUS)) and "No Kernel" not in t and t,
                          180, "the kernel to report idle")
        assert "Python 3" in status, f"unexpected kernel in the status bar: {status!r}"
        assert not driver.execute_script(DIALOGS), f"a dialog opened: {driver.execute_script(DIALOGS)}"
        for i in range(n_run):
            cell = driver.execute_script(CELL, i)
            cell.find_element("css selector", ".cm-content").click()
            ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
        last = driver.execute_script(CELL, n_run - 1)
        output = wait_for(lambda: " ".join(last.find_element("css selector", ".jp-Cell-outputWrapper").text.split()),
                          300, "the output of the first code cell with output")
        missing = [w for w in words if w not in output]
        assert not missing, f"the fresh output lacks {missing}: {output[:300]!r}"
        prompt = last.find_element("css selector", ".jp-InputPrompt").text
        assert prompt == f"[{n_run}]:", f"execution prompt {prompt!r}: the cells did not run in order"
        images = wait_for(lambda: (im := driver.execute_script(IMAGES)) and all(im) and im, 60,
                          "the committed figures to display")
        assert len(images) >= 1
        browser.screenshot(driver, SCREENSHOT, full_page=False)
        assert not driver.execute_script(DIALOGS), "a dialog opened while running"
        assert not browser.console_errors(driver)
        server_log = log.read_text(errors="replace")
        assert "without encryption" not in server_log and "Traceback" not in server_log, server_log[-2000:]
    port = urlsplit(base).port
    with socket.socket() as s, pytest.raises(OSError):
        s.connect(("127.0.0.1", port))  # the server is gone
