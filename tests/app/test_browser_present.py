"""Presentation mode in a real browser (issue 24): the Saliency grid (4 variants x 3
methods) fits a 1920x1080 and a 1280x720 screen, every map cell inside the viewport, no
horizontal overflow; the thin bar folds away with P/N still working, its page links keep
the mode; on the Models page the mode is left through the on-screen Exit. Screenshots go to
test-artifacts/present-*.png. Helpers and the server launcher are test_browser's."""

from __future__ import annotations

import time

import pytest
from test_browser import CHROMEDRIVER, CHROMIUM, assert_no_exception, css, shot, start_server, wait_until

GRID = "saliency?present=1&img=3003&m=saliency,gradcam,ig&ig=8"
SCREENS = [(1920, 1080), (1280, 720)]
BOXES = """
const cells = [...document.querySelectorAll('.sc-grid [data-cell]')].map(e => {
  const r = e.getBoundingClientRect();
  return {key: e.dataset.cell, left: r.left, top: r.top, right: r.right, bottom: r.bottom,
          pending: !!e.querySelector('.sc-pending')};
});
const labels = [...document.querySelectorAll('.sc-grid .sc-label b')].map(e => {
  const r = e.getBoundingClientRect();
  return {text: e.textContent, right: r.right, top: r.top, bottom: r.bottom,
          weight: getComputedStyle(e).fontWeight};
});
return {cells, labels, width: window.innerWidth, height: window.innerHeight,
        scrollWidth: document.documentElement.scrollWidth,
        bodyScrollWidth: document.body.scrollWidth};
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_pack):
    yield from start_server(
        tmp_path_factory.mktemp("server") / "streamlit.log", {"SC_VIZ_PACKS": str(tiny_pack.parent)}
    )


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def screen(driver, width: int, height: int) -> None:
    """The page's viewport exactly `width` x `height` CSS pixels (a projector's screen)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def full_grid(driver, cells: int):
    """The grid's boxes once every cell holds its map (the grid fills method by method)."""

    def done():
        boxes = driver.execute_script(BOXES)
        ready = len(boxes["cells"]) == cells and not any(c["pending"] for c in boxes["cells"])
        return ready and not css(driver, '[data-testid="stMain"] [data-testid="stProgress"]')

    wait_until(driver, done, timeout=240, what="the full presentation grid")
    time.sleep(1.0)  # images decoded and laid out; the run's end (page links) drawn
    assert_no_exception(driver)
    return driver.execute_script(BOXES)


def bar_buttons(driver) -> list[str]:
    return [b.text for b in css(driver, ".st-key-present-bar button") if b.is_displayed()]


def click_button(driver, text: str) -> None:
    button = next(
        b for b in css(driver, '[data-testid="stMain"] button') if b.is_displayed() and text in b.text
    )
    button.click()


@pytest.mark.timeout(900)
def test_saliency_grid_fits_the_screen(server, browser, tiny_pack):
    for width, height in SCREENS:
        screen(browser, width, height)
        browser.get(f"{server}/{GRID}&pack={tiny_pack.name}")
        boxes = full_grid(browser, 4 * (3 + 1))  # 4 variants x (input + 3 methods)
        shot(browser, f"present-saliency-{width}x{height}")
        assert boxes["width"] == width and boxes["height"] == height, boxes
        assert boxes["scrollWidth"] <= width and boxes["bodyScrollWidth"] <= width, (
            boxes
        )  # no sideways scroll
        for c in boxes["cells"]:
            inside = c["left"] >= 0 and c["top"] >= 0 and c["right"] <= width and c["bottom"] <= height
            assert inside, (width, height, c)
            side = c["right"] - c["left"]
            assert side >= height / 8, (width, height, c)  # sized from the screen, not shrunk to a stamp
            assert abs((c["bottom"] - c["top"]) - side) < 1.5, c  # square
        labels = {lab["text"]: lab for lab in boxes["labels"]}
        assert list(labels) == ["standard", "c", "adv", "advc"], labels
        for lab in labels.values():  # bold, left of its row's cells
            assert int(lab["weight"]) >= 700, lab
            row = [c for c in boxes["cells"] if c["key"].startswith(lab["text"] + "/")]
            assert len(row) == 4 and all(lab["right"] <= c["left"] for c in row), (lab, row)
            assert all(c["top"] <= lab["top"] and lab["bottom"] <= c["bottom"] for c in row), (lab, row)
        # the controls are one thin bar above the grid
        bar = css(browser, ".st-key-present-bar")[0].rect
        assert bar["height"] <= 0.12 * height, bar
        shown = " ".join(bar_buttons(browser))
        assert all(name in shown for name in ("Previous", "Next", "Settings", "Hide", "Exit")), shown
        assert "test image 3003" in css(browser, ".st-key-present-bar")[0].text


