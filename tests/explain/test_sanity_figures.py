"""Plotly figures of the sanity checks for one image."""

import pytest

from sc_viz.explain.road import road_many
from sc_viz.explain.sanity import randomisation_test
from sc_viz.figures.sanity import cascade_strip_figure, road_figure, similarity_figure

from .helpers import random_image, random_model


@pytest.fixture(scope="module")
def result():
    models = {"standard": random_model("tinycnn", 0), "adv": random_model("tinycnn", 1)}
    x = random_image()
    res = randomisation_test(
        models, x, methods=["ig"], targets={"standard": 0, "adv": 1}, options={"ig": {"n_steps": 4}}
    )
    maps = {v: res.maps["ig"][v][0] for v in models}
    return res, road_many(models, x, maps, res.targets, fractions=(0.0, 0.3, 0.6))


def test_cascade_strip_has_a_map_and_a_similarity_per_step(result):
    res, _ = result
    fig = cascade_strip_figure(res, "ig", "adv")
    assert len(fig.data) == len(res.steps)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0].startswith("original") and "1.00" in titles[0]
    assert titles[1].startswith("fc<br>")  # the block name, without the wrapper's "net."
    assert fig.data[0].zmin == -fig.data[0].zmax  # IG is signed: a diverging scale


def test_cascade_strip_needs_the_maps():
    res = randomisation_test(
        {"m": random_model("tinycnn")},
        random_image(),
        methods=["saliency"],
        targets={"m": 0},
        keep_maps=False,
    )
    with pytest.raises(ValueError, match="keep_maps"):
        cascade_strip_figure(res, "saliency", "m")


def test_similarity_and_road_figures(result):
    res, curves = result
    fig = similarity_figure(res, "ig", ["spearman_abs", "ssim"])
    assert [t.name for t in fig.data] == ["standard", "adv", "standard", "adv"]  # registry order
    fig = road_figure(curves, "ig")
    names = [t.name for t in fig.data]
    assert names[0] == "standard MORF" and names[1].startswith("standard LERF (gap ")
    assert list(fig.data[0].x) == [0, 30, 60]
    assert fig.data[0].line.color == fig.data[1].line.color  # one colour per variant


def test_a_flat_map_is_drawn_as_a_grey_cell_that_says_so():
    import math

    from .test_sanity import FlatWhenRandom

    res = randomisation_test(
        {"m": FlatWhenRandom().eval()}, random_image(16, 16), methods=["gradcam"], targets={"m": 0}
    )
    fig = cascade_strip_figure(res, "gradcam", "m")
    titles = [a.text for a in fig.layout.annotations if "<br>" in a.text]
    assert titles[0].startswith("original<br>") and "1.00" in titles[0]
    assert titles[1:] == ["head<br>flat map", "features.0<br>flat map"]
    assert [a.text for a in fig.layout.annotations if a.text == "all zero"] == ["all zero"] * 2
    assert not any(math.isnan(v) for row in fig.data[0].z for v in row)  # the trained map is drawn
    assert all(math.isnan(v) for trace in fig.data[1:] for row in trace.z for v in row)  # no colour
    assert len(fig.layout.shapes) == 2  # a grey square behind each flat step
