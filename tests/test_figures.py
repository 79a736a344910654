import io

import numpy as np
import pytest
import torch
from PIL import Image

from sc_viz.embed import Embedding
from sc_viz.explain import Explanation, Grid
from sc_viz.figures import (
    CELL_PX,
    SCALE_NOTE,
    SCALE_PERCENTILE,
    GridLayout,
    cell_image,
    column_titles,
    embedding_figure,
    embedding_png,
    full_colour_value,
    grid_cell,
    grid_figure,
    grid_layout,
    grid_png,
    image_from_data_uri,
    is_blank,
    legend_image,
    map_colours,
    method_legend,
    scaled_map,
    selected_rows,
    shared_ranges,
    text_width,
    to_html,
)

VARIANTS, METHODS = ["standard", "c"], ["ig", "gradcam"]  # methods NOT in cost order


def hand_grid() -> Grid:
    maps = {
        ("standard", "gradcam"): torch.full((6, 6), 0.5),
        ("c", "gradcam"): torch.zeros(6, 6),
        ("standard", "ig"): torch.zeros(6, 6),
        ("c", "ig"): torch.zeros(6, 6),
    }
    maps["standard", "gradcam"][2, 2] = 4.0
    maps["standard", "ig"][0, 0], maps["c", "ig"][1, 1] = 2.0, -3.0
    cells = {(v, m): Explanation(m, 1, heat, {}, signed=(m == "ig")) for (v, m), heat in maps.items()}
    preds = {v: [(1, 0.7), (0, 0.2), (2, 0.1)] for v in VARIANTS}
    return Grid(VARIANTS, METHODS, {v: 1 for v in VARIANTS}, preds, cells)


def cell_at(png: bytes, lay: GridLayout, row: int, col: int) -> np.ndarray:
    left, top = lay.left(col), lay.top(row)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[
        top : top + lay.size, left : left + lay.size
    ]


def test_each_map_scaled_on_its_own():
    grid = hand_grid()
    np.testing.assert_allclose(scaled_map(grid["standard", "gradcam"].map, False).max(), 1.0)
    ig = scaled_map(grid["c", "ig"].map, True)  # a single -3: full blue, the rest zero
    assert ig.min() == -1.0 and ig.max() == 0.0
    # a small map next to a large one still spans the full colour range
    small = Explanation("ig", 1, grid["standard", "ig"].map * 1e-3, {}, signed=True)
    np.testing.assert_array_equal(
        cell_image(torch.rand(3, 6, 6) * 0, small, 1.0),
        cell_image(torch.rand(3, 6, 6) * 0, grid["standard", "ig"], 1.0),
    )


def test_a_few_extreme_pixels_do_not_leave_a_map_dark():
    """Full colour at the map's 98th percentile of |value| (SCALE_NOTE): one outlier pixel of
    a gradient map is clipped instead of pushing every other pixel towards black."""
    heat = torch.linspace(0, 1, 100).reshape(10, 10)
    heat[0, 0] = 100.0  # one extreme pixel
    scaled = scaled_map(heat, False)
    assert full_colour_value(heat) == pytest.approx(float(np.percentile(heat.numpy(), SCALE_PERCENTILE)))
    assert scaled[0, 0] == 1.0 and 2 <= (scaled == 1.0).sum() <= 3  # the top 2%, clipped
    assert np.median(scaled) > 0.45  # by the largest |value| it would be 0.005
    signed = scaled_map(-heat, True)
    assert signed.min() == -1.0 and np.median(signed) < -0.45
    assert "98th percentile" in SCALE_NOTE
    # the overlay of such a map is brighter than the same map scaled by its largest value
    x = torch.full((3, 10, 10), 0.8)
    old = map_colours(heat.numpy() / 100.0, False)
    assert cell_image(x, Explanation("saliency", 0, heat), 0.5, 10).mean() > 255 * (0.4 + old.mean() / 2) + 10


def test_png_cells_are_the_screen_cells_in_the_chosen_order(tmp_path):
    """The export holds, at the layout's positions, exactly the pixels the page shows per
    cell; rows are variants, columns the methods in the grid's (the user's) order."""
    grid, x = hand_grid(), torch.rand(3, 6, 6)
    path = tmp_path / "grid.png"
    png = grid_png(grid, x, path, classes=["a", "b", "c"], opacity=0.4)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and path.read_bytes() == png
    lay = grid_layout(grid)
    assert Image.open(io.BytesIO(png)).size == (lay.width, lay.height)
    for r, v in enumerate(grid.variants):
        for c, m in enumerate(grid.methods, start=1):
            screen = grid_cell(x, grid[v, m], classes=["a", "b", "c"], opacity=0.4).image
            assert screen.shape == (CELL_PX, CELL_PX, 3)
            np.testing.assert_array_equal(cell_at(png, lay, r, c), screen)
    # the colour bar band under each title holds the legend image and nothing else
    band = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    for c, m in enumerate(grid.methods, start=1):
        leg = legend_image(m)
        top, left = lay.legend_top, lay.left(c)
        np.testing.assert_array_equal(band[top : top + leg.shape[0], left : left + lay.size], leg)
    assert column_titles(grid.methods) == ["image", "Integrated Gradients", "Grad-CAM"]


