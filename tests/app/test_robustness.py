"""Robustness page: PGD per variant, eps selectable, before/after predictions, the view in
the URL."""

from apptest_helpers import ROBUSTNESS, assert_clean, images, open_app, reopen, widget_values


def test_robustness_renders_on_the_demo_pack():
    at = open_app(ROBUSTNESS, query={"eps": "4"})
    assert_clean(at)
    n = len(at.multiselect(key="variants").value)
    # clean, adversarial, amplified perturbation, saliency of clean and adversarial
    assert len(images(at)) == 5 * n
    assert at.select_slider(key="eps").value == 4
    assert at.query_params["eps"] in ("4", ["4"])
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
    assert len(at.success) == 4  # eps 0 keeps every prediction
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
    (chart,) = at.get("plotly_chart")
    import json

    spec = json.loads(chart.proto.spec)
    bars = [t for t in spec["data"] if t["type"] == "bar"]
    assert len(bars) == 2 and all(b["error_y"]["array"] for b in bars)
    # every interval contains its accuracy and is narrower than 5 points at n = 10,000
    # (a PGD accuracy of 0% has no room below it)
    for b in bars:
        assert all(0 < up < 5 for up in b["error_y"]["array"])
        assert all(0 <= down < 5 for down in b["error_y"]["arrayminus"])
        assert any(down > 0 for down in b["error_y"]["arrayminus"])
