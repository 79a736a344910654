"""What every page draws a map with: a map over its image as the grid cells show it, a
class as the pickers list it, and the map pair of an image and its adversarial version
(the Robustness page's). The Saliency page's own helpers are in saliency_view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torch
import torch.nn as nn
from PIL import Image

from sc_viz.explain import Explanation, explain, predict_top
from sc_viz.figures import CELL_PX, cell_image


def overlay(x: torch.Tensor, exp: Explanation, opacity: float, size: int = CELL_PX) -> Image.Image:
    """The map over the image, exactly as a grid cell shows it (`sc_viz.figures.cell_image`:
    each map scaled on its own; signed maps blue-white-red about zero, magnitude maps
    'inferno' from zero; an all-zero map leaves the image washed out)."""
    return Image.fromarray(cell_image(x, exp, opacity, size), "RGB")


def class_label(classes: Sequence[str], index: int) -> str:
    """A class as a picker lists it: its name, with its index where another class has the
    same name (ImageNet has two 'crane's and two 'maillot's)."""
    if not 0 <= index < len(classes):
        return str(index)
    name = classes[index]
    return f"{name} (#{index})" if classes.count(name) > 1 else name


def clean_and_adversarial(
    model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, method: str, options: Optional[dict] = None
) -> tuple[Explanation, Explanation]:
    """The map of each image for the class the model predicts on it (so the adversarial map
    shows what the attacked model now looks at)."""
    out = []
    for img in (x, x_adv):
        target = predict_top({"m": model}, img, k=1)["m"][0][0]
        out.append(explain(model, img, method=method, target=target, **(options or {})))
    return out[0], out[1]
