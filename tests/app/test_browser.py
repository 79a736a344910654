"""End to end in a real browser: `streamlit run app.py` on a free localhost port, Debian's
chromium driven by Selenium. Uploads real photos of several modes in a row (and a
non-image) with no data set configured, checking the grid and every widget after each;
switches pages and goes Back; opens every page; reopens a copied URL in a new session.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from apptest_helpers import PHOTOS, REPO, photo_path

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = REPO / "test-artifacts"
# Deep-link parameters that keep the test short on a small CI machine: the session's tiny
# random-init pack (4 variants, TinyCNN) and the two quick methods.
FAST = "m=saliency,gradcam"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (scripts/setup.sh dev installs them)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(log_path: Path, env: dict, prelude: str = "", procs: list | None = None):
    """`streamlit run app.py` on a free port; yields its base URL, stops it afterwards.
    `prelude`: Python run in the server's process before Streamlit starts (a test's patch);
    `procs` gets the server's Popen."""
    port = free_port()
    log = open(log_path, "w+")
    launcher = (
        ["-c", f"{prelude}\nfrom streamlit.web.cli import main\nmain()"] if prelude else ["-m", "streamlit"]
    )
    cmd = [
        sys.executable,
        *launcher,
        "run",
        "app.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--client.showErrorDetails",
        "full",
    ]
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SC_VIZ_WARMUP": "0", **env}
    )
    if procs is not None:
        procs.append(proc)
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
def server(tmp_path_factory, tiny_pack):
    """The app with the data set (gallery) and the session's tiny pack."""
    yield from start_server(
        tmp_path_factory.mktemp("server") / "streamlit.log", {"SC_VIZ_PACKS": str(tiny_pack.parent)}
    )


@pytest.fixture(scope="module")
def upload_only_server(tmp_path_factory, tiny_pack):
    """The app with SC_VIZ_DATA pointing at an empty folder: the pages offer upload only."""
    empty = tmp_path_factory.mktemp("no-data")
    yield from start_server(
        tmp_path_factory.mktemp("server") / "streamlit.log",
        {"SC_VIZ_PACKS": str(tiny_pack.parent), "SC_VIZ_DATA": str(empty)},
    )


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1600,1100",
    ):
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
    assert not css(driver, '[data-testid="stException"]'), css(driver, '[data-testid="stException"]')[0].text[
        :2000
    ]
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
    wait_until(driver, lambda: any(heading in h.text for h in css(driver, "h1")), timeout=240, what=heading)
    wait_until(driver, drawn(driver, last_selector, count), timeout=240, what=f"{heading} drawn")


def widget_values(driver) -> dict:
    """{"sidebar: label" or "main: label": shown value} of every widget, read from the
    browser (what the user sees, not what the server holds)."""
    values = {}
    for where, root in (("sidebar", '[data-testid="stSidebar"]'), ("main", '[data-testid="stMain"]')):

        def each(kind, root=root):
            return css(driver, f'{root} [data-testid="{kind}"]')

        for box in each("stMultiSelect"):  # the label, then one line per chip
            values[f"{where}: {label_of(box)}"] = box.text.split("\n")[1:]
        for box in each("stSelectbox"):  # a combobox: the choice is its input's value
            values[f"{where}: {label_of(box)}"] = box.find_element(
                "css selector", 'input[role="combobox"]'
            ).get_attribute("value")
        for box in each("stSlider"):
            values[f"{where}: {label_of(box)}"] = box.find_element(
                "css selector", 'input[type="range"]'
            ).get_attribute("value")
        for box in each("stCheckbox"):
            values[f"{where}: {label_of(box)}"] = box.find_element("css selector", "input").is_selected()
        for box in each("stRadio"):
            values[f"{where}: {label_of(box)}"] = [
                r.text
                for r in box.find_elements("css selector", "label")
                if r.find_elements("css selector", "input:checked")
            ]
    return values


def label_of(box) -> str:
    found = box.find_elements("css selector", '[data-testid="stWidgetLabel"]')
    return found[0].text if found else box.text.split("\n")[0]


def grid_cells(driver) -> tuple[int, int]:
    """(images in the main area with a caption: input cells and map cells; of which map
    cells with a 'target:' caption). The colour bars under the column titles have none."""
    cells = [c for c in css(driver, '[data-testid="stMain"] [data-testid="stImage"]') if c.text.strip()]
    return len(cells), sum("target:" in c.text for c in cells)


