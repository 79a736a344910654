"""Continuity page: DS per level for the chosen image, the perturbed strip, CSV download,
the view in the URL."""

import pytest
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


def test_test_set_figures_have_error_bars(tiny_pack, tmp_path, monkeypatch):
    """With a stored report that has the continuity suite's 95% intervals, the test-set mean
    DS and violation-rate figures carry them as error bars (plotly error_y)."""
    import json
    import shutil

    from sc_viz.evaluate import run_suites

    pack_dir = tmp_path / "packs" / "tiny-with-report"  # its own name: no cached report of `tiny`
    shutil.copytree(tiny_pack, pack_dir)
    made = run_suites(
        pack_dir,
        ["continuity"],
        limit=12,
        seed=1,
        out=None,
        progress=False,
        figures=False,
        log=lambda *a: None,
        device="cpu",
    )
    (tmp_path / "reports" / pack_dir.name).mkdir(parents=True)
    (tmp_path / "reports" / pack_dir.name / "report.json").write_text(json.dumps(made))
    monkeypatch.chdir(tmp_path)  # the app finds ./reports/<pack name>/report.json
    monkeypatch.setenv("SC_VIZ_PACKS", str(pack_dir.parent))
    at = open_app(CONTINUITY, pack=pack_dir.name)
    assert_clean(at)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 3  # this image, test-set mean DS, violation rates
    assert not any(t.get("error_y") for t in charts[0]["data"])  # one image: no interval
    for chart, key in zip(charts[1:], ("mean_ds", "violation_rate")):
        assert "95% intervals" in chart["layout"]["title"]["text"]
        c_hue = next(t for t in chart["data"] if t["name"] == "c" and t["xaxis"] == "x4")  # hue panel
        low, high = made["suites"]["continuity"]["ci"][key]["c"]["hue"]["2"]
        mean = made["suites"]["continuity"][key]["c"]["hue"]["2"]
        assert c_hue["error_y"]["array"][1] == pytest.approx(high - mean)
        assert c_hue["error_y"]["arrayminus"][1] == pytest.approx(mean - low)