def test_png_scales_with_the_cell_size():
    small = Image.open(io.BytesIO(grid_png(hand_grid(), torch.rand(3, 6, 6), cell_px=100))).size
    big = Image.open(io.BytesIO(grid_png(hand_grid(), torch.rand(3, 6, 6), cell_px=320))).size
    assert big[0] > 2.5 * small[0] and big[0] >= 1000  # large enough for a slide


def test_blank_map_says_so():
    grid = hand_grid()
    blank = grid_cell(torch.rand(3, 6, 6), grid["c", "gradcam"], classes=["a", "b", "c"])
    assert is_blank(grid["c", "gradcam"].map) and blank.blank
    assert blank.caption[0] == "no evidence for b" and "all zero" in blank.caption[1]
    assert blank.image.mean() > 100  # the washed-out image, not a dark square
    shown = grid_cell(torch.rand(3, 6, 6), grid["standard", "gradcam"], classes=["a", "b", "c"])
    assert shown.caption == ["target: b"] and not shown.blank
    html = grid_figure(grid, torch.rand(3, 6, 6), classes=["a", "b", "c"])
    texts = [a.text for a in html.layout.annotations]
    assert any("no evidence for b" in t for t in texts)
    # no hover values for the blank cell: 4 cells, 1 blank -> 3 hover layers
    assert sum(t.type == "heatmap" for t in html.data) == 3


def test_html_equals_the_png_layout():
    grid, x = hand_grid(), torch.rand(3, 6, 6)
    fig = grid_figure(grid, x, classes=["a", "b", "c"], opacity=0.4)
    lay = grid_layout(grid)
    width, height = fig.layout.width, fig.layout.height
    assert height == lay.height and width >= lay.width
    images = [t for t in fig.data if t.type == "image"]
    assert len(images) == 2 + 4  # an input image per row + the maps
    for trace in images:
        k = trace.xaxis[1:] or "1"
        xd = fig.layout[f"xaxis{'' if k == '1' else k}"].domain
        yd = fig.layout[f"yaxis{'' if k == '1' else k}"].domain
        left, top = round(xd[0] * width), round((1 - yd[1]) * height)
        col = next(c for c in range(lay.cols) if lay.left(c) == left)
        row = next(r for r in range(lay.rows) if lay.top(r) == top)
        if col:
            exp = grid[grid.variants[row], grid.methods[col - 1]]
            np.testing.assert_array_equal(image_from_data_uri(trace.source), cell_image(x, exp, 0.4))
    titles = [a for a in fig.layout.annotations if a.y > 1 - lay.legend_top / height]
    assert [t.text.replace("<br>", " ").replace("<b>", "").replace("</b>", "") for t in titles] == [
        "image",
        "Integrated Gradients",
        "Grad-CAM",
    ]


def test_titles_fit_their_column_and_sit_above_the_colour_bars():
    grid = Grid(
        ["standard"],
        ["saliency", "ig", "smoothgrad", "gradcam", "lime"],
        {"standard": 0},
        {"standard": [(0, 1.0)]},
        {},
    )
    fig = grid_figure(grid, torch.rand(3, 6, 6))
    lay = grid_layout(grid)
    lines = [
        line
        for a in fig.layout.annotations
        if a.y > 1 - lay.legend_top / fig.layout.height
        for line in a.text.replace("<b>", "").replace("</b>", "").split("<br>")
    ]
    assert "Saliency (gradient)" in " ".join(lines) and "SmoothGrad" in lines
    assert all(text_width(line, lay.title_px, bold=True) <= lay.size for line in lines)
    title_bottom = lay.title_top + 2 * round(lay.title_px * 1.3)
    assert lay.legend_top >= title_bottom  # the bars start below two title lines


def test_colour_bars_explain_each_method():
    grid = hand_grid()
    fig = grid_figure(grid, torch.rand(3, 6, 6))
    ig_axis, cam_axis = fig.layout.coloraxis, fig.layout.coloraxis2  # columns 1 and 2
    assert ig_axis.cmin == -1 and ig_axis.cmax == 1 and cam_axis.cmin == 0
    assert ig_axis.colorbar.orientation == "h"
    texts = {a.text for a in fig.layout.annotations}
    assert {"against", "for", "none", "most"} <= texts
    ig, cam = method_legend("ig"), method_legend("gradcam")
    assert ig.signed and "red" in ig.meaning and "blue" in ig.meaning
    assert not cam.signed and "bright" in cam.meaning
    hover = next(t for t in fig.data if t.type == "heatmap").hovertemplate
    assert "value" in hover and "Integrated Gradients" in hover