def assert_full_grid(driver, variants: int, methods: int):
    """Every variant x method cell drawn (the grid fills method by method: wait for it)."""
    full = (variants * (methods + 1), variants * methods)
    wait_until(driver, lambda: grid_cells(driver) == full and idle(driver)(), what="the full grid")
    assert grid_cells(driver) == full


def no_page_not_found(driver):
    dialogs = [d.text for d in css(driver, '[role="dialog"]')]
    assert not any("Page not found" in d for d in dialogs), dialogs


def upload(driver, path: Path) -> None:
    wait_until(driver, lambda: css(driver, 'input[type="file"]'), what="the file input")
    css(driver, 'input[type="file"]')[0].send_keys(str(path))


def wait_for_upload(driver, name: str) -> None:
    """The sidebar shows the upload under its name and the grid is drawn for it."""
    wait_until(
        driver,
        lambda: any(
            f"uploaded: {name}" in el.text
            for el in css(driver, '[data-testid="stSidebar"] [data-testid="stImage"]')
        ),
        what=f"the upload {name} in the sidebar",
    )
    wait_until(driver, drawn(driver, '[data-testid="stDownloadButton"]', 3), what=f"{name} drawn")


def press(driver, slider_label: str, key: str, times: int = 1) -> None:
    """Move a slider with the keyboard, as a user would, one step at a time (each step waits
    for the slider to show its new value: a key sent while the page redraws can be lost)."""

    def thumb():
        box = next(b for b in css(driver, '[data-testid="stSlider"]') if label_of(b) == slider_label)
        return box.find_element("css selector", 'input[type="range"]')

    for _ in range(times):
        wait_until(driver, idle(driver), what=f"{slider_label} ready")
        before = thumb().get_attribute("value")

        def moved(before=before):
            if thumb().get_attribute("value") != before:
                return True
            driver.execute_script("arguments[0].focus()", thumb())
            thumb().send_keys(key)
            time.sleep(1.0)
            return thumb().get_attribute("value") != before

        wait_until(driver, moved, timeout=30, what=f"{slider_label} moved")
    wait_until(driver, idle(driver), what=f"{slider_label} applied")


@pytest.mark.timeout(900)
def test_uploads_in_a_row_keep_the_view(upload_only_server, browser, tmp_path, tiny_pack):
    """Issue 11's sequence on a fresh server with no data set: the first visit is a page's
    link; real photos of several modes one after the other, a non-image, a photo again;
    after each the full grid and the widgets as the user left them; a page switch and
    Back (one press) keep them too."""
    from selenium.webdriver.common.keys import Keys

    link = (
        f"{upload_only_server}/saliency?pack={tiny_pack.name}&v=standard,advc&m=saliency,gradcam"
        "&mode=predicted&ig=16"
    )
    browser.get(link)
    wait_until(
        browser,
        lambda: any("Upload an image" in a.text for a in css(browser, '[data-testid="stAlert"]')),
        timeout=240,
        what="the upload prompt",
    )
    no_page_not_found(browser)
    assert "/saliency" in browser.current_url
    photos = [photo_path(name) for name, _ in PHOTOS]
    upload(browser, photos[0])
    wait_for_upload(browser, photos[0].name)
    assert_full_grid(browser, 2, 2)
    press(browser, "Overlay opacity", Keys.ARROW_LEFT, times=2)  # 0.5 -> 0.4, by hand
    view = widget_values(browser)
    assert view["main: Variants"] == ["standard", "advc"]
    assert view["main: Methods"] == ["Saliency (gradient)", "Grad-CAM"]  # plain names, in the chosen order
    assert view["main: Overlay opacity"] == "0.4" and view["main: IG steps"] == "16"
    assert view["main: Explain"] == "each model's prediction"
    shot(browser, "upload-0")

    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    for i, path in enumerate([*photos[1:], bad, photos[0]], start=1):
        upload(browser, path)
        if path == bad:
            wait_until(
                browser,
                lambda: any("notes.png" in a.text for a in css(browser, '[data-testid="stAlert"]')),
                what="the non-image's message",
            )
            assert_no_exception(browser)
            continue
        wait_for_upload(browser, path.name)
        assert_no_exception(browser)
        assert_full_grid(browser, 2, 2)
        assert widget_values(browser) == view, path.name
        shot(browser, f"upload-{i}")

    # Another page and back: the view and the upload are kept; Back needs one press.
    links = css(browser, '[data-testid="stSidebar"] a')
    next(a for a in links if a.text.strip().endswith("Robustness")).click()
    wait_until(browser, lambda: any("Robustness" in h.text for h in css(browser, "h1")), what="Robustness")
    wait_until(browser, drawn(browser, '[data-testid="stDownloadButton"]'), what="Robustness drawn")
    browser.back()
    wait_until(browser, lambda: any("Saliency" in h.text for h in css(browser, "h1")), what="Saliency again")
    wait_for_upload(browser, photos[0].name)
    assert "/saliency" in browser.current_url
    assert_full_grid(browser, 2, 2)
    assert widget_values(browser) == view
    shot(browser, "upload-back")


