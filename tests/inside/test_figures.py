"""The Neurons page's figures: one colour per variant from the registry, the layers on x,
x and x' maps of a channel on one colour scale."""

import torch

from sc_viz.inside.figures import (
    channel_distance_figure,
    channel_maps_figure,
    consensus_box_figure,
    layer_sensitivity_figure,
)
from sc_viz.training.variants import variant_colour

LAYERS = ["net.conv1", "net.layer1.0"]
PER_VARIANT = {
    "adv": {n: {"mean": 0.1 * i, "top": 0.2 * i} for i, n in enumerate(LAYERS)},
    "standard": {n: {"mean": 0.3 * i, "top": 0.5 * i} for i, n in enumerate(LAYERS)},
}


def test_layer_figure_one_colour_per_variant_solid_mean_dashed_top():
    fig = layer_sensitivity_figure(PER_VARIANT, LAYERS)
    assert [t.name for t in fig.data] == [
        "standard: mean sensitivity",
        "standard: top-10% sensitivity",
        "adv: mean sensitivity",
        "adv: top-10% sensitivity",
    ]
    assert list(fig.data[0].x) == ["conv1", "layer1.0"]
    assert list(fig.data[3].y) == [0.0, 0.2]
    assert fig.data[2].line.color == variant_colour("adv") != variant_colour("standard")
    assert (fig.data[0].line.dash, fig.data[1].line.dash) == ("solid", "dash")


def test_channel_figures():
    d = {"standard": torch.tensor([0.1, 0.5, 0.3]), "adv": torch.tensor([0.2, 0.0, 0.05])}
    fig = channel_distance_figure(d, top_k=2)
    assert list(fig.data[0].x) == ["standard ch 1", "standard ch 2"]
    assert list(fig.data[1].x) == ["adv ch 0", "adv ch 2"]
    clean, moved = torch.zeros(2, 4, 4), torch.ones(2, 4, 4)
    clean[1] = -3
    fig = channel_maps_figure([7, 2], clean, moved, [0.5, 0.25])
    heatmaps = list(fig.data)
    assert len(heatmaps) == 4
    # a channel's x and x' maps share one colour scale
    assert (heatmaps[2].zmin, heatmaps[2].zmax, heatmaps[3].zmin) == (-3, 1, -3)
    assert fig.layout.annotations[0].text == "ch 7 · d = 0.500"


def test_consensus_box_marks_this_image():
    fig = consensus_box_figure({"adv": [0.5, 0.7, None], "standard": [0.1, 0.2]}, {"adv": 0.9})
    boxes = [t for t in fig.data if t.type == "box"]
    assert [b.name for b in boxes] == ["standard", "adv"] and list(boxes[1].y) == [0.5, 0.7]
    (marker,) = [t for t in fig.data if t.type == "scatter"]
    assert list(marker.y) == [0.9] and list(marker.x) == ["adv"]
