"""Vanilla gradient saliency (Simonyan et al. 2014) through captum's `Saliency`:
map = max over colour channels of |d logit_target / d x|."""

from __future__ import annotations

import torch
import torch.nn as nn
from captum.attr import Saliency

from sc_viz.explain.base import METHODS, Method


class SaliencyMethod(Method):
    name = "saliency"
    signed = False
    cost_rank = 0
    description = "vanilla gradient |d logit / d x|, max over channels (one backward pass)"
    title = "Saliency (gradient)"
    help = "How strongly a small change of each pixel would move the class score (|gradient|)."

    def attribute(self, model: nn.Module, x: torch.Tensor, target: int) -> tuple[torch.Tensor, dict]:
        xg = x.clone().requires_grad_()
        grads = Saliency(model).attribute(xg, target=target, abs=True)  # (1, 3, H, W)
        return grads[0].amax(dim=0), {}  # (H, W)


METHODS.add("saliency", SaliencyMethod())
