"""Sanity page (issue 16): the randomisation strips, similarity and ROAD figures computed on
demand, the flags, the view in the URL; and the glue in sc_viz.app.sanity_view."""

import io
import json
import zipfile

import pytest
import torch
from apptest_helpers import assert_clean, open_app, reopen, widget_values
from PIL import Image

from sc_viz.app import sanity_view as san
from sc_viz.packs import load_pack

SANITY = "app_pages/6_Sanity.py"


def charts(at) -> list:
    return list(at.get("plotly_chart"))


def chart_titles(at) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in charts(at)]


def compute(at):
    (button,) = [b for b in at.button if b.proto.label == "Compute"]
    return button.click().run()


def test_sanity_computes_on_demand_on_a_tiny_pack(tiny_packs_env):
    at = open_app(SANITY, pack=tiny_packs_env)
    assert_clean(at)
    # the cheap methods by default, nothing computed before the click
    assert at.multiselect(key="san_methods").value == ["saliency", "gradcam", "ig"]
    assert not charts(at)
    assert any("Compute" in i.value for i in at.info)
    at.multiselect(key="variants").set_value(["standard", "adv"]).run()
    at.multiselect(key="san_methods").set_value(["saliency", "gradcam"]).run()
    assert not charts(at)
    compute(at)
    assert_clean(at)
    titles = chart_titles(at)
    # per method: a strip per variant, the similarity curves and the ROAD curves
    assert len(titles) == 2 * (2 + 1 + 1)
    assert sum("cascading randomisation" in t for t in titles) == 4
    assert sum(t.startswith("ROAD") for t in titles) == 2
    road = next(c for c, t in zip(charts(at), titles) if t.startswith("ROAD"))
    names = [trace["name"] for trace in json.loads(road.proto.spec)["data"]]
    assert any(n.startswith("standard MORF") for n in names) and any("adv LERF (gap" in n for n in names)
    (summary,) = at.dataframe
    assert sorted(zip(summary.value["method"], summary.value["variant"])) == sorted(
        (m, v) for m in ("saliency", "gradcam") for v in ("standard", "adv")
    )
    assert "ROAD gap" in summary.value.columns and "flagged" in summary.value.columns
    assert [b.proto.label for b in at.get("download_button")] == ["Export bundle (zip)"]
    # a threshold of 0 flags every method whose maps keep any positive rank correlation;
    # the flag is shown above the figures and changing it needs no new click
    at.slider(key="san_threshold").set_value(0.0).run()
    assert_clean(at)
    assert len(charts(at)) == 8
    flagged = summary_flags(at)
    assert len([e for e in at.error if "is flagged" in e.value]) == len({m for m, _ in flagged})
    # another method is a new request: computed only on a click
    at.multiselect(key="san_methods").set_value(["ig"]).run()
    assert not charts(at)


def summary_flags(at) -> list[tuple[str, str]]:
    (summary,) = at.dataframe
    table = summary.value
    return [(m, v) for m, v, f in zip(table["method"], table["variant"], table["flagged"]) if f]


def test_presentation_mode_puts_the_options_in_the_bar(tiny_packs_env):
    at = open_app(SANITY, pack=tiny_packs_env, query={"present": "1", "v": "adv", "sm": "gradcam"})
    assert_clean(at)
    assert at.button(key="present-exit")  # the compact bar carries the options
    compute(at)
    assert_clean(at)
    assert len(charts(at)) == 1 + 1 + 1
    assert not at.caption  # no explanatory captions in presentation mode


def test_lime_warns_about_time(tiny_packs_env):
    at = open_app(SANITY, pack=tiny_packs_env)
    at.multiselect(key="san_methods").set_value(["saliency", "lime"]).run()
    assert_clean(at)
    assert any("LIME" in w.value and "minute" in w.value for w in at.warning)


def test_the_url_reopens_every_widget(tiny_packs_env):
    at = open_app(SANITY, pack=tiny_packs_env)
    at.multiselect(key="variants").set_value(["c"]).run()
    at.multiselect(key="san_methods").set_value(["gradcam", "ig"]).run()
    at.selectbox(key="san_target").set_value(san.TARGET_LABEL).run()
    at.radio(key="san_order").set_value("independent").run()
    at.selectbox(key="san_measure").set_value("ssim").run()
    at.slider(key="san_threshold").set_value(0.7).run()
    at.slider(key="san_ig_steps").set_value(4).run()
    at.slider(key="san_lime_samples").set_value(200).run()
    assert_clean(at)
    before = widget_values(at)
    assert (before["san_order"], before["san_measure"], before["san_threshold"], before["san_ig_steps"]) == (
        "independent",
        "ssim",
        0.7,
        4,
    )
    again = reopen(at, SANITY)
    assert_clean(again)
    assert widget_values(again) == before


