import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from sc_viz import load_pack
from sc_viz.app import export, maps
from sc_viz.app import saliency_view as sv
from sc_viz.deck import slide_units
from sc_viz.explain import Explanation, explain_grid
from sc_viz.explain.grid import explain_unit
from sc_viz.explain.settings import ExplainSettings, grid_target
from sc_viz.figures import to_html


@pytest.fixture(scope="module")
def pack(tiny_pack):
    return load_pack(tiny_pack, device="cpu")


def settings_for(pack, **kw):
    args = dict(
        image_index=7,
        image_file="image.png",
        variants=["standard", "c"],
        methods=["saliency", "lime"],
        target_mode=sv.TARGET_PREDICTED,
        target_class=None,
        budgets={"ig": 8, "lime": 100},
        opacity=0.4,
    )
    args.update(kw)
    return sv.page_settings(str(pack.path), **args)


def test_settings_round_trip_and_upload_name(pack):
    s = settings_for(pack)
    assert ExplainSettings.from_json(s.to_json()) == s
    assert s.image == {"dataset_split": "test", "index": 7}
    up = settings_for(pack, image_index=None, target_mode=sv.TARGET_CLASS, target_class=4)
    assert up.image == "image.png" and up.target_class == 4


def method_cells(pack, x, method, settings, label) -> dict:
    """One method's cells unit by unit, as the page and a deck build compute them
    (`slide_units`: one variant at a time; LIME's variants together)."""
    target, options = grid_target(settings, label), settings.method_options().get(method, {})
    out = {}
    for u in slide_units(pack, x, settings, label, keyed=False):
        if u.method == method:
            out.update(explain_unit({v: pack.models[v] for v in u.variants}, x, method, target, options))
    return out


def test_unit_by_unit_cells_equal_the_full_grid(pack):
    """The page computes one unit at a time (to draw progressively and cache per unit);
    the cells must be those of explain_grid, which `sc-viz explain --settings` runs."""
    x = torch.rand(1, 3, 32, 32)
    s = settings_for(pack)
    models = {v: pack.models[v] for v in s.variants}
    grid = explain_grid(models, x, methods=s.methods, target=None, options=s.method_options())
    for m in s.methods:
        cells = method_cells(pack, x, m, s, label=None)
        for v in s.variants:
            assert torch.allclose(cells[v].map, grid.cells[(v, m)].map, atol=1e-6)
            assert cells[v].target == grid.targets[v]


def test_screen_cells_equal_the_export(pack):
    """The page shows `sv.cell(...).image` per cell; the bundle's PNG must hold exactly those
    pixels, in the page's layout (variants x methods) and the user's method order."""
    from sc_viz.figures import grid_layout, image_from_data_uri

    x = torch.rand(1, 3, 32, 32)
    classes = [f"k{i}" for i in range(10)]
    s = settings_for(pack, methods=["gradcam", "saliency"])  # chosen order, not cost order
    cells = {(v, m): e for m in s.methods for v, e in method_cells(pack, x, m, s, None).items()}
    screen = {key: sv.cell(x, exp, classes, s.opacity) for key, exp in cells.items()}
    assert maps.overlay(x, cells[("c", "saliency")], 0.5).size == (160, 160)
    grid = sv.as_grid(cells, s.variants, s.methods, {v: [(3, 0.5)] for v in s.variants})
    assert grid.methods == ["gradcam", "saliency"] and grid.targets["c"] == cells[("c", "saliency")].target
    png = sv.grid_png(x, grid, classes, s.opacity)
    lay = grid_layout(grid)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    for r, v in enumerate(s.variants):
        for c, m in enumerate(s.methods, start=1):
            left, top = lay.left(c), lay.top(r)
            np.testing.assert_array_equal(
                pixels[top : top + lay.size, left : left + lay.size], screen[(v, m)].image
            )
    fig = sv.grid_figure(x, grid, classes, s.opacity)
    shown = [image_from_data_uri(t.source) for t in fig.data if t.type == "image"]
    for (v, m), c in screen.items():
        assert any(np.array_equal(c.image, z) for z in shown), (v, m)
    html = to_html(fig)
    data = export.bundle_zip(
        {"grid.png": png, "grid.html": html, "README.txt": sv.BUNDLE_README}, s.to_json()
    )
    z = zipfile.ZipFile(io.BytesIO(data))
    assert ExplainSettings.from_json(z.read("settings.json").decode()) == s
    assert b"plotly" in z.read("grid.html") and z.read("grid.png") == png


def test_measure_rows_readable_and_blank_maps():
    rows = sv.measure_rows({("c", "ig"): {"gini": 0.5, "total_variation": 0.2, "curve": [1, 2]}})
    assert rows == [
        {
            "Variant": "c",
            "Method": "Integrated Gradients",
            "Gini (higher = sparser)": 0.5,
            "Total variation (lower = smoother)": 0.2,
        }
    ]
    zero = Explanation("gradcam", 3, torch.zeros(4, 4))
    some = Explanation("gradcam", 3, torch.ones(4, 4))
    measures = {("c", "gradcam"): {"gini": 0.0}, ("adv", "gradcam"): {"gini": 0.3}}
    rows = sv.measure_rows(measures, {("c", "gradcam"): zero, ("adv", "gradcam"): some})
    assert rows[0]["Gini (higher = sparser)"] is None and "all-zero" in rows[0]["Note"]
    assert rows[1]["Gini (higher = sparser)"] == 0.3 and rows[1]["Note"] == ""
    assert all(
        name in sv.MEASURE_COLUMNS
        for name in ("total_variation", "gini", "centre_share", "deletion_auc", "insertion_auc")
    )


def test_headers_keep_the_chosen_order_and_explain_the_colours():
    headers = sv.column_headers(["lime", "gradcam"])
    assert [title for title, _ in headers] == ["LIME", "Grad-CAM"]
    assert "red" in headers[0][1] and "bright" in headers[1][1] and "scaled on its own" in headers[1][1]


def test_a_method_without_cells_keeps_its_column():
    exp = Explanation("ig", 2, torch.ones(4, 4), signed=True)
    grid = sv.as_grid({("c", "ig"): exp}, ["c"], ["lime", "ig"], {"c": [(5, 0.9)]})
    assert grid.methods == ["lime", "ig"] and grid.targets == {"c": 2}
    png = Image.open(io.BytesIO(sv.grid_png(torch.rand(3, 4, 4), grid, [str(i) for i in range(10)], 0.5)))
    from sc_viz.figures import grid_layout

    lay = grid_layout(grid)
    top, left = lay.top(0), lay.left(1)
    lime_cell = np.asarray(png.convert("RGB"))[top : top + lay.size, left : left + lay.size]
    assert (lime_cell == 240).all()  # the "not computed" box, in LIME's column
    old = sv.cell(torch.rand(3, 4, 4), exp, [str(i) for i in range(10)], 0.5).image
    faded = sv.dimmed(old)
    assert faded.shape == old.shape and (faded >= old).all() and faded.min() >= 127
