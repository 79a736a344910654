"""Issue 24, "a story on every page": each page's one-line takeaway is computed from the
numbers it shows (unit tests of sc_viz.app.takeaways, then AppTest per page); the landing
page explains semantic continuity and "Start the demo" opens Saliency on a gallery image;
the Models page's details (all curves' legends, standard and c on the PGD chart, robust rows
highlighted)."""

import json
import re

from apptest_helpers import CONTINUITY, DEMO_PACK, HOME, ROBUSTNESS, SALIENCY, assert_clean, open_app

from sc_viz.app import models_view as mv
from sc_viz.app import takeaways as tk

DEMO_MANIFEST = json.loads((DEMO_PACK / "manifest.json").read_text())


def test_models_takeaway_names_the_robust_rows():
    # >= half the best (sns 32.8%): the retrained spat (24.1%) and gsct (20.3%) count too
    assert tk.robust_variants(DEMO_MANIFEST) == ["adv", "advc", "sns", "spat", "gsct"]
    line = tk.models_takeaway(DEMO_MANIFEST, "8/255")
    assert line == "Under PGD (8/255) `sns` keeps 32.8% accuracy, `standard` 0.0%; robust (highlighted): " + (
        "`adv`, `advc`, `sns`, `spat`, `gsct`."
    )
    fallen = {"variants": {v: {"metrics": {"pgd_acc": 0.01}} for v in ("standard", "adv")}}
    assert tk.robust_variants(fallen) == [] and tk.models_takeaway(fallen).endswith(
        "no variant keeps much accuracy."
    )
    assert tk.models_takeaway({"variants": {"standard": {"metrics": {}}}}) is None


def test_continuity_takeaway_is_the_largest_ratio_to_standard():
    table = {
        "standard": {"hue": {1: 0.3, 2: 0.36}, "brightness": {1: 0.2, 2: 0.2}},
        "c": {"hue": {1: 0.1, 2: 0.1}, "brightness": {1: 0.1, 2: 0.1}},
        "adv": {"hue": {1: 0.2, 2: 0.2}, "brightness": {1: 0.05, 2: 0.15}},
    }
    line = tk.continuity_takeaway(table, "test-set mean DS")
    assert line == "`c` moves 3.3x less than `standard` under hue shifts (test-set mean DS)."
    worse = {"standard": {"hue": {1: 0.1}}, "c": {"hue": {1: 0.2}}}
    assert "Every variant moves more than `standard`" in tk.continuity_takeaway(worse, "x")
    assert tk.continuity_takeaway({"c": {"hue": {1: 0.1}}}, "x") is None


def test_saliency_takeaway_counts_the_predictions_on_screen():
    classes = ["cat", "dog", "frog"]
    preds = {"standard": [(0, 0.8)], "c": [(0, 0.5)], "adv": [(1, 0.3)], "advc": [(0, 0.4)]}
    assert (
        tk.saliency_takeaway(preds, classes, 0)
        == "3 of 4 variants predict cat, the true class; `adv` says dog."
    )
    assert tk.saliency_takeaway(preds, classes, None) == "3 of 4 variants predict cat; `adv` says dog."
    assert tk.saliency_takeaway({}, classes, 0) is None
    wrong = {v: [(2, 0.5)] for v in ("standard", "c", "adv")}
    assert tk.saliency_takeaway(wrong, classes, 0) == "0 of 3 variants predict cat, the true class."


def test_demo_values_pick_the_gallery_image():
    assert tk.demo_values() == {"img_source": "Gallery", "img_index": tk.DEMO_IMAGE}


def test_pgd_chart_keeps_standard_and_c_and_every_legend_entry():
    curves = {
        "loss": {
            "epoch": [1, 2, 3],
            "standard": [1.0, 0.8, 0.7],
            "c": [1.0, 0.9, None],
            "adv": [2, 1.9, 1.8],
        },
        mv.PGD_CURVE: {"epoch": [1, 2, 3], "standard": [None] * 3, "c": [None] * 3, "adv": [0.2, 0.3, 0.31]},
    }
    manifest = {
        "variants": {
            v: {"metrics": {"pgd_acc": a}} for v, a in [("standard", 0.0), ("c", 0.01), ("adv", 0.3)]
        }
    }
    assert mv.final_pgd_points(curves, manifest) == {"standard": (2, 0.0), "c": (1, 0.01)}
    pgd = mv.present_curves(curves, manifest)[mv.PGD_CURVE]
    assert list(pgd) == ["epoch", "standard", "c", "adv"]  # registry order, none left out
    assert pgd["standard"] == [None, None, 0.0] and pgd["c"] == [None, 0.01, None]
    assert "standard" not in mv.present_curves(curves)[mv.PGD_CURVE]  # without the manifest: as logged
    seven = {
        "epoch": [1, 2],
        **{v: [0.1, 0.2] for v in ("standard", "c", "adv", "advc", "spat", "sns", "gsct")},
    }
    fig = mv.curve_figure(seven, "test_acc")
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0  # under the plot: no scrolling
    assert len(fig.data) == 7 and fig.layout.height > 280
    colours = {t.name: t.line.color for t in fig.data}
    assert len(set(colours.values())) == 7 and colours["gsct"] != "#ff6692"  # not adv red's near twin


