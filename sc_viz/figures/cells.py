"""One explanation cell: how a map is scaled and coloured over its image (each map on its
own, full colour at its 98th percentile of |value|: `SCALE_PERCENTILE`), its caption and
the method's legend. The screen, the exports and every page that overlays a map use it."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from PIL import Image

from sc_viz.explain import METHODS

SIGNED_CMAP, UNSIGNED_CMAP = "bwr", "inferno"
CELL_PX = 160  # a grid cell's side in pixels, on screen and in the exports
BLANK_GREY = 0.85  # an all-zero map's cell: the input washed out towards this grey


# ---------------------------------------------------------------- explanation grid: cells
@dataclass(frozen=True)
class MethodLegend:
    """What a method's colours mean, for the colour bar and the column tooltip."""

    title: str  # the plain name ("Integrated Gradients")
    help: str  # one line: what the map shows
    signed: bool
    ticks: tuple[str, str, str]  # the colour bar's left, middle and right labels
    meaning: str  # the colours in words


SCALE_PERCENTILE = 98.0  # full colour at this percentile of a map's |value| (captum's outlier_perc=2)
SCALE_NOTE = (
    f"Each map is scaled on its own: full colour = that map's {SCALE_PERCENTILE:g}th percentile "
    f"of |value| (its top {100 - SCALE_PERCENTILE:g}% clipped), so a few extreme pixels do not "
    "leave the rest dark."
)


def method_legend(method: str) -> MethodLegend:
    """The legend of a registered explanation method (its title, help and sign)."""

    spec = METHODS[method]
    title = spec.title or method
    if spec.signed:
        return MethodLegend(
            title,
            spec.help,
            True,
            ("against", "0", "for"),
            "red: for the class, blue: against it, white: no effect",
        )
    return MethodLegend(
        title, spec.help, False, ("none", "", "most"), "bright: most influence on the class, dark: none"
    )


def is_blank(heat: torch.Tensor) -> bool:
    """An all-zero map (e.g. Grad-CAM of a class the model finds no evidence for): there is
    nothing to show or measure. A map with NaN counts as blank too."""
    return not bool(heat.detach().abs().max() > 0) if heat.numel() else True


def full_colour_value(heat: torch.Tensor) -> float:
    """The |value| a map shows in full colour (see SCALE_NOTE): its SCALE_PERCENTILE-th
    percentile of |value|, or its largest |value| where that percentile is 0 (a map with
    fewer non-zero pixels than the clipped share); 0 for a blank map."""
    if is_blank(heat):
        return 0.0
    a = np.abs(heat.detach().float().cpu().numpy())
    top = float(np.percentile(a, SCALE_PERCENTILE))
    return top if top > 0 else float(a.max())


def scaled_map(heat: torch.Tensor, signed: bool) -> np.ndarray:
    """(H, W) -> (H, W) divided by the map's own `full_colour_value` and clipped: in
    [-1, 1] when signed, [0, 1] when not. All zero for a blank map."""
    h = heat.detach().float().cpu().numpy()
    if is_blank(heat):
        return np.zeros_like(h)
    h = h / full_colour_value(heat)
    return np.clip(h, -1.0, 1.0) if signed else np.clip(h, 0.0, 1.0)


@functools.lru_cache(maxsize=2)
def _colormap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def map_colours(scaled: np.ndarray, signed: bool) -> np.ndarray:
    """A scaled map (see `scaled_map`) -> (H, W, 3) float RGB in [0, 1]."""
    if signed:
        return _colormap(SIGNED_CMAP)((scaled + 1) / 2)[..., :3]
    return _colormap(UNSIGNED_CMAP)(scaled)[..., :3]


def _to_cell(rgb: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) float in [0, 1] -> (size, size, 3) uint8; small images enlarged with
    nearest neighbour so their pixels stay visible."""
    im = Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    if im.size != (size, size):
        im = im.resize((size, size), Image.NEAREST if im.width < size else Image.LANCZOS)
    return np.asarray(im)


def _input_rgb(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) -> (H, W, 3) float."""
    return image.detach().float().cpu().reshape(-1, *image.shape[-3:])[0].permute(1, 2, 0).numpy()


def cell_image(image: torch.Tensor, exp: Any, opacity: float, size: int = CELL_PX) -> np.ndarray:
    """The map of `exp` (an Explanation) over the image, as shown in the grid:
    (size, size, 3) uint8. A blank map gives the image washed out towards grey."""
    img = _input_rgb(image)  # (H, W, 3)
    if is_blank(exp.map):
        return _to_cell((img + BLANK_GREY) / 2, size)
    rgb = map_colours(scaled_map(exp.map, exp.signed), exp.signed)  # (H, W, 3)
    return _to_cell((1 - opacity) * img + opacity * rgb, size)


def input_cell(image: torch.Tensor, size: int = CELL_PX) -> np.ndarray:
    """The input image as the grid's first column shows it: (size, size, 3) uint8."""
    return _to_cell(_input_rgb(image), size)


def class_name(classes: Optional[Sequence[str]], index: int) -> str:
    return classes[index] if classes else str(index)


def cell_caption(exp: Any, classes: Optional[Sequence[str]] = None) -> list[str]:
    """The lines under a cell: the class explained, or that the map is all zero."""
    name = class_name(classes, exp.target)
    if is_blank(exp.map):
        return [f"no evidence for {name}", "(the map is all zero)"]
    return [f"target: {name}"]


def row_label(
    variant: str, predictions: Sequence[tuple[int, float]], classes: Optional[Sequence[str]] = None
) -> list[str]:
    """The lines under a row's input image: the variant, then its top predictions."""
    return [
        variant,
        *(
            f"{class_name(classes, c)} {p:.0%}" if p >= 0.005 else f"{class_name(classes, c)} <1%"
            for c, p in predictions
        ),
    ]


@dataclass
class GridCell:
    image: np.ndarray  # (S, S, 3) uint8, exactly as on screen and in the exports
    caption: list[str]  # lines under the cell
    blank: bool  # the map is all zero (its measures mean nothing)


def grid_cell(
    image: torch.Tensor,
    exp: Any,
    *,
    classes: Optional[Sequence[str]] = None,
    opacity: float = 0.5,
    size: int = CELL_PX,
) -> GridCell:
    """One cell of the grid (the page draws these as they arrive)."""
    return GridCell(cell_image(image, exp, opacity, size), cell_caption(exp, classes), is_blank(exp.map))


def dimmed(image: np.ndarray, amount: float = 0.5) -> np.ndarray:
    """A cell image faded towards white: an old map kept on screen while its replacement
    is computed (instead of blanking the cell)."""
    return (image.astype(np.float32) * (1 - amount) + 255 * amount + 0.5).astype(np.uint8)
