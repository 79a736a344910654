"""End to end in a real browser: `streamlit run app.py` on a free localhost port, Debian's
chromium driven by Selenium. Opens every page, uploads a real image (and a bad one) on the
Saliency page, waits for the grid, checks that no exception is shown, saves screenshots
under test-artifacts/."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from apptest_helpers import REPO, real_photo_bytes

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = REPO / "test-artifacts"
# Deep-link parameters that keep the test short on a small CI machine: the session's tiny
# random-init pack (4 variants, TinyCNN) and the two quick methods.
FAST = "m=saliency,gradcam"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (scripts/setup.sh dev installs them)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_pack):
    port = free_port()
    log = open(tmp_path_factory.mktemp("server") / "streamlit.log", "w+")
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--server.fileWatcherType", "none", "--client.showErrorDetails", "full"]
    env = {**os.environ, "SC_VIZ_WARMUP": "0", "SC_VIZ_PACKS": str(tiny_pack.parent)}
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.seek(0)
                pytest.fail(f"streamlit did not start:\n{log.read()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1600,1100"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def wait_until(driver, predicate, timeout=120, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if css(driver, '[data-testid="stException"]'):
            break  # fail fast with the screenshot below
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - elements go stale while Streamlit redraws
            pass
        time.sleep(0.5)
    shot(driver, f"timeout-{what.replace(' ', '-')}")
    assert not css(driver, '[data-testid="stException"]'), \
        css(driver, '[data-testid="stException"]')[0].text[:2000]
    pytest.fail(f"timed out waiting for {what}")


def idle(driver):
    """Streamlit finished its run: no running indicator for a moment."""
    def quiet():
        if css(driver, '[data-testid="stStatusWidget"]'):
            return False
        time.sleep(1.0)
        return not css(driver, '[data-testid="stStatusWidget"]')
    return quiet


def shot(driver, name):
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def assert_no_exception(driver):
    found = css(driver, '[data-testid="stException"]')
    assert not found, found[0].text[:2000]


def drawn(driver, last_selector, count=1):
    """The page's run got to its last element and every plotly chart has drawn its SVG
    (Streamlit draws incrementally, so the title alone says little)."""
    def check():
        if len(css(driver, last_selector)) < count or css(driver, '[data-testid="stSkeleton"]'):
            return False  # skeletons: lazily loaded elements (tables, charts) still coming
        charts = css(driver, '[data-testid="stPlotlyChart"]')
        return all(c.find_elements("css selector", ".main-svg") for c in charts) and idle(driver)()
    return check


def open_page(driver, url, heading, last_selector, count=1):
    driver.get(url)
    wait_until(driver, lambda: any(heading in h.text for h in css(driver, "h1")), timeout=240,
               what=heading)
    wait_until(driver, drawn(driver, last_selector, count), timeout=240, what=f"{heading} drawn")


@pytest.mark.timeout(900)
def test_every_page_and_an_upload(server, browser, tmp_path, tiny_pack):
    pack = f"pack={tiny_pack.name}"
    open_page(browser, server, "sc-viz", '[data-testid="stExpander"]')
    assert_no_exception(browser)
    shot(browser, "home")

    download = '[data-testid="stDownloadButton"]'
    for path, heading, expect_images, buttons in [(f"continuity?{pack}", "Continuity", 16, 1),
                                                  (f"robustness?{pack}", "Robustness", 5, 1),
                                                  (f"embeddings?{pack}", "Embeddings", 0, 2),
                                                  (f"saliency?{pack}&{FAST}", "Saliency", 3, 3)]:
        open_page(browser, f"{server}/{path}", heading, download, buttons)
        wait_until(browser, lambda: len(css(browser, '[data-testid="stMain"] [data-testid="stImage"]'))
                   >= expect_images, what=f"{heading} images")
        assert_no_exception(browser)
        shot(browser, path.split("?")[0])

    # Saliency page: switch the image source to Upload and send a real photo.
    labels = [el for el in css(browser, '[data-testid="stSidebar"] label') if el.text.strip() == "Upload"]
    assert labels, "the Upload option is shown"
    labels[0].click()
    wait_until(browser, lambda: css(browser, 'input[type="file"]'), what="file input")
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(real_photo_bytes())
    css(browser, 'input[type="file"]')[0].send_keys(str(photo))
    # the sidebar shows the upload under its name; the grid is then redrawn for it
    wait_until(browser, lambda: any("uploaded: cat.jpg" in el.text for el in
                                    css(browser, '[data-testid="stSidebar"] [data-testid="stImage"]')),
               what="the upload in the sidebar")
    wait_until(browser, drawn(browser, download, 3), what="upload drawn")
    cells = css(browser, '[data-testid="stMain"] [data-testid="stImage"]')
    assert len(cells) >= 3 and sum("target:" in c.text for c in cells) >= 2
    assert_no_exception(browser)
    shot(browser, "saliency-upload")

    # A text file named .png: one line of error, the page stays usable.
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    css(browser, 'input[type="file"]')[0].send_keys(str(bad))
    wait_until(browser, lambda: any("notes.png" in a.text for a in css(browser, '[data-testid="stAlert"]')),
               what="bad upload message")
    assert_no_exception(browser)
    shot(browser, "saliency-bad-upload")
