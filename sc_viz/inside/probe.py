"""Neuron sensitivity at evaluation time (docs/related_methods.md, "Neuron sensitivity"): for a model
and a set of images, PGD once per image, then one forward pass of the pair (x, x') whose
forward hooks reduce each chosen layer's output to per-image, per-channel distances

    d_l[i, m] = mean_{h,w} |F_l(x_i)[m, h, w] - F_l(x'_i)[m, h, w]|,   sigma_l = mean_i d_l[i]

Memory stays bounded: images go through in batches, each hook reduces its layer's
(2B, C, H, W) output to (B, C) at once, and no feature map outlives its hook call. The
training objective's version (graph kept, whole maps) is `sc_viz.inside.sensitivity`.

Every model pass runs inside `using_model(model, exclusive=True)`: the hooks would record
another thread's passes too. PGD runs before the hooks are registered, so its passes are
not recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn as nn

from sc_viz.attacks import PGDConfig, pgd
from sc_viz.hooks import hooked
from sc_viz.inside.sensitivity import recorded_features, sensitivity_layers
from sc_viz.model_run import model_device, using_model

TOP_FRACTION = 0.1  # "top-10% sensitivity": the mean of a layer's most sensitive 10% channels


def top_mean(values: torch.Tensor, fraction: float = TOP_FRACTION) -> float:
    """Mean of the largest `fraction` of `values` (C,) (at least one value)."""
    k = max(1, int(round(fraction * values.numel())))
    return float(torch.topk(values.float(), k).values.mean())


@dataclass
class _PairDistances:
    """What the hooks of one batch leave behind: layer -> (B, C) distances and (B, C)
    mean |F(x)| (the channel's scale, for the relative sensitivity)."""

    distance: dict[str, torch.Tensor] = field(default_factory=dict)
    scale: dict[str, torch.Tensor] = field(default_factory=dict)


def _per_channel(t: torch.Tensor) -> torch.Tensor:
    """(B, C, ...) -> (B, C): the mean over every position after the channel dim."""
    return t.flatten(2).mean(dim=2) if t.dim() > 2 else t


@contextlib.contextmanager
def pair_distance_hooks(model: nn.Module, layers: Sequence[str]) -> Iterator[_PairDistances]:
    """Within the block, a forward pass of the stacked batch [x; x'] (2B, ...) leaves in the
    yielded record each layer's (B, C) distances mean_{h,w} |F(x) - F(x')| and scales
    mean_{h,w} |F(x)|. Hooks are removed on exit, also on error. A module that runs twice
    in one pass (e.g. torchvision's shared ReLU) is refused: its output is ambiguous."""
    record = _PairDistances()

    def reduce(name):
        def hook(_module, _inputs, output):
            if name in record.distance:
                raise ValueError(
                    f"layer {name!r} runs more than once per forward pass; "
                    "choose a module that runs once (e.g. a block or a conv)"
                )
            if not isinstance(output, torch.Tensor):
                raise ValueError(f"layer {name!r} does not output one tensor")
            benign, adversarial = output.detach().float().chunk(2)  # (B, C, H, W) each
            record.distance[name] = _per_channel((benign - adversarial).abs())  # (B, C)
            record.scale[name] = _per_channel(benign.abs())  # (B, C)

        return hook

    with hooked((model.get_submodule(name), "forward", reduce(name)) for name in layers):
        yield record


@dataclass
class NeuronSensitivity:
    """One model's neuron sensitivity over N image pairs (x, x')."""

    layers: list[str]
    distances: dict[str, torch.Tensor]  # layer -> (N, C): per image, per channel
    scales: dict[str, torch.Tensor]  # layer -> (N, C): mean |F(x)| per image, per channel
    clean_correct: torch.Tensor  # (N,) bool: prediction on x equals the label
    adversarial_correct: torch.Tensor  # (N,) bool: prediction on x' equals the label

    @property
    def n(self) -> int:
        return len(self.clean_correct)

    def sigma(self, layer: str) -> torch.Tensor:
        """sigma_l: (C,), the mean over the pairs of the per-channel distances."""
        return self.distances[layer].mean(dim=0)

    def layer_summary(self, layer: str, fraction: float = TOP_FRACTION) -> dict[str, float]:
        """mean and top-`fraction` mean of sigma_l, plus the relative sensitivity *(our
        reading, not the paper's)*: sigma divided by the layer's mean |F(x)|, so models whose
        features have different scales compare fairly."""
        sigma = self.sigma(layer)
        scale = float(self.scales[layer].mean())
        return {
            "mean": float(sigma.mean()),
            "top": top_mean(sigma, fraction),
            "relative": float(sigma.mean()) / scale if scale > 0 else float("nan"),
            "channels": sigma.numel(),
        }

    def summary(self, fraction: float = TOP_FRACTION) -> dict[str, dict[str, float]]:
        return {layer: self.layer_summary(layer, fraction) for layer in self.layers}


def resolve_layers(model: nn.Module, layers: Optional[Sequence[str]] = None) -> list[str]:
    """`layers` checked against the model's module names, else the default: the stem conv
    and every residual block (`sensitivity_layers`)."""
    if layers is None:
        return sensitivity_layers(model)
    names = dict(model.named_modules())
    unknown = [name for name in layers if name not in names or name == ""]
    if unknown:
        raise ValueError(f"no module named {unknown} in the model; e.g. {sensitivity_layers(model)}")
    return list(layers)


def probe_batches(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    attack: PGDConfig,
    *,
    layers: Optional[Sequence[str]] = None,
    generator: Optional[torch.Generator] = None,
    progress: Optional[Callable[[int], None]] = None,
) -> NeuronSensitivity:
    """Neuron sensitivity of `model` over `batches` of (x (B, 3, H, W) in [0, 1], y (B,)):
    x' = PGD(x, y) under `attack` (once), then one hooked pass of [x; x']."""
    layers = resolve_layers(model, layers)
    device = model_device(model)
    distances: dict[str, list] = {name: [] for name in layers}
    scales: dict[str, list] = {name: [] for name in layers}
    clean_ok, adv_ok = [], []
    with using_model(model, exclusive=True):
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            x_adv = pgd(model, x, y, attack, generator=generator)  # (B, 3, H, W)
            with torch.no_grad(), pair_distance_hooks(model, layers) as record:
                logits = model(torch.cat([x, x_adv]))  # (2B, K)
            pred_clean, pred_adv = logits.argmax(1).chunk(2)
            clean_ok.append((pred_clean == y).cpu())
            adv_ok.append((pred_adv == y).cpu())
            for name in layers:
                distances[name].append(record.distance[name].cpu())
                scales[name].append(record.scale[name].cpu())
            if progress:
                progress(len(y))
    if not clean_ok:
        raise ValueError("no images to probe")
    return NeuronSensitivity(
        layers,
        {k: torch.cat(v) for k, v in distances.items()},
        {k: torch.cat(v) for k, v in scales.items()},
        torch.cat(clean_ok),
        torch.cat(adv_ok),
    )


def probe_images(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: PGDConfig,
    *,
    layers: Optional[Sequence[str]] = None,
    batch_size: int = 128,
    generator: Optional[torch.Generator] = None,
    progress: Optional[Callable[[int], None]] = None,
) -> NeuronSensitivity:
    """`probe_batches` over images x (N, 3, H, W) in [0, 1] with labels y (N,), `batch_size`
    at a time."""
    batches = ((x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size))
    return probe_batches(model, batches, attack, layers=layers, generator=generator, progress=progress)


# ---------------------------------------------------------------- one image, maps kept
@dataclass
class ImageProbe:
    """One image through one model: its x', per-layer per-channel distances, and one
    layer's activation maps of the chosen channels on x and on x'."""

    x_adv: torch.Tensor  # (1, 3, H, W) in [0, 1]
    label: int  # the class PGD pushed away from (the given label, else the prediction on x)
    prediction: int  # on x
    adversarial_prediction: int  # on x'
    distances: dict[str, torch.Tensor]  # layer -> (C,)
    layer: str
    channels: list[int]  # the channels of `maps_*`, most sensitive first unless given
    maps_clean: torch.Tensor  # (k, h, w) activation maps of those channels on x
    maps_adversarial: torch.Tensor  # (k, h, w) on x'

    def channel_distances(self) -> list[float]:
        return [float(self.distances[self.layer][c]) for c in self.channels]


def probe_image(
    model: nn.Module,
    x: torch.Tensor,
    layer: str,
    attack: PGDConfig,
    *,
    label: Optional[int] = None,
    top_k: int = 6,
    channels: Optional[Sequence[int]] = None,
    layers: Optional[Sequence[str]] = None,
    x_adv: Optional[torch.Tensor] = None,
    generator: Optional[torch.Generator] = None,
) -> ImageProbe:
    """x (1, 3, H, W) or (3, H, W): x' = PGD against `label` (else the class predicted on x)
    unless `x_adv` is given (e.g. one x' shared by every variant); then the distances of
    every layer in `layers` (default: the stem and the blocks, plus `layer`) and the maps
    of `channels` of `layer` (default: its `top_k` most sensitive for this image), so the
    same channel can be followed across variants."""
    x = (x[None] if x.dim() == 3 else x).to(model_device(model))  # (1, 3, H, W)
    names = resolve_layers(model, layers)
    names = names if layer in names else [*names, *resolve_layers(model, [layer])]
    with using_model(model, exclusive=True):
        with torch.no_grad():
            prediction = int(model(x).argmax(1))
        target = prediction if label is None else int(label)
        if x_adv is None:
            x_adv = pgd(model, x, torch.tensor([target], device=x.device), attack, generator=generator)
        x_adv = (x_adv[None] if x_adv.dim() == 3 else x_adv).to(x.device)
        # a tiny batch: the whole maps are kept (recorded_features), then reduced here
        with torch.no_grad(), recorded_features(model, names) as features:
            logits = model(torch.cat([x, x_adv]))  # (2, K)
            outputs = {name: features[name].detach().float() for name in names}
    distances = {
        name: _per_channel((out[0:1] - out[1:2]).abs())[0].cpu()  # (C,)
        for name, out in outputs.items()
    }
    d = distances[layer]
    chosen = list(channels) if channels is not None else torch.topk(d, min(top_k, d.numel())).indices.tolist()
    maps = outputs[layer]
    if maps.dim() != 4:
        raise ValueError(f"layer {layer!r} has no spatial maps (output shape {tuple(maps.shape)})")
    return ImageProbe(
        x_adv.detach().cpu(),
        target,
        prediction,
        int(logits[1].argmax()),
        distances,
        layer,
        chosen,
        maps[0, chosen].cpu(),
        maps[1, chosen].cpu(),
    )
