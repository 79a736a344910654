"""Architectures and their registry.

Every model takes float RGB in [0, 1], shape (N, 3, H, W), and returns logits (N, C):
the data set's normalisation is the first layer inside the model, so attack budgets,
attribution baselines and perturbations all live in pixel space.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import Registry


class Normalize(nn.Module):
    """(x - mean) / std per channel; buffers so they follow .to(device) and are saved."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) in [0, 1]
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """Normalize -> backbone. `gradcam_layer` names the last convolutional stage."""

    def __init__(self, net: nn.Module, mean, std, gradcam_layer: str):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net
        self.gradcam_layer = "net." + gradcam_layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))  # (N, C)


# ---- CIFAR ResNet-20 (He et al. 2016, Sec. 4.2): 3 stages x 3 basic blocks, 16/32/64 ch.
class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:  # projection shortcut ("option B")
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, blocks_per_stage: int = 3, num_classes: int = 10, width: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, c_in = [], width
        for i, c_out in enumerate([width, 2 * width, 4 * width]):
            blocks = []
            for b in range(blocks_per_stage):
                blocks.append(BasicBlock(c_in, c_out, 2 if (i > 0 and b == 0) else 1))
                c_in = c_out
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x):  # (N, 3, H, W) normalised
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))  # (N, 64, H/4, W/4)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class TinyCNN(nn.Module):
    """Two conv layers; for tests and smoke runs only (seconds per epoch on a CPU)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, 1, 1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
        )
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.features(x)  # (N, 16, H/2, W/2)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _resnet18_cifar(num_classes: int) -> nn.Module:
    # CIFAR variant: 3x3 stride-1 stem and no max-pool, so 32 px inputs keep resolution.
    import torchvision  # here, not at the top: it costs ~2 s of every CLI start

    net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    net.maxpool = nn.Identity()
    return net


@dataclass(frozen=True)
class ArchSpec:
    build: Callable[[int], nn.Module]
    gradcam_layer: str  # attribute path inside the backbone
    default_input_size: int
    description: str


ARCHS: Registry[ArchSpec] = Registry("architecture")
ARCHS.add("resnet20", ArchSpec(lambda n: CifarResNet(3, n), "layer3", 32,
                               "CIFAR ResNet-20, ~0.27M parameters, 32 px"))
ARCHS.add("resnet18", ArchSpec(_resnet18_cifar, "layer4", 32,
                               "ResNet-18, CIFAR variant (3x3 stem, no max-pool)"))


def _resnet50(num_classes: int) -> nn.Module:
    import torchvision

    return torchvision.models.resnet50(weights=None, num_classes=num_classes)


ARCHS.add("resnet50", ArchSpec(_resnet50,
                               "layer4", 224, "torchvision ResNet-50, 224 px (ImageNet)"))
ARCHS.add("tinycnn", ArchSpec(TinyCNN, "features", 32, "two-layer CNN for tests and smoke runs"))


def build_model(arch: str, num_classes: int, mean, std) -> Classifier:
    spec = ARCHS[arch]
    return Classifier(spec.build(num_classes), mean, std, spec.gradcam_layer)


def get_submodule(model: nn.Module, path: str) -> nn.Module:
    return model.get_submodule(path)
