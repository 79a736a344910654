"""Saliency consensus as a measure (docs/related_methods.md, "Saliency consensus as a measure"): how much a
variant's explanation of x agrees with its explanation of a perturbed x' (PGD against that
variant, or a photometric perturbation at a chosen level). Three numbers per pair of maps:
cosine similarity, Spearman rank correlation and top-k% intersection-over-union.

*(our reading)* Both maps explain the class the variant predicts on x (so a change of the
prediction under PGD does not change the question asked); the top-k% sets are the
largest *values* (for signed maps such as IG and LIME, the strongest evidence for the
class), k = 10% by default; a constant map has no ranking, so its Spearman rho (and a zero
map's cosine) is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn

from sc_viz.attacks import PGDConfig, pgd
from sc_viz.explain import METHODS
from sc_viz.model_run import model_device, using_model
from sc_viz.perturb import photometric

MEASURES = ("cosine", "spearman", "iou")
TOP_FRACTION = 0.1
PGD_KIND = "pgd"


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two maps (H, W); NaN when either is all zeros."""
    a, b = a.flatten().double(), b.flatten().double()
    norm = a.norm() * b.norm()
    return float(a @ b / norm) if norm > 0 else float("nan")


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two maps (H, W); NaN when either is constant."""
    from scipy.stats import spearmanr

    a, b = a.flatten().double().numpy(), b.flatten().double().numpy()
    if a.min() == a.max() or b.min() == b.max():
        return float("nan")
    return float(spearmanr(a, b).statistic)


def top_iou(a: torch.Tensor, b: torch.Tensor, fraction: float = TOP_FRACTION) -> float:
    """IoU of the top-`fraction` pixels by value of two maps (H, W) (at least one pixel)."""
    k = max(1, int(round(fraction * a.numel())))
    top_a = set(torch.topk(a.flatten().double(), k).indices.tolist())
    top_b = set(torch.topk(b.flatten().double(), k).indices.tolist())
    return len(top_a & top_b) / len(top_a | top_b)


def map_consensus(a: torch.Tensor, b: torch.Tensor, fraction: float = TOP_FRACTION) -> dict[str, float]:
    """The three agreement numbers of two maps (H, W); 1 for identical (non-constant) maps."""
    return {"cosine": cosine(a, b), "spearman": spearman(a, b), "iou": top_iou(a, b, fraction)}


def perturbed_views(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    *,
    kinds: Sequence[str],
    level: int,
    attacks: dict[str, PGDConfig],
    labels: dict[str, int],
    generator: Optional[torch.Generator] = None,
) -> dict[str, dict[str, torch.Tensor]]:
    """kind -> variant -> x' (1, 3, H, W): "pgd" is each variant's own PGD of x against
    labels[variant] under attacks[variant]; a photometric kind is the same image for all.
    PGD runs each model through `using_model` (shared: it reads the model only)."""
    views: dict[str, dict[str, torch.Tensor]] = {}
    for kind in kinds:
        if kind == PGD_KIND:
            views[kind] = {}
            for v, model in models.items():
                xv = x.to(model_device(model))
                y = torch.tensor([labels[v]], device=xv.device)
                with using_model(model):
                    views[kind][v] = pgd(model, xv, y, attacks[v], generator=generator).cpu()
        else:
            moved = photometric(x, kind, level)  # (1, 3, H, W)
            views[kind] = {v: moved for v in models}
    return views


@dataclass
class MapPair:
    """A variant's map of x and of x' (both (H, W), CPU) and their agreement."""

    clean: torch.Tensor
    moved: torch.Tensor
    measures: dict[str, float]


def method_consensus(
    method: str,
    models: dict[str, nn.Module],
    x: torch.Tensor,
    views: dict[str, dict[str, torch.Tensor]],
    targets: dict[str, int],
    *,
    fraction: float = TOP_FRACTION,
    options: Optional[dict] = None,
) -> dict[str, dict[str, MapPair]]:
    """variant -> kind -> MapPair for one explanation method of the registry: maps of x and
    of every view, all for targets[variant]. Views shared by all variants go through
    `explain_many` (LIME shares its samples there)."""

    explainer, options = METHODS[method], options or {}
    base = explainer.explain_many(models, x, targets, **options)
    out: dict[str, dict[str, MapPair]] = {v: {} for v in models}
    for kind, per_variant in views.items():
        shared = len({id(t) for t in per_variant.values()}) == 1
        if shared:
            moved = explainer.explain_many(models, next(iter(per_variant.values())), targets, **options)
        else:
            moved = {v: explainer.explain(models[v], per_variant[v], targets[v], **options) for v in models}
        for v in models:
            a, b = base[v].map, moved[v].map
            out[v][kind] = MapPair(a, b, map_consensus(a, b, fraction))
    return out


def finite_mean(values: Sequence[float]) -> Optional[float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None
