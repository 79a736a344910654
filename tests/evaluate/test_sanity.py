"""The sanity suite: randomisation curves, flags and ROAD per variant x method."""

import json

import pytest
import torch

from sc_viz.evaluate import SUITES, sanity
from sc_viz.evaluate import report as report_mod
from sc_viz.evaluate.render import plotly_figure
from sc_viz.explain import METHODS
from tests.explain.helpers import random_model
from tests.explain.test_sanity import TINYCNN_LAYERS, EdgeMethod, FlatWhenRandom

from .helpers import context, label_images


@pytest.fixture
def edges(monkeypatch):
    monkeypatch.setitem(METHODS._items, "edges", EdgeMethod())
    return "edges"


def test_suite_curves_flags_and_road(edges):
    models = {"standard": random_model("tinycnn", 0), "adv": random_model("tinycnn", 1)}
    before = {v: {k: t.clone() for k, t in m.state_dict().items()} for v, m in models.items()}
    ctx = context(
        models,
        label_images(torch.arange(6) % 10),
        options={
            "sanity_limit": 2,
            "methods": ["saliency", edges],
            "sanity_orders": ["cascading", "independent"],
        },
    )
    assert "sanity" in SUITES.names()
    out = SUITES["sanity"].run(ctx)
    json.dumps(out)  # JSON-ready
    assert out["n"] == 2 and out["orders"] == ["cascading", "independent"]
    assert out["steps"]["cascading"] == ["original"] + TINYCNN_LAYERS
    for o in out["orders"]:
        for v in models:
            for m in out["methods"]:
                for s in out["similarities"]:
                    curve = out["similarity"][o][v][m][s]
                    assert len(curve["mean"]) == len(out["steps"][o])
                    assert curve["mean"][0] == pytest.approx(1.0) and curve["std"][0] == 0
    # a map computed without the model never changes: flagged; the gradient is not
    assert all(out["flagged"][v] == {"saliency": False, edges: True} for v in models)
    assert out["final_similarity"]["adv"][edges] == pytest.approx(1.0)
    road = out["road"]
    assert len(road["morf"]["adv"]["saliency"]["mean"]) == len(road["fractions"])
    assert road["morf"]["adv"]["saliency"]["mean"][0] == pytest.approx(
        road["lerf"]["adv"]["saliency"]["mean"][0]
    )  # 0 % removed: the same image
    gap = road["gap"]["standard"]["saliency"]["mean"]
    assert isinstance(gap, float)
    for v, m in models.items():  # the cached models are untouched
        assert all(torch.equal(before[v][k], t) for k, t in m.state_dict().items())
    settings = SUITES["sanity"].settings(ctx)
    assert settings["flag_threshold"] == 0.5 and settings["sanity_limit"] == 2
    assert settings["method_options"]["saliency"] == {}
    del ctx.options["sanity_orders"]
    assert SUITES["sanity"].settings(ctx)["orders"] == ["cascading"]  # the default
    ctx.options["sanity_orders"] = ["bottom_up"]
    with pytest.raises(ValueError, match="bottom_up"):
        SUITES["sanity"].settings(ctx)

    # the report renders the suite: a markdown section and two charts
    report = {"suites": {"sanity": out}}
    names = [c.name for c in report_mod.charts(report)]
    assert names == ["sanity_cascade", "road_gap"]
    md = SUITES["sanity"].markdown(out, {})
    assert "**flagged**" in md and "ROAD" in md and "net.fc" in md
    plotly_figure(report_mod.charts(report)[0])


def test_threshold_and_orders_are_settings(edges):
    models = {"standard": random_model("tinycnn", 0)}
    ctx = context(
        models,
        label_images(torch.arange(3)),
        options={
            "sanity_limit": 1,
            "methods": [edges],
            "sanity_orders": ["independent"],
            "sanity_flag_threshold": 1.5,
        },
    )
    out = sanity.run(ctx)
    assert out["orders"] == ["independent"] and "flagged" not in out  # flags need the cascade
    ctx.options["sanity_orders"] = ["cascading"]
    assert sanity.run(ctx)["flagged"]["standard"][edges] is False  # similarity 1 < 1.5


def test_quick_run_sample_size():
    ctx = context({"m": random_model("tinycnn")}, label_images(torch.arange(3)), limit=500)
    assert sanity.sample_size(ctx) == 10
    ctx = context({"m": random_model("tinycnn")}, label_images(torch.arange(3)))
    assert sanity.sample_size(ctx) == sanity.DEFAULT_SANITY_LIMIT


def test_maps_flat_after_randomisation_cannot_be_judged_in_the_suite_and_the_report():
    """Grad-CAM of a model whose randomised head makes it all zero (its ReLU of a negative
    channel sum): no final similarity and no flag (never a pass), counted with the step its
    maps are flat after; the gradient of the same model is judged as usual."""
    ctx = context(
        {"m": FlatWhenRandom().eval()},
        label_images(torch.arange(4) % 2, side=16),
        options={"sanity_limit": 3, "methods": ["gradcam", "saliency"]},
    )
    out = sanity.run(ctx)
    json.dumps(out)
    assert out["final_similarity"]["m"]["gradcam"] is None
    assert out["flagged"]["m"]["gradcam"] is None  # neither flagged nor passed
    assert out["cannot_judge"]["m"]["gradcam"] == {"n": 3, "flat_after": {"head": 3}, "relu": 3}
    assert out["cannot_judge"]["m"]["saliency"] == {"n": 0, "flat_after": {}, "relu": 0}
    assert isinstance(out["flagged"]["m"]["saliency"], bool)
    md = SUITES["sanity"].markdown(out, {})
    assert "cannot judge: the map is flat after step head in all 3 images" in md
    assert "3 of these flat maps are all zero because of the method's ReLU" in md
    # some images judged, some not: the mean of the judged ones, and the count beside it
    part = {**out, "final_similarity": {"m": {"gradcam": 0.25, "saliency": 0.1}}}
    part["flagged"] = {"m": {"gradcam": False, "saliency": False}}
    part["cannot_judge"] = {"m": {"gradcam": {"n": 1, "flat_after": {"head": 1}, "relu": 1}}}
    assert "0.250 (1 of 3 cannot judge: flat after head)" in sanity.markdown(part, {})
