"""SPAT beside PGD on one image (Robustness page): the shared-pixel mask M of each variant,
SPAT's perturbation and plain PGD's at the same budget, and where each perturbation falls:
the share of its L1 mass on the top fifth of the mask's pixels (1/5 if it fell evenly).
SPAT is the project's reading of its paper (docs/related_methods.md#spat)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn as nn

from sc_viz.app.single_image import AttackResult, Prediction, attack_config, top_k
from sc_viz.attacks import shared_pixel_mask, shared_pixel_pgd
from sc_viz.model_run import model_device, using_model

TOP_SHARE = 0.2  # "high-mask pixels": the top fifth of the mask


@dataclass
class SpatResult:
    mask: torch.Tensor  # (1, 1, H, W) in [0, 1]: SPAT's shared mask of the clean image
    x_adv: torch.Tensor  # (1, 3, H, W) in [0, 1]: SPAT's shared-pixel PGD image
    delta: torch.Tensor  # x_adv - x, (1, 3, H, W)
    after: Prediction
    spat_share: float  # share of SPAT's |delta| on the top-fifth mask pixels
    pgd_share: float  # the same for plain PGD's |delta| at the same budget


def mass_on_top_pixels(delta: torch.Tensor, mask: torch.Tensor, fraction: float = TOP_SHARE) -> float:
    """Share of sum |delta| (over channels) that lies on the `fraction` of pixels with the
    highest mask: (1, 3, H, W), (1, 1, H, W) -> float in [0, 1]."""
    mass = delta.abs().sum(dim=1).flatten()  # (H * W,)
    k = max(1, int(round(fraction * mass.numel())))
    top = mask.flatten().topk(k).indices
    total = mass.sum()
    return float(mass[top].sum() / total) if total > 0 else 0.0


def spat_each(
    models: Mapping[str, nn.Module],
    x: torch.Tensor,
    pgd_results: Mapping[str, AttackResult],
    eps: float,
    *,
    steps: int = 10,
    gamma: float = 0.1,
    top_classes: int = 10,
    seed: int = 0,
) -> dict[str, SpatResult]:
    """SPAT's attack on one image (1, 3, H, W) for each variant, with the same budget, label
    and seed as `pgd_results` (single_image.attack_each)."""
    cfg = attack_config(eps, steps)
    out = {}
    for variant, model in models.items():
        dev = model_device(model)
        y = torch.tensor([pgd_results[variant].label], device=dev)
        with using_model(model):
            mask = shared_pixel_mask(model, x.to(dev), top_k=top_classes).cpu()  # (1, 1, H, W)
            x_adv = shared_pixel_pgd(
                model,
                x.to(dev),
                y,
                cfg,
                gamma=gamma,
                top_k=top_classes,
                generator=torch.Generator().manual_seed(seed),
            ).cpu()
        delta = x_adv - x.cpu()
        out[variant] = SpatResult(
            mask,
            x_adv,
            delta,
            top_k(model, x_adv),
            mass_on_top_pixels(delta, mask),
            mass_on_top_pixels(pgd_results[variant].delta, mask),
        )
    return out