@pytest.mark.timeout(900)
def test_every_page_and_a_copied_url(server, browser, tiny_pack):
    """The capitalised route as a fresh server's first visit, every page drawn without an
    exception, and a copied URL reopening the same view in a new browser session."""
    from selenium.webdriver.common.keys import Keys

    pack = f"pack={tiny_pack.name}"
    open_page(browser, f"{server}/Saliency?{pack}&{FAST}", "Saliency", '[data-testid="stDownloadButton"]', 3)
    no_page_not_found(browser)
    assert_full_grid(browser, 4, 2)
    download = '[data-testid="stDownloadButton"]'
    for path, heading, expect_images, buttons in [
        (f"continuity?{pack}", "Continuity", 16, 1),
        (f"robustness?{pack}", "Robustness", 5, 1),
        (f"embeddings?{pack}", "Embeddings", 0, 2),
        (f"?{pack}", "sc-viz", 0, 0),
    ]:
        open_page(browser, f"{server}/{path}", heading, download if buttons else "h1", max(buttons, 1))
        wait_until(
            browser,
            lambda n=expect_images: len(css(browser, '[data-testid="stMain"] [data-testid="stImage"]')) >= n,
            what=f"{heading} images",
        )
        assert_no_exception(browser)
        shot(browser, path.split("?")[0] or "home")

    link = f"{server}/saliency?{pack}&{FAST}&img=6000&mode=class&target=3"
    open_page(browser, link, "Saliency", download, 3)
    press(browser, "LIME samples", Keys.ARROW_RIGHT, times=2)
    view = widget_values(browser)
    assert view["sidebar: Example"] == "test image 6000" and view["sidebar: Image class"] == "frog"
    assert view["main: Target class"] == "cat" and view["main: LIME samples"] == "700"
    copied = browser.current_url
    browser.switch_to.new_window("tab")  # a new session on the copied URL
    try:
        open_page(browser, copied, "Saliency", download, 3)
        assert widget_values(browser) == view
        assert_full_grid(browser, 4, 2)
        shot(browser, "saliency-copied-url")
    finally:
        browser.close()
        browser.switch_to.window(browser.window_handles[0])


def title_px(driver) -> float:
    return float(css(driver, '[data-testid="stMain"] h1')[0].value_of_css_property("font-size")[:-2])


def plot_ranges(driver) -> list:
    """[(x range, y range)] of every plotly plot on the page, as drawn."""
    return driver.execute_script(
        "return [...document.querySelectorAll('.js-plotly-plot')].map("
        "p => [p._fullLayout.xaxis.range, p._fullLayout.yaxis.range]);"
    )


