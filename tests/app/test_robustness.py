"""Robustness page: PGD per variant, eps selectable, before/after predictions with a verdict
judged against the true class, the gallery starting from the report's story images, the
view in the URL."""

import torch
from apptest_helpers import ROBUSTNESS, assert_clean, images, open_app, png_bytes, reopen, widget_values

from sc_viz.app import robustness_view, sidebar, single_image
from sc_viz.figures import SCALE_NOTE


def boxes(at) -> dict[str, list[str]]:
    """The verdict boxes by tone, in the page's order."""
    return {tone: [e.value for e in getattr(at, tone)] for tone in ("success", "error", "warning")}


def test_robustness_starts_from_a_story_image_of_the_demo_pack():
    """No image chosen: the first story image of the default class, computed from the stored
    report, where the page's own PGD (the report's settings) tells the story live too."""
    at = open_app(ROBUSTNESS)
    assert_clean(at)
    index = at.selectbox(key="img_index").value
    ctx = at.session_state[sidebar.CTX_KEY]
    assert ctx.story is not None and index == ctx.story.first(0)
    assert at.selectbox(key="img_index").format_func(index).endswith(sidebar.STORY_MARK)
    n = len(at.multiselect(key="variants").value)
    # clean, adversarial, amplified perturbation, saliency of clean and adversarial
    assert len(images(at)) == 5 * n
    shown = boxes(at)
    assert "kept the true class (airplane)" in shown["success"][0]  # adv (advc too)
    assert "lost the true class (airplane)" in shown["error"][0]  # standard (c too)
    assert len(shown["success"]) + len(shown["error"]) + len(shown["warning"]) == n
    captions = " ".join(c.value for c in at.caption)
    assert "judged against the true class, **airplane**" in captions
    assert f"Test image {index} is one of them" in captions and "per-image results" in captions
    assert SCALE_NOTE in captions  # the saliency panels' scaling rule, on screen
    # another class: its own first story image
    at.selectbox(key="img_class").set_value(3).run()
    assert at.selectbox(key="img_index").value == ctx.story.first(3)
    # a linked image is kept, story or not: the airplane test image 0
    linked = open_app(ROBUSTNESS, query={"img": "0", "eps": "4"})
    assert_clean(linked)
    assert linked.selectbox(key="img_index").value == 0
    assert linked.select_slider(key="eps").value == 4
    assert linked.query_params["eps"] in ("4", ["4"])
    # the test-set Table 2 from the committed report, one row per chosen variant
    (table,) = at.dataframe
    assert list(table.value["variant"]) == at.multiselect(key="variants").value
    assert table.value["PGD accuracy"].str.endswith("%").all()
    assert any("PGD-10" in c.value and "n = 10,000" in c.value for c in at.caption)
    assert not any("other weights" in c.value for c in at.caption)  # the report is current


def test_eps_and_variants_switch(tiny_packs_env):
    at = open_app(ROBUSTNESS, pack=tiny_packs_env)
    assert len(images(at)) == 4 * 5
    assert not at.dataframe  # no stored report for a fresh pack: a line says how to make one
    assert any("sc-viz eval --pack" in c.value for c in at.caption)
    at.selectbox(key="adv_method").set_value("none").run()
    assert len(images(at)) == 4 * 3
    at.select_slider(key="eps").set_value(0).run()
    assert_clean(at)
    # eps 0 changes no prediction: kept where right, else "wrong before the attack"
    shown = boxes(at)
    assert not shown["error"] and len(shown["success"]) + len(shown["warning"]) == 4
    assert all("wrong before the attack" in w for w in shown["warning"])
    at.slider(key="pgd_steps").set_value(2).run()
    at.multiselect(key="variants").set_value(["standard", "advc"]).run()
    at.select_slider(key="eps").set_value(16).run()
    assert_clean(at)
    at.selectbox(key="adv_method").set_value("gradcam").run()
    assert_clean(at)
    assert len(images(at)) == 2 * 5