# ---------------------------------------------------------------- sanity_view
@pytest.fixture(scope="module")
def checked(tiny_pack):
    pack = load_pack(tiny_pack)
    x = torch.rand(3, pack.input_size, pack.input_size, generator=torch.Generator().manual_seed(0))
    models = {v: pack.models[v] for v in ("standard", "adv")}
    targets = san.targets_of(models, x, san.TARGET_PREDICTED, None)
    parts, curves = [], {}
    for m in ("saliency", "gradcam"):
        for v, model in models.items():
            result, road = san.check_one(model, v, x, m, targets[v])
            parts.append(result)
            curves.setdefault(m, {})[v] = road
    return x, targets, san.merge(parts), curves


def test_merge_joins_the_units(checked):
    _, targets, res, curves = checked
    assert res.targets == targets
    assert set(res.similarity) == {"saliency", "gradcam"}
    assert set(res.similarity["gradcam"]) == {"standard", "adv"}
    for m in res.maps:
        for v in res.maps[m]:
            assert len(res.maps[m][v]) == len(res.steps) > 2  # the trained model + every block
            assert res.similarity[m][v]["spearman_abs"][0] == 1.0
    assert set(curves["saliency"]["adv"]) >= {"morf", "lerf", "gap"}


def test_merge_refuses_other_orders(tiny_pack):
    pack = load_pack(tiny_pack)
    x = torch.rand(3, pack.input_size, pack.input_size)
    model = pack.models["standard"]
    a, _ = san.check_one(model, "standard", x, "saliency", 0, order="cascading")
    b, _ = san.check_one(model, "standard", x, "gradcam", 0, order="independent")
    with pytest.raises(ValueError, match="other orders"):
        san.merge([a, b])


def test_flags_follow_the_threshold(checked):
    _, _, res, _ = checked
    finals = {v: res.final("saliency", v) for v in res.similarity["saliency"]}
    assert san.flagged_variants(res, "saliency", threshold=-1.0) == [v for v, f in finals.items() if f == f]
    assert san.flagged_variants(res, "saliency", threshold=1.01) == []
    middle = sorted(finals.values())[0]
    assert san.flagged_variants(res, "saliency", middle) == [v for v, f in finals.items() if f >= middle]


def test_targets_follow_the_mode(tiny_pack):
    pack = load_pack(tiny_pack)
    x = torch.rand(3, pack.input_size, pack.input_size)
    assert san.targets_of(pack.models, x, san.TARGET_LABEL, 7) == {v: 7 for v in pack.models}
    predicted = san.targets_of(pack.models, x, san.TARGET_PREDICTED, 7)
    for v, model in pack.models.items():
        assert predicted[v] == int(model(x[None]).argmax())
    # an upload has no label: its prediction
    assert san.targets_of(pack.models, x, san.TARGET_LABEL, None) == predicted
    with pytest.raises(ValueError):
        san.targets_of(pack.models, x, "nonsense", None)


def test_bundle_holds_summary_curves_and_strips(checked):
    x, targets, res, curves = checked
    from sc_viz.figures.sanity import road_figure

    data = san.bundle(
        x,
        res,
        curves,
        {"ROAD": road_figure(curves["saliency"], "saliency")},
        {"page": "sanity", "targets": targets},
        threshold=0.25,
    )
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = set(z.namelist())
        summary = json.loads(z.read("sanity.json"))
        road = json.loads(z.read("road.json"))
        settings = json.loads(z.read("settings.json"))
        csv = z.read("numbers.csv").decode().splitlines()
        strip = Image.open(io.BytesIO(z.read("strips/gradcam-adv.png")))
        html = z.read("figures.html").decode()
    assert {"README.txt", "strips/saliency-standard.png"} <= names
    assert summary["flag_threshold"] == 0.25 and summary["steps"] == res.steps
    judged = res.verdict("gradcam", "adv", 0.25).state != san.CANNOT_JUDGE
    assert summary["flagged"]["gradcam"]["adv"] == (
        san.flagged(res.final("gradcam", "adv"), 0.25) if judged else None
    )
    assert road["saliency"]["standard"]["gap"] == pytest.approx(curves["saliency"]["standard"]["gap"])
    assert settings["page"] == "sanity" and settings["targets"] == targets
    assert len(csv) == 1 + 4 and "ROAD gap" in csv[0]
    n = len(res.steps)  # one cell per step, 2-px gaps between
    assert strip.size == (n * san.STRIP_CELL_PX + 2 * (n - 1), san.STRIP_CELL_PX)
    assert "<h2>ROAD</h2>" in html


