"""Numbers for attribution maps, so "smoother, more object-focused" can be measured.

Each measure takes a map (H, W) (any method's, signed or not); the faithfulness ones also
run the model. `measure_map` returns them all as a dict of floats.
"""

from __future__ import annotations

from typing import Optional, Union

import torch
import torch.nn as nn

from sc_viz.explain.base import as_batch, check_target, model_device, using_model
from sc_viz.explain.ig import make_baseline


def _as_map(heat: torch.Tensor) -> torch.Tensor:
    heat = torch.as_tensor(heat).detach().float().cpu()
    if heat.dim() != 2:
        raise ValueError(f"a map must be (H, W), got shape {tuple(heat.shape)}")
    return heat


def total_variation(heat: torch.Tensor) -> float:
    """Smoothness (lower = smoother). The map is first scaled to unit L1 norm,
    m = a / sum|a|, so the number does not depend on the method's units; then
    TV = sum_ij |m[i+1, j] - m[i, j]| + sum_ij |m[i, j+1] - m[i, j]| (anisotropic).
    It lies in [0, 4]; 0 for a constant map. Compare maps of the same size only."""
    a = _as_map(heat)
    norm = a.abs().sum()
    if norm == 0:
        return 0.0
    m = a / norm
    return float((m[1:, :] - m[:-1, :]).abs().sum() + (m[:, 1:] - m[:, :-1]).abs().sum())


def gini(heat: torch.Tensor) -> float:
    """Sparsity: the Gini coefficient of |a| over the n pixels, sorted ascending,
    G = 2 * sum_i i * a_(i) / (n * sum a) - (n + 1) / n,  i = 1..n.
    0 when attribution is spread evenly, (n - 1) / n when one pixel holds all of it."""
    a = _as_map(heat).abs().flatten().double().sort().values  # (n,)
    n, total = a.numel(), a.sum()
    if total == 0:
        return 0.0
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(2 * (i * a).sum() / (n * total) - (n + 1) / n)


def centre_share(heat: torch.Tensor) -> float:
    """Object focus: the share of |attribution| in the central box of half the height
    and half the width (a quarter of the area; 0.25 for a uniform map),
    sum_{centre} |a| / sum |a|. The box spans rows [(H - H//2)//2, +H//2), likewise columns."""
    a = _as_map(heat).abs()
    h, w = a.shape
    ch, cw = h // 2, w // 2
    top, left = (h - ch) // 2, (w - cw) // 2
    total = a.sum()
    if total == 0:
        return 0.0
    return float(a[top : top + ch, left : left + cw].sum() / total)


def _progressive_images(
    x: torch.Tensor, start: torch.Tensor, end: torch.Tensor, order: torch.Tensor, steps: int
) -> torch.Tensor:
    """Image k (k = 0..steps) is `start` with the first round(k/steps * HW) pixels of
    `order` taken from `end`: (steps + 1, 3, H, W)."""
    _, _, h, w = x.shape
    n = h * w
    counts = torch.round(torch.arange(steps + 1, dtype=torch.float64) / steps * n).long()  # (K,)
    rank = torch.empty(n, dtype=torch.long)
    rank[order] = torch.arange(n)  # pixel -> its position in the order
    taken = rank[None, :] < counts[:, None]  # (K, HW) which pixels come from `end`
    taken = taken.view(steps + 1, 1, h, w).to(x.device)
    return torch.where(taken, end, start)  # (K, 3, H, W)


@torch.no_grad()
def _probabilities(model: nn.Module, images: torch.Tensor, target: int, batch_size: int) -> torch.Tensor:
    with using_model(model):
        return torch.cat(
            [
                model(images[i : i + batch_size]).float().softmax(dim=1)[:, target].cpu()
                for i in range(0, len(images), batch_size)
            ]
        )  # (K,)


def _auc(p: torch.Tensor) -> float:
    """Trapezoid rule over fractions 0, 1/K, ..., 1 (so the result is a mean probability)."""
    return float(((p[1:] + p[:-1]) / 2).mean())


def deletion_insertion(
    model: nn.Module,
    x: torch.Tensor,
    heat: torch.Tensor,
    target: int,
    *,
    steps: int = 32,
    deletion_baseline: Union[str, float] = "black",
    insertion_baseline: Union[str, float] = "blur",
    batch_size: int = 64,
) -> dict[str, float]:
    """Faithfulness (Petsiuk et al. 2018, RISE). Pixels are ranked by map value, highest
    first (stable for ties). Deletion: starting from x, the top round(k/steps * HW) pixels
    (all channels) are replaced by the deletion baseline, k = 0..steps; insertion: starting
    from the insertion baseline, they are put back from x. Each curve is the softmax
    probability of `target`; AUC = trapezoid area over the deleted/inserted fraction in
    [0, 1]. Lower deletion and higher insertion AUC = more faithful.
    Baselines: "black" (zeros), "blur" (Gaussian, sigma = side/16) or a grey level;
    defaults as in RISE: deletion to black, insertion from blur. All 2 * (steps + 1)
    images go through the model in batches of `batch_size`."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x = as_batch(x).to(model_device(model))  # (1, 3, H, W)
    a = _as_map(heat)
    if a.shape != x.shape[-2:]:
        raise ValueError(f"map {tuple(a.shape)} does not match the image {tuple(x.shape[-2:])}")
    order = torch.argsort(-a.flatten(), stable=True)  # (HW,) most important first
    deleted = _progressive_images(x, x, make_baseline(x, deletion_baseline), order, steps)
    inserted = _progressive_images(x, make_baseline(x, insertion_baseline), x, order, steps)
    with using_model(model), torch.no_grad():
        target = check_target(target, model(x).shape[1])
    probs = _probabilities(model, torch.cat([deleted, inserted]), target, batch_size)  # (2K,)
    return {"deletion_auc": _auc(probs[: steps + 1]), "insertion_auc": _auc(probs[steps + 1 :])}


def measure_map(
    model: Optional[nn.Module],
    x: torch.Tensor,
    heat: torch.Tensor,
    target: int,
    *,
    steps: int = 32,
    deletion_baseline: Union[str, float] = "black",
    insertion_baseline: Union[str, float] = "blur",
    batch_size: int = 64,
) -> dict[str, float]:
    """All measures of one map: total_variation, gini, centre_share and (when a model is
    given) deletion_auc, insertion_auc. See each function for its formula."""
    out = {"total_variation": total_variation(heat), "gini": gini(heat), "centre_share": centre_share(heat)}
    if model is not None:
        out.update(
            deletion_insertion(
                model,
                x,
                heat,
                target,
                steps=steps,
                deletion_baseline=deletion_baseline,
                insertion_baseline=insertion_baseline,
                batch_size=batch_size,
            )
        )
    return out
