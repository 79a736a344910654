import io
import zipfile

import pytest
import torch
from PIL import Image

from sc_viz import export, load_pack
from sc_viz import saliency_view as sv
from sc_viz.explain import explain_grid
from sc_viz.explain.settings import ExplainSettings


@pytest.fixture(scope="module")
def pack(tiny_pack):
    return load_pack(tiny_pack, device="cpu")


def settings_for(pack, **kw):
    args = dict(image_index=7, image_file="image.png", variants=["standard", "c"],
                methods=["saliency", "lime"], target_mode=sv.TARGET_PREDICTED, target_class=None,
                ig_steps=8, lime_samples=100, opacity=0.4)
    args.update(kw)
    return sv.page_settings(str(pack.path), **args)


def test_settings_round_trip_and_upload_name(pack):
    s = settings_for(pack)
    assert ExplainSettings.from_json(s.to_json()) == s
    assert s.image == {"dataset_split": "test", "index": 7}
    up = settings_for(pack, image_index=None, target_mode=sv.TARGET_CLASS, target_class=4)
    assert up.image == "image.png" and up.target_class == 4


def test_method_cells_equal_the_full_grid(pack):
    """The page computes one method at a time (to draw progressively and cache per method);
    the cells must be those of explain_grid, which `sc-viz explain --settings` runs."""
    x = torch.rand(1, 3, 32, 32)
    s = settings_for(pack)
    models = {v: pack.models[v] for v in s.variants}
    grid = explain_grid(models, x, methods=s.methods, target=None, options=s.method_options())
    for m in s.methods:
        cells = sv.method_cells(models, x, m, s, label=None)
        for v in s.variants:
            assert torch.allclose(cells[v].map, grid.cells[(v, m)].map, atol=1e-6)
            assert cells[v].target == grid.targets[v]


def test_overlay_grid_png_and_bundle(pack):
    x = torch.rand(1, 3, 32, 32)
    s = settings_for(pack, methods=["saliency", "gradcam"])
    models = {v: pack.models[v] for v in s.variants}
    cells = {(v, m): e for m in s.methods for v, e in sv.method_cells(models, x, m, s, None).items()}
    assert sv.overlay(x, cells[("c", "saliency")], 0.5).size == (160, 160)
    grid = sv.as_grid(cells, s.variants, s.methods, {v: [(3, 0.5)] for v in s.variants})
    assert grid.methods == s.methods and grid.targets["c"] == cells[("c", "saliency")].target
    png = sv.grid_png(x, grid, [f"k{i}" for i in range(10)], s.opacity)
    assert Image.open(io.BytesIO(png)).format == "PNG"
    html = export.figure_html(sv.grid_figure(x, grid, [f"k{i}" for i in range(10)], s.opacity))
    data = export.bundle_zip({"grid.png": png, "grid.html": html, "README.txt": sv.BUNDLE_README},
                             s.to_json())
    z = zipfile.ZipFile(io.BytesIO(data))
    assert ExplainSettings.from_json(z.read("settings.json").decode()) == s
    assert b"plotly" in z.read("grid.html")


def test_measure_rows():
    rows = sv.measure_rows({("c", "ig"): {"gini": 0.5, "curve": [1, 2]}})
    assert rows == [{"variant": "c", "method": "ig", "gini": 0.5}]