@pytest.mark.timeout(900)
def test_presentation_mode(server, browser, tiny_pack):
    """Issue 12: every page in presentation mode and the grid in both (screenshots; the other
    pages in normal mode are shot by test_every_page_and_a_copied_url); in presentation mode the grid's row
    labels stay, the title is larger and the cells as large as the columns allow; a joint
    projection's plots have equal ranges."""
    pack, download = f"pack={tiny_pack.name}&{FAST}&img=3003", '[data-testid="stDownloadButton"]'
    sizes = {}
    for present in ("", "&present=1"):
        mode = "present" if present else "normal"
        if present:  # one HTML grid sized by the viewport (test_browser_present.py measures it)
            browser.get(f"{server}/saliency?{pack}{present}")
            wait_until(browser, lambda: len(css(browser, ".sc-grid img.sc-cell")) == 4 * 3, what="the grid")
            labels = [b.text for b in css(browser, ".sc-grid .sc-label b")]
            assert labels == ["standard", "c", "adv", "advc"], labels
            cells = css(browser, ".sc-grid img.sc-cell")
        else:
            open_page(browser, f"{server}/saliency?{pack}{present}", "Saliency", download, 3)
            assert_full_grid(browser, 4, 2)
            labels = [c.text for c in css(browser, '[data-testid="stMain"] [data-testid="stImageCaption"]')]
            assert all(any(t.startswith(f"{v}:") for t in labels) for v in ("standard", "c", "adv", "advc"))
            cells = css(browser, '[data-testid="stMain"] [data-testid="stImage"] img')
        sizes[mode] = [max(int(c.get_attribute("naturalWidth")) for c in cells)]
        shot(browser, f"saliency-{mode}")
        for path, heading in (
            [
                ("embeddings", "Embeddings"),
                ("continuity", "Continuity"),
                ("robustness", "Robustness"),
                ("", "sc-viz"),
            ]
            if present
            else []
        ):
            # (normal mode: test_every_page_and_a_copied_url takes these screenshots)
            open_page(browser, f"{server}/{path}?{pack}{present}", heading, download if path else "h1")
            assert_no_exception(browser)
            shot(browser, f"{path or 'home'}-{mode}")
    open_page(browser, f"{server}/continuity?{pack}", "Continuity", download)
    sizes["normal"].insert(0, title_px(browser))
    open_page(browser, f"{server}/continuity?{pack}&present=1", "Continuity", download)
    sizes["present"].insert(0, title_px(browser))
    assert sizes["present"][0] >= 2 * sizes["normal"][0] * 0.95, sizes  # titles about twice the size
    assert sizes["present"][1] > sizes["normal"][1], sizes  # larger cells (the export uses the same)

    open_page(browser, f"{server}/embeddings?{pack}&shared=1", "Embeddings", download, 2)
    ranges = plot_ranges(browser)
    assert len(ranges) == 4 and all(r == ranges[0] for r in ranges), ranges


# Decoding made slow in the server (a busy disk, two busy cores): a first visit takes minutes.
SLOW_DECODING = """
import time
import sc_viz.data as data
_real = data.decode_image
def _slow(path, size):
    time.sleep(0.05)
    return _real(path, size)
data.decode_image = _slow
"""


def test_first_visit_shows_progress_and_sigterm_stops_the_server(browser, tiny_pack, tmp_path):
    """A fresh SC_VIZ_CACHE and slow decoding: the page shows "Decoding 10,000 test images:
    N%" with the page links in the sidebar, not a spinner; SIGTERM mid-build stops the
    server within a few seconds."""
    procs = []
    server = start_server(
        tmp_path / "streamlit.log",
        {"SC_VIZ_PACKS": str(tiny_pack.parent), "SC_VIZ_CACHE": str(tmp_path / "cache")},
        prelude=SLOW_DECODING,
        procs=procs,
    )
    base = next(server)
    try:
        browser.get(f"{base}/saliency?pack={tiny_pack.name}&{FAST}")
        bar = '[data-testid="stMain"] [data-testid="stProgress"]'
        wait_until(
            browser,
            lambda: any("Decoding 10,000 test images:" in b.text for b in css(browser, bar)),
            timeout=90,
            what="the decoding progress",
        )
        first = [b.text for b in css(browser, bar)][0]
        wait_until(
            browser, lambda: [b.text for b in css(browser, bar)] != [first], timeout=30, what="progress"
        )
        links = [
            a.text.split("\n")[-1]
            for a in css(browser, '[data-testid="stSidebar"] [data-testid="stPageLink"]')
        ]
        assert "Saliency" in links and "Sanity" in links, links
        shot(browser, "first-visit-progress")
        proc = procs[0]
        assert proc.poll() is None
        started = time.monotonic()
        proc.terminate()  # SIGTERM, mid-build
        proc.wait(timeout=30)
        assert time.monotonic() - started < 5
        assert not list((tmp_path / "cache" / "arrays").glob("*.npz"))  # no half-built cache
    finally:
        server.close()  # stops it if still running