@pytest.mark.timeout(900)
def test_bar_folds_away_and_its_links_keep_the_mode(server, browser, tiny_pack):
    from selenium.webdriver.common.action_chains import ActionChains

    screen(browser, 1280, 720)
    browser.get(f"{server}/{GRID}&pack={tiny_pack.name}")
    full_grid(browser, 16)
    click_button(browser, "Hide")
    wait_until(browser, lambda: "Exit" not in " ".join(bar_buttons(browser)), what="bar folded")
    assert "img=3003" in browser.current_url
    ActionChains(browser).send_keys("n").perform()  # N: the next image, with the bar folded
    wait_until(browser, lambda: "img=3003" not in browser.current_url, what="N with the bar folded")
    full_grid(browser, 16)
    shot(browser, "present-saliency-folded")
    click_button(browser, "Controls")
    wait_until(browser, lambda: "Exit" in " ".join(bar_buttons(browser)), what="bar shown again")
    link = next(
        a
        for a in css(browser, ".st-key-present-bar [data-testid='stPageLink'] a")
        if a.text.strip() == "Continuity"
    )
    link.click()
    wait_until(browser, lambda: any("Continuity" in h.text for h in css(browser, "h1")), what="Continuity")
    assert "present=1" in browser.current_url
    wait_until(browser, lambda: css(browser, ".st-key-present-bar"), what="the bar on Continuity")


@pytest.mark.timeout(600)
def test_models_page_leaves_the_mode_through_exit(server, browser, tiny_pack):
    screen(browser, 1280, 720)
    browser.get(f"{server}/?pack={tiny_pack.name}&present=1")
    wait_until(browser, lambda: css(browser, ".st-key-present-bar button"), timeout=240, what="the bar")
    title = css(browser, '[data-testid="stMain"] h1')[0]
    assert float(title.value_of_css_property("font-size")[:-2]) >= 80  # presentation CSS on
    assert {a.text.strip() for a in css(browser, ".st-key-present-bar [data-testid='stPageLink'] a")} >= {
        "Models",
        "Saliency",
        "Sanity",
    }
    shot(browser, "present-models")
    icons = browser.execute_script(
        "return [...document.querySelectorAll('link[rel*=icon]')].map(l => l.href)"
    )
    assert icons and all(href.startswith(server) for href in icons), icons  # served locally, not fetched
    click_button(browser, "Exit")
    wait_until(browser, lambda: not css(browser, ".st-key-present-bar"), what="presentation mode left")
    wait_until(
        browser,
        lambda: (
            float(css(browser, '[data-testid="stMain"] h1')[0].value_of_css_property("font-size")[:-2]) < 60
        ),
        what="normal title size",
    )
    assert "present=1" not in browser.current_url
    shot(browser, "present-models-exited")