# ---------------------------------------------------------------- the grid bundle
def session_defaults(key: str):
    """What `state.value` answers in a session that never changed the Sanity page."""
    from sc_viz.app.views import BY_KEY

    return BY_KEY[key].fresh_default()


def test_units_are_cached_and_shared_between_the_views(tiny_pack, monkeypatch):
    pack = load_pack(tiny_pack)
    x = torch.rand(3, pack.input_size, pack.input_size, generator=torch.Generator().manual_seed(3))
    models = {v: pack.models[v] for v in ("standard", "c")}
    calls, shown = [], []
    real = san.check_one
    monkeypatch.setattr(san, "check_one", lambda *a, **k: calls.append(a[1:4:2]) or real(*a, **k))
    first = san.compute_checks(
        models, "tiny-cache", "test:3", x, None, ["saliency"], progress=lambda s, t: shown.append((s, t))
    )
    assert sorted(calls) == [("c", "saliency"), ("standard", "saliency")]
    assert [s for s, _ in shown] == [0.0, 0.5] and "saliency on c (2/2)" in shown[1][1]
    # the Saliency page's export asks for the same units with the Sanity page's settings
    grid = san.grid_checks(models, "tiny-cache", "test:3", x, None, ["saliency"], session_defaults)
    assert len(calls) == 2  # nothing computed again
    assert grid.checks.result.similarity == first.result.similarity
    assert grid.checks.curves == first.curves


def test_grid_bundle_carries_the_sanity_checks(tiny_pack):
    from types import SimpleNamespace

    from sc_viz.app import export

    pack = load_pack(tiny_pack)
    x = torch.rand(3, pack.input_size, pack.input_size, generator=torch.Generator().manual_seed(4))
    image = SimpleNamespace(key="test:4", x=x, label=2)
    models = {v: pack.models[v] for v in ("standard", "adv")}
    methods = ["saliency", "gradcam"]
    sanity = san.grid_sanity(models, "tiny-grid", image, methods, session_defaults)
    grid_settings = '{"image": "test:4"}\n'
    data = export.saliency_bundle(b"\x89PNG", "<html/>", [], grid_settings, sanity=sanity.files())
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = set(z.namelist())
        summary = json.loads(z.read("sanity/sanity.json"))
        road = json.loads(z.read("sanity/road.json"))
        settings = json.loads(z.read("sanity/settings.json"))
        html = z.read("sanity/figures.html").decode()
        csv = z.read("sanity/numbers.csv").decode().splitlines()
        road_png = Image.open(io.BytesIO(z.read("sanity/road/gradcam.png")))
        strip = Image.open(io.BytesIO(z.read("sanity/strips/saliency-adv.png")))
        assert z.read(export.SETTINGS_NAME) == grid_settings.encode()  # the grid's own, verbatim
    assert {"grid.png", "grid.html", "sanity/README.txt"} <= names
    assert {f"sanity/strips/{m}-{v}.png" for m in methods for v in models} <= names
    assert {f"sanity/road/{m}.png" for m in methods} <= names
    checks = sanity.checks
    # the similarity numbers and ROAD curves of every method and variant, as computed
    assert summary["steps"] == checks.result.steps and set(summary["similarity"]) == set(methods)
    for m in methods:
        for v in models:
            assert summary["similarity"][m][v]["spearman_abs"] == pytest.approx(
                checks.result.similarity[m][v]["spearman_abs"], nan_ok=True
            )
            assert road[m][v]["morf"] == pytest.approx(checks.curves[m][v]["morf"])
            assert road[m][v]["gap"] == pytest.approx(checks.curves[m][v]["gap"])
    assert settings["order"] == "cascading" and settings["targets"] == checks.targets
    assert settings["variants"] == ["standard", "adv"] and settings["image"] == "test:4"
    assert len(csv) == 1 + len(methods) * len(models)
    assert html.count("<h2>") == len(methods) * (len(models) + 2)  # strips, similarity, ROAD
    assert road_png.format == "PNG" and road_png.size[0] > 200 and strip.format == "PNG"
    # without the checks the grid bundle is as before
    bare = zipfile.ZipFile(io.BytesIO(export.saliency_bundle(b"", "", [], grid_settings)))
    assert not [n for n in bare.namelist() if n.startswith("sanity/")]


