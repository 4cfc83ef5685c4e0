"""JupyterLab in headless Chromium: 00_baseline opens with the project's kernel (no "kernel not found" prompt),
its first code cells run through the UI until one shows output (its committed output's words, if it has any,
reappear), and committed figures display (00's, or while 00 is committed without outputs, another notebook's).
The server runs on 127.0.0.1 with a token, and is stopped whatever happens."""
import re
import shutil
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


MAX_CELLS = 4  # run cells from the top until one shows output, at most this many


def has_images(nb) -> bool:
    return any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def copy_with_fresh_cells(src: Path, dest: Path) -> list[list[str]]:
    """Copy the notebook with the outputs of its first code cells cleared (so what appears is fresh).

    Returns, for each of those cells, the words of its committed output's first line ([] when it has none).
    """
    nb = nbformat.read(src, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"][:MAX_CELLS]
    expected = []
    for c in code:
        text = "".join(o.get("text") or o.get("data", {}).get("text/plain", "") for o in c.outputs)
        first = next((line for line in text.splitlines() if line.strip()), "")
        expected.append([w for w in first.split() if re.search(r"\w", w)])
        c.outputs, c.execution_count = [], None
    nbformat.write(nb, dest / src.name)
    return expected


def open_notebook(driver, base, token, name):
    driver.get(f"{base}lab/tree/{name}?token={token}")
    status = wait_for(lambda: "Idle" in (t := driver.execute_script(STATUS)) and "No Kernel" not in t and t,
                      180, f"the kernel of {name} to report idle")
    assert "Python 3" in status, f"unexpected kernel in the status bar: {status!r}"
    assert not driver.execute_script(DIALOGS), f"a dialog opened: {driver.execute_script(DIALOGS)}"


def run_cell(driver, i: int) -> str:
    """Run code cell ``i`` through the UI (click, Shift+Enter); wait for it to finish; return its output text."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    cell = driver.execute_script(CELL, i)
    cell.find_element("css selector", ".cm-content").click()
    ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
    prompt = wait_for(lambda: re.fullmatch(r"\[\d+\]:", cell.find_element("css selector", ".jp-InputPrompt").text),
                      300, f"code cell {i + 1} to finish")
    assert prompt.group(0) == f"[{i + 1}]:", f"cell {i + 1} ran as {prompt.group(0)}: not in order"
    return " ".join(cell.find_element("css selector", ".jp-Cell-outputWrapper").text.split())


def test_jupyterlab_opens_runs_and_shows_00_baseline(tmp_path, chromium):
    expected = copy_with_fresh_cells(NOTEBOOK, tmp_path)
    with_figures = next((p for p in [NOTEBOOK, *sorted(NOTEBOOK.parent.glob("[0-9]*.ipynb"))]
                         if has_images(nbformat.read(p, as_version=4))), None)
    if with_figures is not None and with_figures != NOTEBOOK:
        shutil.copy2(with_figures, tmp_path / with_figures.name)  # 00 is committed without figures for now
    driver = chromium
    browser.console_errors(driver)  # start from an empty log
    with lab_server(tmp_path) as (base, token, log):
        open_notebook(driver, base, token, NOTEBOOK.name)
        for i in range(len(expected)):
            output = run_cell(driver, i)
            if output:
                break
        assert output, f"none of the first {len(expected)} code cells showed output"
        assert "Traceback" not in output and "Error" not in output, output[:500]
        missing = [w for w in expected[i] if w not in output]
        assert not missing, f"cell {i + 1}'s fresh output lacks {missing} of its committed one: {output[:300]!r}"
        browser.screenshot(driver, SCREENSHOT, full_page=False)
        if with_figures is not None:
            if with_figures != NOTEBOOK:
                open_notebook(driver, base, token, with_figures.name)
            images = wait_for(lambda: (im := driver.execute_script(IMAGES)) and all(im) and im, 60,
                              f"the committed figures of {with_figures.name} to display")
            assert len(images) >= 1
        assert not driver.execute_script(DIALOGS), "a dialog opened while running"
        assert not browser.console_errors(driver)
        server_log = log.read_text(errors="replace")
        assert "without encryption" not in server_log and "Traceback" not in server_log, server_log[-2000:]
    port = urlsplit(base).port
    with socket.socket() as s, pytest.raises(OSError):
        s.connect(("127.0.0.1", port))  # the server is gone