def test_html_is_self_contained(tmp_path):
    html = to_html(grid_figure(hand_grid(), torch.rand(3, 6, 6)), tmp_path / "g.html")
    assert "<html>" in html and "Plotly.newPlot" in html
    assert '<script src="http' not in html and len(html) > 1_000_000  # plotly.js inlined
    assert (tmp_path / "g.html").read_text(encoding="utf-8") == html


def hand_embedding(joint: bool) -> Embedding:
    kinds = ["x", "brightness", "contrast", "saturation", "hue", "same_class", "same_class"]
    coords = {"standard": torch.arange(14.0).view(7, 2), "c": -torch.arange(14.0).view(7, 2)}
    dist = {v: torch.arange(7.0) / 2 for v in coords}
    viol = {v: {"brightness": 1, "contrast": 0, "saturation": 2, "hue": 0} for v in coords}
    return Embedding("umap", joint, 1, kinds, [5, -1, -1, -1, -1, 10, 11], {}, dist, viol, coords)


def test_embedding_figure_marks_kinds_and_hovers_names_not_internals():
    fig = embedding_figure(hand_embedding(joint=False))
    first = [t for t in fig.data if t.xaxis == "x"]
    assert len(first) == 6  # x, 4 perturbations, same class
    symbols = {t.legendgroup: t.marker.symbol for t in first}
    assert len(set(symbols.values())) == 6
    same = next(t for t in first if t.legendgroup == "same_class")
    # customdata: [row in the embedding, what the point is, DS to x]
    assert [list(d) for d in same.customdata] == [
        [5, "same class: test image #10", 2.5],
        [6, "same class: test image #11", 3.0],
    ]
    hue = next(t for t in first if t.legendgroup == "hue")
    assert hue.customdata[0][1] == "hue, level 1" and hue.name == "hue (0 closer)"
    star = first[-1]  # x: drawn last, so on top, and hoverable with its own label
    assert star.legendgroup == "x" and star.customdata[0][1] == "x: test image #5"
    assert star.hoverinfo != "skip" and star.name == "x (this image)"
    for trace in fig.data:
        labels = " ".join(str(d[1]) for d in trace.customdata) + trace.hovertemplate + trace.name
        assert "same_class" not in labels and "-1" not in labels and "DS to x" in trace.hovertemplate
    assert any("saturation (2 closer)" == t.name for t in first)


def test_selected_points_give_the_rows_for_their_thumbnails():
    fig = embedding_figure(hand_embedding(joint=False), variants=["c"])
    same = next(t for t in fig.data if t.legendgroup == "same_class")
    # what Streamlit hands back for a click on the second same-class point, then on x
    picked = {
        "points": [
            {"curve_number": 0, "point_index": 1, "customdata": list(same.customdata[1])},
            {"curve_number": 5, "point_index": 0, "customdata": [0, "x: test image #5", 0.0]},
            {"curve_number": 0, "point_index": 1, "customdata": list(same.customdata[1])},
        ]
    }
    assert selected_rows(picked) == [6, 0]
    assert selected_rows(None) == [] and selected_rows({"points": []}) == []


def test_joint_embedding_shares_axes_also_one_variant_at_a_time():
    emb = hand_embedding(joint=True)
    fig = embedding_figure(emb)
    assert fig.layout.xaxis.range == fig.layout.xaxis2.range
    assert fig.layout.yaxis.range == fig.layout.yaxis2.range
    assert fig.layout.xaxis.range[0] < -12 and fig.layout.xaxis.range[1] > 12
    assert "(joint)" in fig.layout.annotations[0].text
    # the page draws each variant in its own figure: the ranges must still be equal
    one, two = (embedding_figure(emb, variants=[v]) for v in ("standard", "c"))
    assert one.layout.xaxis.range == two.layout.xaxis.range == fig.layout.xaxis.range
    assert one.layout.yaxis.range == two.layout.yaxis.range
    assert shared_ranges(hand_embedding(joint=False)) is None


def test_embedding_figure_shows_only_the_chosen_perturbations():
    fig = embedding_figure(hand_embedding(joint=False), variants=["c"], shown={"saturation"})
    assert [t.legendgroup for t in fig.data] == ["same_class", "saturation", "x"]
    # the title counts only the violations of what is shown
    assert fig.layout.annotations[0].text == "c: UMAP, 2 violations"
    one = embedding_figure(hand_embedding(joint=False), variants=["c"], shown={"brightness"})
    assert one.layout.annotations[0].text == "c: UMAP, 1 violation"


def test_embedding_png_one_row_per_embedding(tmp_path):
    one = Image.open(io.BytesIO(embedding_png([hand_embedding(joint=False)]))).size
    three = embedding_png(
        [hand_embedding(joint=True)] * 3, tmp_path / "e.png", variants=["standard", "c"], shown={"hue"}
    )
    assert (tmp_path / "e.png").read_bytes() == three
    w, h = Image.open(io.BytesIO(three)).size
    assert w == one[0] and h > 2.5 * one[1]  # same columns, three rows