def test_models_page_tells_its_story_and_starts_the_demo():
    at = open_app(HOME)
    assert_clean(at)
    texts = [m.value for m in at.markdown]
    assert all(line in texts for line in tk.INTRO)  # what semantic continuity is, in two lines
    assert tk.models_takeaway(DEMO_MANIFEST, "8/255") in texts
    table = at.table[0]
    assert list(table.value["Variant"]) == ["standard", "c", "adv", "advc", "spat", "sns", "gsct"]
    styled = table.proto.arrow_data.styler.styles  # the robust rows' cells carry the highlight
    assert "background-color: #d9f2d9" in styled
    rows = {int(r) for r in re.findall(r"_row(\d+)_col", styled)}
    assert rows == {2, 3, 4, 5, 6}, styled  # adv, advc, spat, sns, gsct
    assert not any("Four variants" in c.value for c in at.caption)
    at.button(key="start-demo").click().run()
    assert_clean(at)
    assert at.selectbox(key="img_index").value == tk.DEMO_IMAGE
    assert any(t.value == "Saliency" for t in at.title)


def test_continuity_and_saliency_takeaways_follow_their_numbers(tiny_packs_env):
    at = open_app(CONTINUITY, pack=tiny_packs_env, query={"img": "3003"})
    assert_clean(at)
    # the tiny pack has no stored report: the line is about this image's DS
    lines = [m.value for m in at.main.markdown if "than `standard`" in m.value]
    assert len(lines) == 1 and lines[0].endswith("(mean DS on this image).")
    at = open_app(SALIENCY, pack=tiny_packs_env, query={"img": "3003", "m": "gradcam"})
    assert_clean(at)
    lines = [m.value for m in at.main.markdown if "of 4 variants predict" in m.value]
    assert len(lines) == 1 and "the true class" in lines[0]


def test_robustness_takeaway_groups_the_verdicts():
    from sc_viz.app import robustness_view as rv

    line = tk.robustness_takeaway(
        {"standard": rv.LOST_TRUE, "c": rv.LOST_TRUE, "adv": rv.KEPT_TRUE, "advc": rv.KEPT_TRUE}, 8
    )
    assert line == "At ε = 8/255 `adv` and `advc` keep the true class; `standard` and `c` lose it."
    line = tk.robustness_takeaway({"standard": rv.LOST_TRUE, "adv": rv.WRONG_STAYS_WRONG}, 2)
    assert line == "At ε = 2/255 `standard` loses the true class; `adv` was wrong before the attack."
    line = tk.robustness_takeaway({"standard": rv.KEPT_OWN, "c": rv.KEPT_OWN}, 1)
    assert line == "At ε = 1/255 every variant keeps its own prediction."
    assert tk.robustness_takeaway({}, 8) is None


def test_embeddings_neurons_and_sanity_takeaways_follow_their_numbers():
    violations = {
        "standard": {"hue": 5, "brightness": 7},
        "c": {"hue": 1, "brightness": 2},
        "adv": {"hue": 9, "brightness": 9},
    }
    assert tk.embeddings_takeaway(violations, 200, 2) == (
        "`c` has 3 continuity violations over the 2 perturbations, `standard` 12 "
        "(of 200 same-class images each, level 2)."
    )
    assert tk.embeddings_takeaway({"c": {"hue": 1}}, 200, 1) is None
    table = {
        "standard": {"layer1": {"mean": 0.1}, "layer3": {"mean": 0.8}},
        "advc": {"layer1": {"mean": 0.1}, "layer3": {"mean": 0.2}},
        "c": {"layer1": {"mean": 0.1}, "layer3": {"mean": 0.4}},
    }
    assert tk.neurons_takeaway(table, ["layer1", "layer3"]) == (
        "In layer3 the channels of `advc` move 4.0x less than those of `standard` "
        "under PGD (mean sensitivity)."
    )
    titles = {"gradcam": "Grad-CAM", "ig": "Integrated Gradients", "saliency": "Saliency"}
    line = tk.sanity_takeaway({"gradcam": ["c", "adv"], "ig": [], "saliency": []}, titles, ["saliency"])
    assert line == (
        "Grad-CAM barely changes when the weights are randomised (flagged for `c` and `adv`); "
        "Integrated Gradients passes: the maps follow the weights."
    )
    assert tk.sanity_takeaway({}, titles) is None


def test_robustness_page_tells_its_story(tiny_packs_env):
    at = open_app(
        ROBUSTNESS, pack=tiny_packs_env, query={"img": "3003", "eps": "2", "steps": "2", "adv": "none"}
    )
    assert_clean(at)
    lines = [m.value for m in at.main.markdown if m.value.startswith("At ε = 2/255")]
    assert len(lines) == 1, [m.value for m in at.main.markdown]
