import io

import numpy as np
import pytest
import torch
from PIL import Image

from sc_viz.embed import Embedding
from sc_viz.explain import Explanation, Grid
from sc_viz.figures import (bar_figure, embedding_figure, embedding_png, grid_figure, grid_png,
                            line_figure, row_limits, to_html)

VARIANTS, METHODS = ["standard", "c"], ["gradcam", "ig"]


def hand_grid() -> Grid:
    maps = {("standard", "gradcam"): torch.full((6, 6), 0.5), ("c", "gradcam"): torch.zeros(6, 6),
            ("standard", "ig"): torch.zeros(6, 6), ("c", "ig"): torch.zeros(6, 6)}
    maps["c", "gradcam"][2, 2] = 4.0
    maps["standard", "ig"][0, 0], maps["c", "ig"][1, 1] = 2.0, -3.0
    cells = {(v, m): Explanation(m, 1, heat, {}, signed=(m == "ig"))
             for (v, m), heat in maps.items()}
    preds = {v: [(1, 0.7), (0, 0.2), (2, 0.1)] for v in VARIANTS}
    return Grid(VARIANTS, METHODS, {v: 1 for v in VARIANTS}, preds, cells)


def test_row_limits_shared_and_symmetric_where_signed():
    limits = row_limits(hand_grid(), percentile=100)
    assert limits == {"gradcam": (0.0, 4.0), "ig": (-3.0, 3.0)}
    # the default percentile trims single extreme pixels but keeps the sign rule
    lo, hi = row_limits(hand_grid())["ig"]
    assert lo == -hi and 0 < hi <= 3.0


def test_grid_figure_rows_share_one_colour_axis():
    fig = grid_figure(hand_grid(), torch.rand(3, 6, 6), classes=["a", "b", "c"])
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 4
    axes = {t.coloraxis for t in heat}
    assert axes == {"coloraxis", "coloraxis2"}  # one per row (method)
    ig_axis = fig.layout.coloraxis2
    assert ig_axis.cmin == -ig_axis.cmax and fig.layout.coloraxis.cmin == 0
    assert sum(t.type == "image" for t in fig.data) == 1 + 4  # input + overlays
    titles = [a.text for a in fig.layout.annotations]
    assert "input" in titles and any("standard: b 70% (target b)" in t for t in titles)
    assert "gradcam" in titles and "ig" in titles


def test_grid_png_presentation_resolution(tmp_path):
    path = tmp_path / "grid.png"
    data = grid_png(hand_grid(), torch.rand(3, 6, 6), path, dpi=100, cell_inches=2.0)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and path.read_bytes() == data
    w, h = Image.open(io.BytesIO(data)).size
    assert (w, h) == (int(round((2.0 * 3 + 0.9) * 100)), int(round((2.0 * 2 + 0.5) * 100)))
    # default: 200 dpi, well above slide resolution for a 4 x 3 grid
    big = Image.open(io.BytesIO(grid_png(hand_grid(), torch.rand(3, 6, 6)))).size
    assert big[0] >= 1300


def test_html_is_self_contained(tmp_path):
    html = to_html(grid_figure(hand_grid(), torch.rand(3, 6, 6)), tmp_path / "g.html")
    assert "<html>" in html and "Plotly.newPlot" in html
    assert "<script src=\"http" not in html and len(html) > 1_000_000  # plotly.js inlined
    assert (tmp_path / "g.html").read_text(encoding="utf-8") == html


def hand_embedding(joint: bool) -> Embedding:
    kinds = ["x", "brightness", "contrast", "saturation", "hue", "same_class", "same_class"]
    coords = {"standard": torch.arange(14.0).view(7, 2), "c": -torch.arange(14.0).view(7, 2)}
    dist = {v: torch.arange(7.0) / 2 for v in coords}
    viol = {v: {"brightness": 1, "contrast": 0, "saturation": 2, "hue": 0} for v in coords}
    return Embedding("umap", joint, 1, kinds, [5, -1, -1, -1, -1, 10, 11], {}, dist, viol, coords)


def test_embedding_figure_marks_kinds_and_hovers_index_and_ds():
    fig = embedding_figure(hand_embedding(joint=False))
    first = [t for t in fig.data if t.xaxis == "x"]
    assert len(first) == 6  # x, 4 perturbations, same class
    symbols = {t.legendgroup: t.marker.symbol for t in first}
    assert len(set(symbols.values())) == 6
    same = next(t for t in first if t.legendgroup == "same_class")
    np.testing.assert_allclose(same.customdata, [[10, 2.5], [11, 3.0]])
    assert "DS to x" in same.hovertemplate and "index" in same.hovertemplate
    assert any("saturation (2 closer)" == t.name for t in first)


def test_joint_embedding_shares_axes():
    fig = embedding_figure(hand_embedding(joint=True))
    assert fig.layout.xaxis.range == fig.layout.xaxis2.range
    assert fig.layout.xaxis.range[0] < -12 and fig.layout.xaxis.range[1] > 12
    assert "(joint)" in fig.layout.annotations[0].text


def test_bar_and_line_helpers():
    bars = bar_figure({"standard": {"clean": 0.9, "pgd": 0.1}, "adv": {"clean": 0.8, "pgd": 0.4}},
                      title="acc", percent=True)
    assert [t.name for t in bars.data] == ["standard", "adv"] and bars.layout.barmode == "group"
    assert list(bars.data[1].y) == pytest.approx([0.8, 0.4])
    line = line_figure([1, 2, 3], {"c": [3.0, 2.0, 1.0]}, xaxis_title="level")
    assert list(line.data[0].x) == [1, 2, 3] and line.data[0].mode == "lines+markers"


def test_embedding_figure_shows_only_the_chosen_perturbations():
    fig = embedding_figure(hand_embedding(joint=False), variants=["c"], shown={"saturation"})
    assert [t.legendgroup for t in fig.data] == ["same_class", "saturation", "x"]
    # the title counts only the violations of what is shown
    assert fig.layout.annotations[0].text == "c: UMAP, 2 violations"


def test_embedding_png_one_row_per_embedding(tmp_path):
    one = Image.open(io.BytesIO(embedding_png([hand_embedding(joint=False)]))).size
    three = embedding_png([hand_embedding(joint=True)] * 3, tmp_path / "e.png",
                          variants=["standard", "c"], shown={"hue"})
    assert (tmp_path / "e.png").read_bytes() == three
    w, h = Image.open(io.BytesIO(three)).size
    assert w == one[0] and h > 2.5 * one[1]  # same columns, three rows
