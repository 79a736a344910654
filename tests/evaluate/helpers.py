"""Hand-built models whose outputs are known in closed form, and packs/splits around them."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from sc_viz.data import Split
from sc_viz.evaluate.common import EvalContext
from sc_viz.packs import Pack

CLASSES = [f"class{i}" for i in range(10)]
STEP = 20  # label k is drawn as red value 20 k / 255


class MeanColour(nn.Module):
    """logits = W @ mean_rgb(x) + b."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__()
        self.weight = nn.Parameter(weight.float())  # (C, 3)
        self.bias = nn.Parameter(bias.float() if bias is not None else torch.zeros(len(weight)))

    def forward(self, x):  # (N, 3, H, W) -> (N, C)
        return x.mean(dim=(2, 3)) @ self.weight.T + self.bias


class LabelReader(nn.Module):
    """Reads the label off the mean red value: logit_c = -(255 mean_R / STEP - c)^2, so an
    image whose red is STEP * k / 255 is classified k; robust to |red shift| < STEP/2/255."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(255.0 / STEP))

    def forward(self, x):
        r = x[:, 0].mean(dim=(1, 2)) * self.scale  # (N,)
        return -((r[:, None] - torch.arange(10, dtype=x.dtype, device=x.device)) ** 2)  # (N, 10)


class AlwaysZero(nn.Module):
    """Predicts class 0 whatever the input (the input still enters the graph, with a zero
    gradient, so PGD runs and cannot move it)."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([1.0] + [0.0] * 9))

    def forward(self, x):
        return self.bias + 0.0 * x.sum(dim=(1, 2, 3))[:, None]


def label_images(labels: torch.Tensor, side: int = 32, seed: int = 0) -> Split:
    """Images whose red channel is STEP*label (constant), green/blue random in [0, 127]."""
    g = torch.Generator().manual_seed(seed)
    n = len(labels)
    img = torch.randint(0, 128, (n, 3, side, side), generator=g, dtype=torch.uint8)
    img[:, 0] = (labels * STEP).to(torch.uint8)[:, None, None]
    return Split(labels.long(), CLASSES, images=img)


def hand_pack(models: dict, path: Path = Path("/tmp/hand"), configs: dict | None = None) -> Pack:
    manifest = {
        "dataset": "cifar10",
        "arch": "tinycnn",
        "classes": CLASSES,
        "input_size": 32,
        "mean": [0.5] * 3,
        "std": [0.25] * 3,
        "variants": {v: {"file": f"{v}.safetensors", "config": (configs or {}).get(v, {})} for v in models},
    }
    return Pack(path, manifest, models={v: m.eval() for v, m in models.items()}, device=torch.device("cpu"))


def context(models: dict, split: Split, **kw) -> EvalContext:
    configs = kw.pop("configs", None)
    return EvalContext(hand_pack(models, configs=configs), split, progress=False, **kw)


class PixelLinear(nn.Module):
    """logits = <x, W_c> over all pixels: the input gradient is W_c whatever the image, so a
    gradient map cannot move under any perturbation."""

    def __init__(self, side: int = 32, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(10, 3, side, side, generator=g))  # (C, 3, H, W)

    def forward(self, x):  # (N, 3, H, W) -> (N, C)
        return torch.einsum("nchw,kchw->nk", x, self.weight)
