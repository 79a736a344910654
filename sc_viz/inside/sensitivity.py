"""Neuron sensitivity (docs/related_methods.md#neuron-sensitivity): how far each channel of
a layer moves between a benign input x and its adversarial x'.

`sigma_l[m] = mean_i mean_{h,w} |F_l(x_i)[m, h, w] - F_l(x'_i)[m, h, w]|`

A neuron of a conv layer is one channel. The layers are the stem convolution and the
output of every residual block (`sensitivity_layers`); any named modules may be passed.
Features are recorded with forward hooks inside `recorded_features`, which removes its
hooks on exit, also when the forward pass raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Optional

import torch
import torch.nn as nn

from sc_viz.hooks import hooked

# Class names of residual blocks: ours (sc_viz.models.BasicBlock) and torchvision's.
RESIDUAL_BLOCKS = ("BasicBlock", "Bottleneck")


def sensitivity_layers(model: nn.Module) -> list[str]:
    """Names of the layers whose channels count as neurons: the first convolution (the
    stem) and every residual block's output. A model without residual blocks (TinyCNN)
    gets every convolution."""
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("the model has no convolution to take neurons from")
    blocks = [n for n, m in model.named_modules() if type(m).__name__ in RESIDUAL_BLOCKS]
    return [convs[0], *blocks] if blocks else convs


@contextlib.contextmanager
def recorded_features(model: nn.Module, layers: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, every forward pass of `model` stores each named layer's output
    (graph kept) in the yielded dict, name -> (N, C, H, W); a later pass replaces it. The
    hooks are removed on exit, also on error."""
    features: dict[str, torch.Tensor] = {}

    def keep(name):
        def hook(_module, _inputs, output):
            features[name] = output

        return hook

    with hooked((model.get_submodule(name), "forward", keep(name)) for name in layers):
        yield features


def channel_sensitivity(benign: torch.Tensor, adversarial: torch.Tensor) -> torch.Tensor:
    """sigma per channel: (N, C, H, W) x 2 -> (C,), the mean over the pairs and the
    positions of |F(x) - F(x')|. (N, C) features (a linear layer) average over N only."""
    diff = (benign.float() - adversarial.float()).abs()
    dims = [0, *range(2, diff.dim())]
    return diff.mean(dim=dims)


def top_fraction_mean(sigma: torch.Tensor, fraction: float) -> torch.Tensor:
    """Mean of the top `fraction` of the channels by sigma (at least one): (C,) -> scalar.
    The selection is detached; the gradient flows through the selected values."""
    k = max(1, int(round(fraction * sigma.numel())))
    top = torch.topk(sigma.detach(), k).indices
    return sigma[top].mean()


def layer_sensitivity(
    model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, layers: Optional[Sequence[str]] = None
) -> dict[str, torch.Tensor]:
    """sigma_l for each layer over the pairs (x, x_adv), both (N, 3, H, W): name -> (C,).
    Runs the model as it is set (call .eval() first for a deployed model), without grad."""
    layers = list(layers) if layers is not None else sensitivity_layers(model)
    with torch.no_grad(), recorded_features(model, layers) as features:
        model(x)
        clean = dict(features)
        model(x_adv)
        return {name: channel_sensitivity(clean[name], features[name]) for name in layers}
