"""Grad-CAM on transformer layers: their outputs become an (N, C, h, w) grid first.

pytorch-grad-cam's `reshape_transform` for ViT drops the class token and lays the patch
tokens on the h x w patch grid (channels first); for Swin it permutes the channels-last
(N, h, w, C) blocks. captum's LayerGradCam has no such hook, so `grid_probe` hooks the
layer and routes its output through a small `GridView` module (grid form) and back: the
model computes exactly what it did, and captum, attached to the GridView, sees grid
activations and their gradients.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn

from sc_viz.hooks import hooked


class GridView(nn.Module):
    """Layer output -> (N, C, h, w); `layout` is "tokens" (N, T, C) or "nhwc" (N, h, w, C)."""

    def __init__(self, layout: str):
        super().__init__()
        if layout not in ("tokens", "nhwc"):
            raise ValueError(f"unknown Grad-CAM reshape {layout!r}; use 'tokens' or 'nhwc'")
        self.layout = layout

    def forward(self, out: torch.Tensor) -> torch.Tensor:
        if self.layout == "nhwc":
            if out.dim() != 4:
                raise ValueError(f"Grad-CAM reshape 'nhwc' needs (N, h, w, C), got {tuple(out.shape)}")
            return out.permute(0, 3, 1, 2)  # (N, C, h, w)
        if out.dim() != 3:
            raise ValueError(f"Grad-CAM reshape 'tokens' needs (N, T, C), got {tuple(out.shape)}")
        n, t, c = out.shape
        side = math.isqrt(t)  # the leading t - side**2 tokens are class/register tokens
        patches = out[:, t - side * side :]  # (N, h*w, C)
        return patches.transpose(1, 2).reshape(n, c, side, side)  # (N, C, h, w)


def _ungrid(grid: torch.Tensor, out: torch.Tensor, layout: str) -> torch.Tensor:
    """The inverse of GridView: `out` rebuilt from `grid` (+ its prefix tokens)."""
    if layout == "nhwc":
        return grid.permute(0, 2, 3, 1)  # (N, h, w, C)
    n, c = grid.shape[:2]
    prefix = out[:, : out.shape[1] - grid.shape[2] * grid.shape[3]]  # (N, T - h*w, C)
    return torch.cat([prefix, grid.reshape(n, c, -1).transpose(1, 2)], dim=1)  # (N, T, C)


@contextmanager
def grid_probe(layer: nn.Module, layout: str) -> Iterator[GridView]:
    """While open, `layer`'s output passes through the yielded GridView (attach Grad-CAM
    to it); the hook is removed on exit, also on error."""
    view = GridView(layout)

    def reroute(module, inputs, out):
        return _ungrid(view(out), out, layout)

    with hooked([(layer, "forward", reroute)]):
        yield view