@pytest.mark.timeout(900)
def test_keys_n_and_p_step_through_a_deck(server, browser, tiny_pack, tmp_path):
    """A deck built for the tiny pack: N shows slide 1 (its image and grid, from the deck),
    N the Models page, N slide 3's image; P goes back; the URL carries the deck, so a copied
    link opens it again."""
    import json

    from selenium.webdriver.common.action_chains import ActionChains

    from sc_viz.deck import build_deck
    from sc_viz.explain.settings import ExplainSettings

    def slide(index: int) -> dict:
        s = ExplainSettings(
            pack=str(tiny_pack),
            image={"dataset_split": "test", "index": index},
            variants=["standard", "c", "adv", "advc"],
            methods=["saliency", "gradcam", "ig"],
            budgets={"ig": 8},
        )
        return {"page": "Saliency", "settings": json.loads(s.to_json())}

    talk = tmp_path / "talk.json"
    models = {"page": "Models", "pack": str(tiny_pack), "image": None}
    talk.write_text(json.dumps({"format": "sc-viz-talk/1", "slides": [slide(3003), models, slide(12)]}))
    deck, _, _ = build_deck(talk, tmp_path / "deck", device="cpu")
    screen(browser, 1920, 1080)
    browser.get(f"{server}/saliency?present=1&img=5&m=saliency&pack={tiny_pack.name}&deck={deck.path}")
    wait_until(
        browser, lambda: "3 slides" in css(browser, ".st-key-present-bar")[0].text, timeout=240, what="deck"
    )
    full_grid(browser, 4 * (1 + 1))  # the run is over: a key pressed now is heard

    def press(key: str) -> None:
        ActionChains(browser).send_keys(key).perform()

    press("n")
    wait_until(browser, lambda: "Slide 1/3" in css(browser, ".st-key-present-bar")[0].text, what="slide 1")
    wait_until(browser, lambda: "img=3003" in browser.current_url, what="slide 1's image")
    full_grid(browser, 4 * (3 + 1))
    shot(browser, "present-deck-slide1")
    press("n")
    wait_until(browser, lambda: "Slide 2/3" in css(browser, ".st-key-present-bar")[0].text, what="slide 2")
    wait_until(browser, lambda: not css(browser, ".sc-grid"), what="the Models page")
    time.sleep(2.0)  # the Models page's run ends
    press("n")
    wait_until(browser, lambda: "img=12" in browser.current_url, what="slide 3's image")
    full_grid(browser, 16)
    press("p")
    wait_until(browser, lambda: "Slide 2/3" in css(browser, ".st-key-present-bar")[0].text, what="back to 2")
    assert "deck=" in browser.current_url
    browser.get(browser.current_url)  # the copied link, opened fresh: the deck is there again
    wait_until(
        browser,
        lambda: "3 slides" in css(browser, ".st-key-present-bar")[0].text,
        timeout=240,
        what="deck again",
    )


FIGURES = """
const blocks = [...document.querySelectorAll('[class*="st-key-present-figure"]')];
return {charts: [...document.querySelectorAll('[class*="st-key-present-figure"] .main-svg')]
          .filter(e => e.parentElement.classList.contains('svg-container'))
          .map(e => e.getBoundingClientRect().toJSON()),
        blocks: blocks.map(b => ({block: b.getBoundingClientRect().toJSON(),
          chart: b.querySelector('.svg-container > .main-svg').getBoundingClientRect().toJSON()})),
        scrollWidth: document.documentElement.scrollWidth};
"""


@pytest.mark.timeout(900)
@pytest.mark.parametrize("page", ["continuity", "robustness", "neurons"])
def test_other_pages_show_one_figure_per_screen(server, browser, tiny_pack, page):
    """Presentation mode: each of the page's figures is one screen tall, whatever the
    screen, and nothing overflows sideways (the demo pack: its stored report's charts)."""
    query = "present=1&img=3003" + ("&eps=2&steps=2&adv=none" if page == "robustness" else "")
    for width, height in SCREENS:
        screen(browser, width, height)
        browser.get(f"{server}/{page}?{query}")

        def drawn():
            boxes = browser.execute_script(FIGURES)["charts"]
            return len(boxes) >= 2 and all(b["height"] > 0 for b in boxes)

        wait_until(browser, drawn, timeout=240, what=f"the {page} figures")
        time.sleep(1.5)  # plotly's resize to its container
        assert_no_exception(browser)
        found = browser.execute_script(FIGURES)
        shot(browser, f"present-{page}-{width}x{height}")
        assert found["scrollWidth"] <= width, found
        for box in found["charts"]:
            assert 0.6 * height <= box["height"] <= height, (width, height, box)
            assert box["right"] <= width, (width, box)
        # each chart lies inside its own block, and the blocks follow one another: no
        # figure covers the bottom (the x axis) of the one above it
        blocks = found["blocks"]
        for b in blocks:
            assert b["chart"]["bottom"] <= b["block"]["bottom"] + 1, (width, height, b)
        for upper, lower in zip(blocks, blocks[1:]):
            assert upper["block"]["bottom"] <= lower["block"]["top"] + 1, (width, height, upper, lower)
