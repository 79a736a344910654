"""Continuity page: DS per level for the chosen image, the perturbed strip, CSV download,
the view in the URL."""

from apptest_helpers import (
    CONTINUITY,
    assert_clean,
    images,
    open_app,
    real_photo_bytes,
    reopen,
    widget_values,
)


def test_continuity_renders_on_the_demo_pack():
    at = open_app(CONTINUITY)
    assert_clean(at)
    # this image, then the committed report's test-set mean DS and violation rates
    assert len(at.get("plotly_chart")) == 3
    assert len(images(at)) == 16  # 4 perturbations x 4 levels
    assert [b.proto.label for b in at.get("download_button")] == ["Download numbers (CSV)"]


def test_variants_switch_and_upload(tiny_packs_env):
    at = open_app(CONTINUITY, pack=tiny_packs_env)
    assert_clean(at)
    assert len(at.get("plotly_chart")) == 1  # no stored report for this pack
    assert at.multiselect(key="variants").value == ["standard", "c", "adv", "advc"]
    at.multiselect(key="variants").set_value(["adv"]).run()
    assert_clean(at)
    assert at.query_params["v"] in ("adv", ["adv"])
    at.multiselect(key="variants").set_value([]).run()
    assert any("at least one variant" in i.value for i in at.info)
    at.multiselect(key="variants").set_value(["c", "advc"]).run()
    at.radio(key="img_source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value(("cat.jpg", real_photo_bytes(), "image/jpeg")).run()
    assert_clean(at)
    assert at.get("plotly_chart") and len(images(at)) == 16


def test_the_url_reopens_every_widget(tiny_packs_env):
    at = open_app(CONTINUITY, pack=tiny_packs_env)
    at.selectbox(key="img_class").set_value(8).run()
    at.selectbox(key="img_index").select_index(5).run()
    at.multiselect(key="variants").set_value(["advc", "standard"]).run()
    at.toggle(key="present").set_value(True).run()
    assert_clean(at)
    before = widget_values(at)
    assert before["img_class"] == 8 and before["present"]
    again = reopen(at, CONTINUITY)
    assert_clean(again)
    assert widget_values(again) == before
