"""Architectures and their registry.

Every model takes float RGB in [0, 1], shape (N, 3, H, W), and returns logits (N, C):
the data set's normalisation is the first layer inside the model, so attack budgets,
attribution baselines and perturbations all live in pixel space.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from sc_viz.hooks import hooked
from sc_viz.registry import Registry, UnknownName


class Normalize(nn.Module):
    """(x - mean) / std per channel; buffers so they follow .to(device) and are saved."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) in [0, 1]
        return (x - self.mean) / self.std


# How a Grad-CAM layer's output becomes an (N, C, h, w) grid: None = it already is one;
# "tokens" = (N, T, C) ViT tokens, the leading class/register tokens dropped and the rest
# laid out on the square patch grid; "nhwc" = (N, h, w, C) channels-last (Swin).
GRADCAM_RESHAPES = (None, "tokens", "nhwc")


class Classifier(nn.Module):
    """Normalize -> backbone. `gradcam_layer` names the last convolutional stage (or, for
    transformers, the last block's norm, whose output `gradcam_reshape` turns into a grid)."""

    def __init__(self, net: nn.Module, mean, std, gradcam_layer: str, gradcam_reshape: Optional[str] = None):
        super().__init__()
        if gradcam_reshape not in GRADCAM_RESHAPES:
            raise ValueError(f"gradcam_reshape must be one of {GRADCAM_RESHAPES}, got {gradcam_reshape!r}")
        self.normalize = Normalize(mean, std)
        self.net = net
        self.gradcam_layer = "net." + gradcam_layer if gradcam_layer else ""
        self.gradcam_reshape = gradcam_reshape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)  # (N, 3, H, W)
        if x.device.type == "cpu" and x.dim() == 4:
            # oneDNN runs convolutions, batch norm and ReLU on channels-last tensors faster on
            # CPUs with AVX-512/AMX (benchmarks/channels_last.py, a 224-px ResNet-50: bf16
            # LIME batches 2.2x, IG's passes 1.2x in fp32, 1.6x in bf16); same function, same
            # outputs up to float rounding. Only the layout changes: the caller's x is untouched.
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)  # (N, C)


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
            nn.Conv2d(3, 8, 3, 1, 1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, 2, 1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
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
    build: Callable[..., nn.Module]  # (num_classes, **options) -> backbone
    gradcam_layer: str  # attribute path inside the backbone
    default_input_size: int
    description: str
    # For families: the backbone -> (Grad-CAM layer, reshape); overrides gradcam_layer.
    gradcam_for: Optional[Callable[[nn.Module], tuple[str, Optional[str]]]] = None
    size_option: Optional[str] = None  # constructor keyword for the input size, if it has one


@dataclass(frozen=True)
class ArchFamily:
    """Architectures named `<family>:<name>`, built by a library with no weights (weights
    come from the user's file), the head sized by the class count."""

    build: Callable[[str, int, dict], nn.Module]  # (name, num_classes, options) -> backbone
    names: Callable[[], list[str]]
    gradcam: Callable[[str, nn.Module], tuple[str, Optional[str]]]
    default_input_size: Callable[[str], int]
    size_option: str  # the constructor keyword that sets the input size (ViT, Swin)
    description: str


class ArchRegistry(Registry[ArchSpec]):
    """The project's own architectures by plain name, plus `<family>:<name>` resolved
    through `families` on demand (`names()` lists the plain ones: the trainer's choices)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.families: Registry[ArchFamily] = Registry("architecture family")

    def __getitem__(self, name: str) -> ArchSpec:
        if not isinstance(name, str) or ":" not in name:
            return super().__getitem__(name)
        family_name, _, model_name = name.partition(":")
        family = self.families[family_name]
        try:
            known = family.names()
        except ImportError:
            raise UnknownName(
                f"architecture {name!r} needs the {family_name} package (pip install {family_name})"
            ) from None
        if model_name not in known:
            raise UnknownName(
                f"unknown {family_name} architecture {model_name!r}; "
                f"`sc-viz import --list-archs {family_name}` lists them"
            )
        return ArchSpec(
            partial(_build_family, family, model_name),
            "",
            family.default_input_size(model_name),
            f"{family_name} {model_name} (no weights: they come from the user's file)",
            gradcam_for=partial(family.gradcam, model_name),
            size_option=family.size_option,
        )

    def __contains__(self, name: object) -> bool:
        try:
            self[name]
        except (UnknownName, ImportError, TypeError):  # TypeError: an unhashable name
            return False
        return True


def _build_family(family: ArchFamily, name: str, num_classes: int, **options) -> nn.Module:
    return family.build(name, num_classes, options)


ARCHS: ArchRegistry = ArchRegistry("architecture")
ARCHS.add(
    "resnet20",
    ArchSpec(lambda n: CifarResNet(3, n), "layer3", 32, "CIFAR ResNet-20, ~0.27M parameters, 32 px"),
)
ARCHS.add(
    "resnet18", ArchSpec(_resnet18_cifar, "layer4", 32, "ResNet-18, CIFAR variant (3x3 stem, no max-pool)")
)


def _resnet50(num_classes: int) -> nn.Module:
    import torchvision

    return torchvision.models.resnet50(weights=None, num_classes=num_classes)


ARCHS.add("resnet50", ArchSpec(_resnet50, "layer4", 224, "torchvision ResNet-50, 224 px (ImageNet)"))
ARCHS.add("tinycnn", ArchSpec(TinyCNN, "features", 32, "two-layer CNN for tests and smoke runs"))


# ---- Grad-CAM layer of a library model
@contextmanager
def _output_shapes(net: nn.Module) -> Iterator[list[tuple[str, tuple]]]:
    """Records (module name, output shape) in the order modules finish their forward; the
    hooks go away on exit, also on error."""
    seen: list[tuple[str, tuple]] = []

    def record(name, module, inputs, output):
        if isinstance(output, torch.Tensor):
            seen.append((name, tuple(output.shape)))

    with hooked((m, "forward", partial(record, name)) for name, m in net.named_modules() if name):
        yield seen


def detect_gradcam_layer(net: nn.Module, input_size: int) -> str:
    """The module that finishes last with an (N, C, h, w) output of h, w >= 2: a CNN's
    last convolutional stage (its container, as containers finish after their children)."""
    was_training = net.training
    net.eval()
    try:
        with _output_shapes(net) as seen, torch.no_grad():
            net(torch.zeros(1, 3, input_size, input_size, device=next(net.parameters()).device))
    finally:
        net.train(was_training)
    grids = [name for name, shape in seen if len(shape) == 4 and shape[2] >= 2 and shape[3] >= 2]
    if not grids:
        raise ValueError("found no layer with a spatial (N, C, h, w) output; name one with --gradcam-layer")
    return grids[-1]


def _torchvision_gradcam(name: str, net: nn.Module) -> tuple[str, Optional[str]]:
    if name.startswith("vit_"):  # the last block's first norm: its patch tokens still matter
        last = list(net.encoder.layers.named_children())[-1][0]
        return f"encoder.layers.{last}.ln_1", "tokens"
    if name.startswith("swin_"):  # features[-1] is the last stage; its blocks are (N, h, w, C)
        return f"features.{len(net.features) - 1}.{len(net.features[-1]) - 1}.norm1", "nhwc"
    if hasattr(net, "layer4"):  # resnet, wide_resnet, resnext
        return "layer4", None
    if hasattr(net, "trunk_output"):  # regnet
        return "trunk_output", None
    if isinstance(getattr(net, "features", None), nn.Module):  # vgg, mobilenet, efficientnet, convnext
        return "features", None
    return detect_gradcam_layer(net, _torchvision_input_size(name)), None


def _torchvision_names() -> list[str]:
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def _torchvision_build(name: str, num_classes: int, options: dict) -> nn.Module:
    import torchvision

    return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **options)


def _torchvision_input_size(name: str) -> int:
    import torchvision

    return int(torchvision.models.get_model_weights(name).DEFAULT.transforms().crop_size[0])


def _timm_gradcam(name: str, net: nn.Module) -> tuple[str, Optional[str]]:
    blocks = getattr(net, "blocks", None)
    if hasattr(net, "num_prefix_tokens") and isinstance(blocks, nn.Sequential):  # ViT, DeiT, BEiT, EVA
        return f"blocks.{len(blocks) - 1}.norm1", "tokens"
    layers = getattr(net, "layers", None)
    if name.startswith("swin") and isinstance(layers, nn.Sequential):  # timm's Swin blocks are (N, h, w, C)
        return f"layers.{len(layers) - 1}.blocks.{len(layers[-1].blocks) - 1}.norm1", "nhwc"
    if hasattr(net, "layer4"):
        return "layer4", None
    return detect_gradcam_layer(net, _timm_input_size(name)), None


def _timm_names() -> list[str]:
    import timm

    return timm.list_models()


def _timm_build(name: str, num_classes: int, options: dict) -> nn.Module:
    import timm

    return timm.create_model(name, pretrained=False, num_classes=num_classes, **options)


def _timm_input_size(name: str) -> int:
    import timm

    cfg = timm.get_pretrained_cfg(name)
    return int(cfg.input_size[-1]) if cfg else 224


ARCHS.families.add(
    "torchvision",
    ArchFamily(
        _torchvision_build,
        _torchvision_names,
        _torchvision_gradcam,
        _torchvision_input_size,
        "image_size",
        "torchvision classification models (resnet50, vit_b_16, swin_t, convnext_tiny, ...)",
    ),
)
ARCHS.families.add(
    "timm",
    ArchFamily(
        _timm_build,
        _timm_names,
        _timm_gradcam,
        _timm_input_size,
        "img_size",
        "timm models (vit_small_patch16_224, convnext_tiny, ...); needs `pip install timm`",
    ),
)


def build_model(
    arch: str,
    num_classes: int,
    mean,
    std,
    *,
    options: Optional[dict] = None,
    gradcam_layer: Optional[str] = None,
    gradcam_reshape: Optional[str] = None,
) -> Classifier:
    """`options`: constructor keywords of a library architecture (e.g. image_size for a
    torchvision ViT at 64 px). `gradcam_layer` (inside the backbone) and `gradcam_reshape`
    override the architecture's own Grad-CAM layer (packs record them in the manifest)."""
    spec = ARCHS[arch]
    if options and spec.gradcam_for is None:
        raise ValueError(f"architecture {arch!r} takes no options, got {sorted(options)}")
    net = spec.build(num_classes, **(options or {}))
    if not gradcam_layer:
        gradcam_layer, gradcam_reshape = (
            spec.gradcam_for(net) if spec.gradcam_for else (spec.gradcam_layer, None)
        )
    return Classifier(net, mean, std, gradcam_layer, gradcam_reshape)
