"""Grad-CAM (Selvaraju et al. 2017) through captum's LayerGradCam: channel weights =
spatial mean of d logit_t / d A, map = ReLU(sum_c weight_c * A_c) at the layer's
resolution, upsampled bilinearly to the input (LayerAttribution.interpolate).

The layer defaults to the model's `gradcam_layer` (its last convolutional stage); for a
transformer (`gradcam_reshape` "tokens" or "nhwc") its tokens are laid on the patch grid
first, as pytorch-grad-cam's reshape_transform does (sc_viz/explain/gradcam_grid.py)."""

from __future__ import annotations

import torch
import torch.nn as nn
from captum.attr import LayerAttribution, LayerGradCam

from sc_viz.explain.base import METHODS, Method
from sc_viz.explain.gradcam_grid import grid_probe


def default_layer(model: nn.Module) -> str:
    name = getattr(model, "gradcam_layer", None)
    if not name:
        raise ValueError("the model names no gradcam_layer; pass layer='dotted.module.name'")
    return name


class GradCamMethod(Method):
    name = "gradcam"
    signed = False
    uses_hooks = True  # LayerGradCam hooks the layer's forward: exclusive model lock
    cost_rank = 1
    description = "Grad-CAM on the last convolutional stage (captum LayerGradCam)"
    title = "Grad-CAM"
    help = "Where the last convolutional layer finds evidence for the class (coarse, positive only)."
    relu_option = "relu"  # map = ReLU(weighted channel sum): relu=False gives the sum itself

    def attribute(
        self,
        model: nn.Module,
        x: torch.Tensor,
        target: int,
        *,
        layer: str | None = None,
        relu: bool = True,
        reshape: str | None = None,
    ) -> tuple[torch.Tensor, dict]:
        if layer is None:  # the model's own layer comes with its own reshape
            layer, reshape = default_layer(model), getattr(model, "gradcam_reshape", None)
        try:
            module = model.get_submodule(layer)
        except AttributeError:
            raise ValueError(f"the model has no layer {layer!r}") from None
        if reshape:
            with grid_probe(module, reshape) as grid:
                cam = LayerGradCam(model, grid).attribute(
                    x.clone().requires_grad_(), target=target, relu_attributions=relu
                )  # (1, 1, h, w)
        else:
            cam = LayerGradCam(model, module).attribute(
                x.clone().requires_grad_(), target=target, relu_attributions=relu
            )  # (1, 1, h, w)
        up = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")
        extras = {"layer": layer, "low_res": cam[0, 0].detach().float().cpu()}  # (h, w)
        return up[0, 0], extras  # (H, W)


METHODS.add("gradcam", GradCamMethod())