def test_the_url_reopens_every_widget(tiny_packs_env):
    at = open_app(ROBUSTNESS, pack=tiny_packs_env)
    at.multiselect(key="variants").set_value(["adv"]).run()
    at.select_slider(key="eps").set_value(2).run()
    at.slider(key="pgd_steps").set_value(12).run()
    at.selectbox(key="adv_method").set_value("ig").run()
    assert_clean(at)
    before = widget_values(at)
    assert (before["eps"], before["pgd_steps"], before["adv_method"]) == (2, 12, "ig")
    again = reopen(at, ROBUSTNESS)
    assert_clean(again)
    assert widget_values(again) == before and len(images(again)) == 5


def test_spat_beside_pgd_and_test_set_error_bars(tiny_packs_env):
    at = open_app(ROBUSTNESS, pack=tiny_packs_env)
    at.selectbox(key="adv_method").set_value("none").run()
    at.multiselect(key="variants").set_value(["standard", "adv"]).run()
    assert len(images(at)) == 2 * 3
    at.toggle(key="spat").set_value(True).run()
    assert_clean(at)
    # per variant: the shared mask, SPAT's perturbation and PGD's
    assert len(images(at)) == 2 * 3 + 2 * 3
    assert sum("on shared pixels" in m.value for m in at.markdown) == 2
    again = reopen(at, ROBUSTNESS)
    assert_clean(again)
    assert again.toggle(key="spat").value is True and len(images(again)) == 12


def test_demo_pack_test_set_chart_has_error_bars():
    at = open_app(ROBUSTNESS, query={"eps": "0", "adv": "none"})
    assert_clean(at)
    import json

    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    (spec,) = [s for s in specs if any(t["type"] == "bar" for t in s["data"])]
    # beside it, the committed report's sweep: accuracy against eps, one line per chosen variant
    (sweep,) = [s for s in specs if s is not spec]
    lines = [t for t in sweep["data"] if t.get("mode", "").startswith("lines") and t.get("name")]
    assert (
        {t["name"] for t in lines}
        == set(at.multiselect(key="variants").value)
        == {"standard", "c", "adv", "advc"}
    )
    bars = [t for t in spec["data"] if t["type"] == "bar"]
    assert len(bars) == 2 and all(b["error_y"]["array"] for b in bars)
    # every interval contains its accuracy and is narrower than 5 points at n = 10,000
    # (a PGD accuracy of 0% has no room below it)
    for b in bars:
        assert all(0 < up < 5 for up in b["error_y"]["array"])
        assert all(0 <= down < 5 for down in b["error_y"]["arrayminus"])
        assert any(down > 0 for down in b["error_y"]["arrayminus"])


def test_the_page_shows_each_verdict_of_crafted_attacks(tiny_packs_env, monkeypatch):
    """Crafted predictions before/after, true class airplane: right -> right, right -> wrong,
    wrong -> wrong and wrong -> right, each in its own box."""
    crafted = {"standard": (0, 0), "c": (0, 8), "adv": (8, 8), "advc": (8, 0)}

    def attack_each(models, x, eps, *, steps=10, step_size=None, label=None, seed=0):
        return {
            v: single_image.AttackResult(
                x,
                torch.zeros_like(x),
                crafted[v][0] if label is None else label,
                [(crafted[v][0], 0.6)],
                [(crafted[v][1], 0.7)],
            )
            for v in models
        }

    monkeypatch.setattr(robustness_view, "attack_each", attack_each)  # the page's PGD
    # steps=17: a cache key no other test's real attack has
    at = open_app(ROBUSTNESS, pack=tiny_packs_env, query={"img": "0", "adv": "none", "steps": "17"})
    assert_clean(at)
    shown = boxes(at)
    assert shown["success"] == ["kept the true class (airplane)"]
    assert shown["error"] == ["lost the true class (airplane)"]
    assert shown["warning"] == [
        "wrong before the attack (true class: airplane); still wrong",
        "wrong before the attack; right after it (airplane)",
    ]
    # an upload has no true class: each verdict is judged against the model's own prediction
    at.radio(key="img_source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value(("red.png", png_bytes(), "image/png")).run()
    assert_clean(at)
    shown = boxes(at)
    assert shown["success"] == ["kept its own prediction (airplane)", "kept its own prediction (ship)"]
    assert shown["error"] == ["changed its own prediction (airplane)", "changed its own prediction (ship)"]
    assert not shown["warning"]
    assert any("an upload has no true class" in c.value for c in at.caption)