def test_saliency_page_includes_sanity_checks_on_request(tiny_packs_env, monkeypatch):
    asked = []
    real = san.cached_check
    monkeypatch.setattr(san, "cached_check", lambda *a: asked.append(a[2:4]) or real(*a))
    at = open_app("app_pages/1_Saliency.py", pack=tiny_packs_env, query={"m": "saliency,gradcam", "v": "adv"})
    assert_clean(at)
    assert not asked  # nothing computed before the request
    at.button(key="saliency-sanity").click().run()
    assert_clean(at)
    assert not at.warning
    assert asked == [("adv", "saliency"), ("adv", "gradcam")]  # the grid's variants and methods
    assert any("sanity checks" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == "saliency-sanity"]  # asked once for this view
    asked.clear()
    at.run()  # kept for the session: shown again without a click (the units come from the cache)
    assert asked == [("adv", "saliency"), ("adv", "gradcam")]
    assert any(b.proto.label.startswith("Export") for b in at.get("download_button"))


def test_checks_computed_on_the_sanity_page_go_into_the_grid_bundle(tiny_packs_env):
    query = {"m": "gradcam", "sm": "gradcam", "v": "c"}
    at = open_app(SANITY, pack=tiny_packs_env, query=query)
    compute(at)
    at.switch_page("app_pages/1_Saliency.py").run()
    assert_clean(at)
    assert not [b for b in at.button if b.key == "saliency-sanity"]
    assert any("sanity checks" in c.value for c in at.caption)
    assert any(b.proto.label.startswith("Export") for b in at.get("download_button"))


# ---------------------------------------------------------------- maps that cannot be judged
DEMO_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_the_issue_example_reads_cannot_judge_with_the_relu_cause():
    """Airplane test image 0 on the demo pack: adv predicts ship, and after the whole cascade
    its Grad-CAM for ship is all zero (ReLU of a channel sum negative at every pixel). The
    page says it cannot be judged, and why; it does not say that every map passes."""
    at = open_app(SANITY, query={"img": "0", "v": "adv", "sm": "gradcam"})
    compute(at)
    assert_clean(at)
    (warning,) = [w.value for w in at.warning if "cannot be judged" in w.value]
    assert (
        "**Grad-CAM cannot be judged** for adv: cannot judge: the map is flat after step 12 (conv1)"
        in warning
    )
    assert "not a pass" in warning and "(explaining ship)" in warning and "ReLU" in warning
    assert not at.success  # "No method is flagged: every map changes ..." is not claimed
    assert any("neither flagged nor passed" in i.value for i in at.info)
    assert any(h.value == "Grad-CAM (cannot judge)" for h in at.subheader)
    (summary,) = at.dataframe
    row = summary.value.iloc[0]
    assert row["target"] == "ship"  # a class name, not a number
    assert row["verdict"] == "cannot judge: the map is flat after step 12 (conv1)"
    assert row["flagged"] is None or row["flagged"] != row["flagged"]  # empty: no flag, no pass


def test_rows_and_messages_of_maps_that_cannot_be_judged():
    from tests.explain.test_sanity import FlatWhenRandom

    model = FlatWhenRandom().eval()
    x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(5))
    parts = [san.check_one(model, v, x, "gradcam", 0)[0] for v in ("standard", "adv")]
    saliency, curves = san.check_one(model, "adv", x, "saliency", 0)  # a variant explains one class
    res = san.merge([*parts, saliency])
    assert res.flat["gradcam"]["adv"] == [False, True, True]  # merged with the similarities
    found = san.verdicts(res, "gradcam")
    assert {d.state for d in found.values()} == {san.CANNOT_JUDGE}
    (line,) = san.unjudged_messages("Grad-CAM", found, DEMO_CLASSES, res.targets)  # one reason
    assert line.startswith("**Grad-CAM cannot be judged** for standard, adv: cannot judge: the map is flat")
    assert "(explaining airplane)" in line and "negative at every pixel" in line
    assert san.unjudged_messages("Saliency", san.verdicts(res, "saliency")) == []
    rows = san.summary_rows(res, {"saliency": {"adv": curves}}, classes=DEMO_CLASSES)
    by = {(r["method"], r["variant"]): r for r in rows}
    assert by[("gradcam", "adv")]["target"] == by[("saliency", "adv")]["target"] == "airplane"
    assert by[("gradcam", "adv")]["flagged"] is None
    assert by[("gradcam", "adv")]["verdict"] == "cannot judge: the map is flat after step 1 (head)"
    assert by[("saliency", "adv")]["verdict"] in (san.PASSES, san.FLAGGED)
    assert san.summary_rows(res, {})[0]["target"] == 0  # no class names: the number
    assert (
        san.verdicts(
            san.merge([san.check_one(model, "m", x, "gradcam", 0, order="independent")[0]]), "gradcam"
        )
        == {}
    )
