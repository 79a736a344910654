"""What the Saliency page needs beyond the explanation engine: the page's settings as an
ExplainSettings (so the export bundle regenerates the same grid with `sc-viz explain
--settings`), one method's cells for the chosen variants (the unit the page caches and
draws progressively), map overlays as images, and the measures as rows."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import matplotlib
import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from .explain import Explanation, iter_grid
from .explain.grid import Grid
from .explain.settings import ExplainSettings, grid_target

DEFAULT_METHODS = ("ig", "gradcam", "lime")
BUNDLE_README = """sc-viz export bundle
grid.png       the variants x methods grid as shown in the app
grid.html      the same grid, interactive (hover for map values); opens offline
measures.csv   the per-map measures (when computed)
settings.json  every setting and seed of the grid

Regenerate the grid without the app (run inside this folder; the pack path in
settings.json must exist on this machine):
    sc-viz explain --settings settings.json --out grid.png
"""
TARGET_LABEL, TARGET_PREDICTED, TARGET_CLASS = "label", "predicted", "class"


def page_settings(pack: str, *, image_index: Optional[int], image_file: str, variants: Sequence[str],
                  methods: Sequence[str], target_mode: str, target_class: Optional[int],
                  ig_steps: int, lime_samples: int, opacity: float, seed: int = 0
                  ) -> ExplainSettings:
    """The settings of the page's grid. A gallery image is named by its test index; an
    upload by `image_file`, the name it gets in the export bundle."""
    image = ({"dataset_split": "test", "index": int(image_index)} if image_index is not None
             else image_file)
    return ExplainSettings(pack=pack, image=image, variants=list(variants), methods=list(methods),
                           target_mode=target_mode,
                           target_class=target_class if target_mode == TARGET_CLASS else None,
                           ig_steps=ig_steps, lime_samples=lime_samples, seed=seed, opacity=opacity)


def method_cells(models: Mapping[str, nn.Module], x: torch.Tensor, method: str,
                 settings: ExplainSettings, label: Optional[int]) -> dict[str, Explanation]:
    """One method for every chosen variant, exactly as `explain_grid` computes it (LIME
    shares one sample set across variants)."""
    opts = settings.method_options()
    return {v: exp for v, _, exp in iter_grid(dict(models), x, methods=[method],
                                              target=grid_target(settings, label),
                                              options={method: opts.get(method, {})})}


def overlay(x: torch.Tensor, exp: Explanation, opacity: float, size: int = 160) -> Image.Image:
    """The map over the image: unsigned maps in 'inferno' scaled to their max; signed maps
    (IG, LIME) in a blue-white-red scale symmetric about zero, so the sign stays readable."""
    img = x.detach().float().cpu().reshape(-1, *x.shape[-3:])[0].permute(1, 2, 0).numpy()  # (H, W, 3)
    heat = exp.map.detach().float().cpu().numpy()
    if exp.signed:
        top = float(np.abs(heat).max()) or 1.0
        rgb = matplotlib.colormaps["bwr"]((heat / top + 1) / 2)[..., :3]
    else:
        lo, hi = float(heat.min()), float(heat.max())
        rgb = matplotlib.colormaps["inferno"]((heat - lo) / ((hi - lo) or 1.0))[..., :3]
    out = (1 - opacity) * img + opacity * rgb
    im = Image.fromarray((np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    return im.resize((size, size), Image.NEAREST) if im.width < size else im


def enlarged(im: Image.Image, size: int) -> Image.Image:
    """Small images (32-px CIFAR) enlarged with nearest neighbour: pixels stay visible."""
    return im.resize((size, size), Image.NEAREST) if im.width < size else im


def prediction_text(predictions: Sequence[tuple[int, float]], classes: Sequence[str]) -> str:
    return " · ".join(f"{classes[c]} {p:.0%}" for c, p in predictions)


def measure_rows(measures: Mapping[tuple[str, str], Mapping]) -> list[dict]:
    """{(variant, method): {measure: value}} -> rows for a table / CSV."""
    return [{"variant": v, "method": m, **{k: val for k, val in d.items()
                                           if isinstance(val, (int, float, str, bool))}}
            for (v, m), d in measures.items()]


def as_grid(cells: Mapping[tuple[str, str], Explanation], variants: Sequence[str],
            methods: Sequence[str], predictions: Mapping[str, list]) -> Grid:
    """The page's cells (filled method by method) as the engine's Grid, so the static PNG
    and the interactive HTML come from the one renderer in sc_viz.figures."""
    done = [m for m in methods if any((v, m) in cells for v in variants)]
    targets = {v: next((cells[(v, m)].target for m in done if (v, m) in cells),
                       predictions[v][0][0]) for v in variants}
    return Grid(list(variants), done, targets, {v: predictions[v] for v in variants}, dict(cells))


def grid_png(x: torch.Tensor, grid: Grid, classes: Sequence[str], opacity: float) -> bytes:
    """A static PNG of the grid at presentation resolution (for slides)."""
    from .figures import grid_png as render

    return render(grid, x.reshape(-1, *x.shape[-3:])[0], classes=classes, opacity=opacity)


def grid_figure(x: torch.Tensor, grid: Grid, classes: Sequence[str], opacity: float):
    """The grid as an interactive plotly figure (hover shows map values), for the bundle."""
    from .figures import grid_figure as render

    return render(grid, x.reshape(-1, *x.shape[-3:])[0], classes=classes, opacity=opacity)


def clean_and_adversarial(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, method: str,
                          options: Optional[dict] = None) -> tuple[Explanation, Explanation]:
    """The map of each image for the class the model predicts on it (so the adversarial map
    shows what the attacked model now looks at)."""
    from .explain import explain, predict_top

    out = []
    for img in (x, x_adv):
        target = predict_top({"m": model}, img, k=1)["m"][0][0]
        out.append(explain(model, img, method=method, target=target, **(options or {})))
    return out[0], out[1]
