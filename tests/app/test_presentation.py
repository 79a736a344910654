"""Every page in normal and presentation mode (issue 12): labels the audience needs stay,
the controls sit in a compact bar at the top, the Measures table and captions are left
out, plot text is larger, the Saliency columns follow the chips' order."""

import json
import re

import pytest
from apptest_helpers import (
    CONTINUITY,
    EMBEDDINGS,
    HOME,
    ROBUSTNESS,
    SALIENCY,
    assert_clean,
    image_captions,
    images,
    open_app,
)

from sc_viz.app import present as pv
from sc_viz.app import saliency_view as sv
from sc_viz.app import style

FAST = {"m": "gradcam,saliency", "img": "3003"}
BAR_BUTTONS = {"present-prev", "present-next", "present-exit"}


def buttons(at) -> set[str]:
    return {b.key for b in at.button if b.key}


def presentation_css(at) -> bool:
    return any("88px" in h.proto.body for h in at.get("html"))


def grid_blocks(at) -> list[str]:
    """The presentation grid's HTML blocks (present.grid_html) on the page."""
    return [h.proto.body for h in at.main.get("html") if pv.GRID_CLASS in h.proto.body]


@pytest.mark.parametrize("present", [False, True])
def test_saliency_in_both_modes(tiny_packs_env, present):
    query = {**FAST, "present": "1"} if present else FAST
    at = open_app(SALIENCY, pack=tiny_packs_env, query=query)
    assert_clean(at)
    assert presentation_css(at) == present
    assert (BAR_BUTTONS <= buttons(at)) == present
    assert not any(e.proto.label == "Options" for e in at.expander) == present
    measures = [s.value for s in at.subheader]
    assert ("Measures" in measures) == (not present)
    if not present:
        captions = image_captions(at)
        for v in ("standard", "c", "adv", "advc"):  # the row labels
            assert any(c.startswith(f"{v}: ") for c in captions), captions
        assert sum(c.startswith("target: ") or c.startswith("no evidence") for c in captions) == 4 * 2
        # columns in the chips' order, under plain names
        heads = [m.value for m in at.main.markdown if m.value.startswith("**")]
        assert heads[:3] == ["**image**", "**Grad-CAM**", "**Saliency (gradient)**"]
        assert len(images(at)) == 4 * 3 + 2  # the cells, the input column and a colour bar per method
        columns = set(at.dataframe[0].value.columns)
        assert {"Variant", "Method", "Gini (higher = sparser)"} <= columns
        assert not grid_blocks(at)
        return
    # Presentation mode: one HTML grid sized by the viewport (tests/app/test_browser_present.py
    # measures it in a browser); no title, no Streamlit images; the pickers in the bar's Settings.
    assert not at.title and not images(at)
    (block,) = grid_blocks(at)
    assert block.count(f'class="{pv.CELL_CLASS}"') == 4 * 3  # input + 2 methods per variant
    assert 'class="sc-pending"' not in block  # every map drawn
    labels = re.findall(r'<div class="sc-label"><b>([^<]+)</b>', block)
    assert labels == ["standard", "c", "adv", "advc"]  # bold, in the rows' order, left of each row
    heads = re.findall(r'<div class="sc-head"[^>]*>([^<]+)', block)
    assert heads == ["image", "Grad-CAM", "Saliency (gradient)"]  # the chips' order, plain names
    assert "min(calc((100vh" in block and f"{sv.PRESENT_MAX_CELL_PX}px)" in block  # cell side rule
    assert pv.SCALE_LINE in block  # the scaling rule on screen
    assert {"variants", "methods"} <= {w.key for w in at.multiselect}  # in the bar's Settings
    assert at.button(key="bar-hide") and at.button(key="present-exit")


def test_the_bar_folds_away_and_keeps_the_keys(tiny_packs_env):
    at = open_app(SALIENCY, pack=tiny_packs_env, query={**FAST, "present": "1"})
    at.button(key="bar-hide").click().run()
    assert_clean(at)
    keys = buttons(at)
    assert "bar-show" in keys and "bar-hide" not in keys
    assert {"present-prev", "present-next", "present-exit"} <= keys  # drawn out of sight: P and N work
    at.button(key="present-next").click().run()
    assert at.selectbox(key="img_index").value != 3003
    at.button(key="bar-show").click().run()
    assert "bar-hide" in buttons(at)


