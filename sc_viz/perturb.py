"""Non-semantic perturbations (docs/method.md#perturbations, the paper's Table 1) and the
disruption transforms of Sec. 4.3 (docs/method.md#disruptions). All take and return float
(N, 3, H, W) in [0, 1]."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Optional

import torch
import torchvision.transforms.v2.functional as TF

from sc_viz.paper import LEVEL_IDS, PERTURBATION_LEVELS
from sc_viz.registry import Registry

# Table 1 of the paper: perturbation -> level -> strength (sc_viz.paper).
LEVELS = PERTURBATION_LEVELS


def brightness(x: torch.Tensor, amount: float) -> torch.Tensor:
    # Additive (+v/255), as in Table 1; torchvision's adjust_brightness is multiplicative.
    return (x + amount).clamp(0.0, 1.0)


PHOTOMETRIC: Registry[Callable[[torch.Tensor, float], torch.Tensor]] = Registry("perturbation")
PHOTOMETRIC.add("brightness", brightness)
PHOTOMETRIC.add("contrast", TF.adjust_contrast)
PHOTOMETRIC.add("saturation", TF.adjust_saturation)
PHOTOMETRIC.add("hue", TF.adjust_hue)


def photometric(x: torch.Tensor, name: str, level: int) -> torch.Tensor:
    """Perturbation `name` at Table-1 level 1..4."""
    PHOTOMETRIC[name]  # unknown names fail with the list of valid ones
    if level not in LEVELS[name]:
        raise ValueError(f"level must be one of {LEVEL_IDS[0]}-{LEVEL_IDS[-1]}, got {level}")
    return PHOTOMETRIC[name](x, LEVELS[name][level]).clamp(0.0, 1.0)


def random_photometric(
    x: torch.Tensor,
    generator: Optional[torch.Generator] = None,
    names: Sequence[str] = tuple(LEVELS),
    levels: Sequence[int] = LEVEL_IDS,
) -> torch.Tensor:
    """A random one of `names` at a random one of `levels`, drawn per sample."""
    n = x.shape[0]
    kind = torch.randint(0, len(names), (n,), generator=generator)
    level = torch.tensor(levels)[torch.randint(0, len(levels), (n,), generator=generator)]
    out = torch.empty_like(x)
    for k, name in enumerate(names):  # batch the samples sharing (kind, level)
        for lv in levels:
            mask = ((kind == k) & (level == lv)).to(x.device)
            if mask.any():
                out[mask] = photometric(x[mask], name, int(lv))
    return out


# ---------------------------------------------------------------- disruptions (Sec. 4.3)
def channel_shift(x: torch.Tensor, d: int) -> torch.Tensor:
    """R shifted d pixels, B 2d pixels, to the lower right, wrapping around; G untouched."""
    out = x.clone()
    out[:, 0] = torch.roll(x[:, 0], shifts=(d, d), dims=(-2, -1))
    out[:, 2] = torch.roll(x[:, 2], shifts=(2 * d, 2 * d), dims=(-2, -1))
    return out


def centre_noise(
    x: torch.Tensor, fraction: float, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """Replace the central square of side round(fraction * side) with U[0,1] noise."""
    h, w = x.shape[-2:]
    s = int(round(fraction * min(h, w)))
    out = x.clone()
    if s == 0:
        return out
    top, left = (h - s) // 2, (w - s) // 2
    noise = torch.rand((x.shape[0], x.shape[1], s, s), generator=generator).to(x)
    out[..., top : top + s, left : left + s] = noise
    return out


def sliding_puzzle(x: torch.Tensor, k: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Cut into k x k blocks and shuffle them (one permutation per image). When the side is
    not a multiple of k, the remainder strip at the bottom/right stays in place."""
    n, c, h, w = x.shape
    bh, bw = h // k, w // k
    out = x.clone()
    grid = x[..., : bh * k, : bw * k].reshape(n, c, k, bh, k, bw).permute(0, 2, 4, 1, 3, 5)
    grid = grid.reshape(n, k * k, c, bh, bw)  # (N, k*k, C, bh, bw)
    perms = torch.stack([torch.randperm(k * k, generator=generator) for _ in range(n)]).to(x.device)
    shuffled = torch.gather(grid, 1, perms[:, :, None, None, None].expand_as(grid))
    shuffled = shuffled.reshape(n, k, k, c, bh, bw).permute(0, 3, 1, 4, 2, 5)
    out[..., : bh * k, : bw * k] = shuffled.reshape(n, c, bh * k, bw * k)
    return out
