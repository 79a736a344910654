"""The Neurons page's figures: one colour per variant from the registry, the layers on x,
x and x' maps of a channel on one colour scale."""

import pytest
import torch

from sc_viz.figures.neurons import (
    CHANNEL_FIGURE_PX,
    channel_cell_px,
    channel_distance_figure,
    channel_maps_figure,
    consensus_box_figure,
    layer_sensitivity_figure,
)
from sc_viz.variants import variant_colour

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
    assert fig.layout.annotations[0].text == "ch 7<br>d = 0.500"


def map_boxes(fig, k: int) -> list[tuple[float, float]]:
    """(width, height) in pixels of each map's plotting area as plotly lays the figure out:
    the axis domains times the plot area, each shrunk to the aspect its scaleanchor asks
    (a y axis anchored to its own x axis at scale ratio 1 over a square map: a square)."""
    lay = fig.layout
    area_w = lay.width - lay.margin.l - lay.margin.r
    area_h = lay.height - lay.margin.t - lay.margin.b
    boxes = []
    for n in range(1, 2 * k + 1):
        suffix = str(n) if n > 1 else ""
        x, y = lay[f"xaxis{suffix}"], lay[f"yaxis{suffix}"]
        assert y.scaleanchor == f"x{suffix}", (n, y.scaleanchor)  # its own x axis, not x1's
        assert x.constrain == y.constrain == "domain"  # shrinks the box, not adds a margin
        w, h = (x.domain[1] - x.domain[0]) * area_w, (y.domain[1] - y.domain[0]) * area_h
        side = min(w, h)  # each map is square (h == w cells), so the box is too
        boxes.append((w, h, side))
    return boxes


def test_channel_maps_are_square_at_one_size_with_readable_row_labels():
    """The issue's layer2.1, top 6: every one of the 12 maps square (no 1.6:1 stretch) and
    of one size, no gridlines; the x / x' labels horizontal, as large as the grid's."""
    k = 6
    clean, moved = torch.rand(k, 16, 16), torch.rand(k, 16, 16)
    fig = channel_maps_figure(list(range(k)), clean, moved, [0.1] * k, title="adv: layer2.1")
    boxes = map_boxes(fig, k)
    assert len(boxes) == 2 * k == len(fig.data)
    cell = channel_cell_px(k)
    for w, h, side in boxes:  # the domains are the maps' squares: nothing to shrink
        assert abs(w - cell) < 1 and abs(h - cell) < 1 and side == pytest.approx(cell, abs=1)
    for axis in [*fig.select_xaxes(), *fig.select_yaxes()]:
        assert axis.showgrid is False and axis.zeroline is False and axis.showticklabels is False
    labels = [a for a in fig.layout.annotations if a.text in ("<b>x</b>", "<b>x\u2032</b>")]
    assert [a.text for a in labels] == ["<b>x</b>", "<b>x\u2032</b>"]
    for a in labels:
        assert a.textangle == 0 and a.font.size >= 14  # the Saliency grid's captions are 14 px
    assert labels[0].y > labels[1].y  # x above x'
    # one size however many channels; fewer channels: the same side, a narrower figure
    assert map_boxes(channel_maps_figure([3], clean[:1], moved[:1], [0.2]), 1)[0][2] == pytest.approx(
        cell, abs=1
    )
    many = channel_maps_figure(list(range(12)), torch.rand(12, 8, 8), torch.rand(12, 8, 8), [0.1] * 12)
    sides = {round(side) for _, _, side in map_boxes(many, 12)}
    assert len(sides) == 1 and many.layout.width <= CHANNEL_FIGURE_PX
    # stretched to a wider container (the browser may), each map keeps its square
    fig.update_layout(width=2 * fig.layout.width)
    stretched = map_boxes(fig, k)
    assert all(w > h and side == pytest.approx(cell, abs=1) for w, h, side in stretched)


def test_consensus_box_marks_this_image():
    fig = consensus_box_figure({"adv": [0.5, 0.7, None], "standard": [0.1, 0.2]}, {"adv": 0.9})
    boxes = [t for t in fig.data if t.type == "box"]
    assert [b.name for b in boxes] == ["standard", "adv"] and list(boxes[1].y) == [0.5, 0.7]
    (marker,) = [t for t in fig.data if t.type == "scatter"]
    assert list(marker.y) == [0.9] and list(marker.x) == ["adv"]