def test_models_page_has_the_bar_and_exit(tiny_packs_env):
    at = open_app(HOME, pack=tiny_packs_env, query={"present": "1"})
    assert_clean(at)
    assert presentation_css(at) and "present-exit" in buttons(at)
    at.button(key="present-exit").click().run()
    assert_clean(at)
    assert not presentation_css(at) and "present-exit" not in buttons(at)
    assert "present" not in at.query_params


def test_chip_order_is_the_column_order(tiny_packs_env):
    at = open_app(SALIENCY, pack=tiny_packs_env, query={**FAST, "m": "saliency,gradcam"})
    assert_clean(at)
    heads = [m.value for m in at.main.markdown if m.value.startswith("**")]
    assert heads[1:3] == ["**Saliency (gradient)**", "**Grad-CAM**"]


def test_the_bar_steps_through_the_images_and_leaves_the_mode(tiny_packs_env):
    at = open_app(SALIENCY, pack=tiny_packs_env, query={**FAST, "present": "1"})
    options = at.selectbox(key="img_index").options
    assert at.selectbox(key="img_index").value == 3003
    at.button(key="present-next").click().run()
    assert_clean(at)
    after = at.selectbox(key="img_index").value
    assert after != 3003 and str(after) == options[options.index("test image 3003") + 1].split()[-1]
    assert at.query_params["img"] in ([str(after)], str(after))
    at.button(key="present-prev").click().run()
    assert at.selectbox(key="img_index").value == 3003
    at.button(key="present-exit").click().run()
    assert_clean(at)
    assert not at.toggle(key="present").value and not presentation_css(at)


def test_thumbnail_buttons_pick_the_example(tiny_packs_env):
    at = open_app(SALIENCY, pack=tiny_packs_env, query=FAST)
    thumbs = [b for b in at.sidebar.button if b.key and b.key.startswith("thumb-")]
    assert len(thumbs) == 8 and any(b.disabled for b in thumbs)  # the shown one
    other = next(b for b in thumbs if not b.disabled)
    other.click().run()
    assert_clean(at)
    assert at.selectbox(key="img_index").value == int(other.key.split("-")[1])


def test_the_two_class_pickers_have_distinct_labels(tiny_packs_env):
    at = open_app(SALIENCY, pack=tiny_packs_env, query={**FAST, "mode": "class"})
    labels = {at.selectbox(key="img_class").label, at.selectbox(key="target_class").label}
    assert labels == {"Image class", "Target class"}


@pytest.mark.parametrize("present", [False, True])
@pytest.mark.parametrize("page", [HOME, EMBEDDINGS, CONTINUITY, ROBUSTNESS])
def test_other_pages_in_both_modes(tiny_packs_env, page, present):
    query = {"img": "3003", "adv": "saliency", **({"present": "1"} if present else {})}
    at = open_app(page, pack=tiny_packs_env, query=query)
    assert_clean(at)
    assert presentation_css(at) == present
    if page != HOME:
        assert (BAR_BUTTONS <= buttons(at)) == present
    charts = list(at.main.get("plotly_chart"))
    font = style.PLOT_FONT_PX * (style.PLOT_SCALE if present else 1)
    for chart in charts:  # plot text scaled in presentation mode
        layout = json.loads(chart.proto.spec)["layout"]
        assert layout.get("font", {}).get("size", style.PLOT_FONT_PX) == font
    if page == HOME:
        assert len(at.table) >= 1  # a headline per pack
        assert list(at.table[0].value.columns[:3]) == ["Variant", "Clean accuracy", "PGD accuracy"]
    if page == ROBUSTNESS:
        heads = [m.value for m in at.main.markdown]
        assert "**Saliency (gradient): clean**" in heads


def test_embeddings_table_is_readable(tiny_packs_env):
    at = open_app(EMBEDDINGS, pack=tiny_packs_env, query={"img": "3003"})
    rows = at.dataframe[0].value
    assert list(rows.columns[:2]) == ["Variant", "Brightness"] and "Same-class images" in rows.columns
