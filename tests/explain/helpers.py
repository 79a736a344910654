"""Small models shared by the explanation tests."""

from __future__ import annotations

import torch
import torch.nn as nn

from sc_viz.models import build_model

ARCHS = ("tinycnn", "resnet20", "resnet18")
CIFAR_MEAN, CIFAR_STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def random_model(arch: str = "tinycnn", seed: int = 0, num_classes: int = 10) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(arch, num_classes, CIFAR_MEAN, CIFAR_STD).eval()


def random_image(h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed))  # (3, H, W)


class ChannelMeanModel(nn.Module):
    """logit_0 = mean of the red channel, logit_1 = 0. The 'last conv stage' is a 1x1
    conv copying the red channel, so Grad-CAM's answer is known in closed form."""

    gradcam_layer = "features"

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 1, 1, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) -> (N, 2)
        a = self.features(x).mean(dim=(1, 2, 3))  # (N,)
        return torch.stack([a, torch.zeros_like(a)], dim=1)


# Odd sizes per architecture; resnet18 (CIFAR stem, 0.5 GFLOP per 32 px image) gets one
# small size so the files stay fast on a 2-core CPU.
SIZES = {"tinycnn": [(17, 23), (32, 32)], "resnet20": [(19, 25), (32, 32)], "resnet18": [(13, 19)]}
