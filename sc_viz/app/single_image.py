"""Per-image numbers for the Continuity and Robustness pages: top-3 predictions, DS of
each variant under the four photometric perturbations at levels 1-4, and PGD on one image
for each variant. Tensors in, tensors/floats out; every model runs on its own device, inside
`using_model` (the shared models are cached across the app's users)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn

from sc_viz.attacks import PGDConfig, pgd
from sc_viz.deck.work import Fetch, Work, compute_now
from sc_viz.losses import distance_score
from sc_viz.model_run import model_device, using_model
from sc_viz.perturb import LEVELS, photometric

Prediction = list[tuple[int, float]]  # [(class index, probability)] best first


@torch.no_grad()
def top_k(model: nn.Module, x: torch.Tensor, k: int = 3) -> Prediction:
    """Top-k (class, probability) of one image (1, 3, H, W)."""
    with using_model(model):
        probs = model(x.to(model_device(model))).float().softmax(1)[0].cpu()
    p, i = probs.topk(min(k, probs.numel()))
    return [(int(c), float(q)) for c, q in zip(i, p)]


def perturbed_strip(x: torch.Tensor) -> dict[str, dict[int, torch.Tensor]]:
    """{perturbation: {level: image (1, 3, H, W)}} for the Table-1 levels."""
    return {name: {lv: photometric(x, name, lv) for lv in LEVELS[name]} for name in LEVELS}


@torch.no_grad()
def ds_per_level(models: Mapping[str, nn.Module], x: torch.Tensor) -> dict[str, dict[str, dict[int, float]]]:
    """{variant: {perturbation: {level: DS(x, T_level(x))}}} for one image (1, 3, H, W).

    The 16 perturbed copies go through each model in one batch."""
    strip = perturbed_strip(x)
    keys = [(name, lv) for name in strip for lv in strip[name]]
    batch = torch.cat([x] + [strip[n][lv] for n, lv in keys])  # (17, 3, H, W)
    out = {}
    for variant, model in models.items():
        with using_model(model):
            logits = model(batch.to(model_device(model))).float().cpu()  # (17, C)
        ds = distance_score(logits[:1].expand(len(keys), -1), logits[1:])  # (16,)
        table: dict[str, dict[int, float]] = {}
        for (name, lv), d in zip(keys, ds.tolist()):
            table.setdefault(name, {})[lv] = d
        out[variant] = table
    return out


def ds_of(pack, x: torch.Tensor, variant: str, fetch: Fetch = compute_now) -> dict[str, dict[int, float]]:
    """One variant's `ds_per_level` table of x (1, 3, H, W), through `fetch` (the Continuity
    page's: a prepared deck holds it)."""
    model = {variant: pack.models[variant]}
    return fetch(Work("continuity.ds", {}, (variant,)), lambda: ds_per_level(model, x)[variant])


def ds_rows(table: Mapping[str, Mapping[str, Mapping[int, float]]], source: str = "image") -> list[dict]:
    """Flat rows (for CSV and tables) of a {variant: {perturbation: {level: DS}}} table."""
    return [
        {"source": source, "variant": v, "perturbation": p, "level": int(lv), "ds": float(d)}
        for v, per in table.items()
        for p, levels in per.items()
        for lv, d in levels.items()
    ]


@dataclass
class AttackResult:
    x_adv: torch.Tensor  # (1, 3, H, W) in [0, 1], on CPU
    delta: torch.Tensor  # x_adv - x, (1, 3, H, W), in [-eps, eps]
    label: int  # the class the attack pushed away from
    before: Prediction
    after: Prediction

    @property
    def flipped(self) -> bool:
        return self.before[0][0] != self.after[0][0]


def attack_config(eps: float, steps: int, step_size: Optional[float] = None) -> PGDConfig:
    """The page's PGD: step eps/4 unless given, random start; eps = 0 leaves the image."""
    return PGDConfig(
        eps=eps,
        step_size=step_size if step_size else max(eps / 4, 1e-8),
        steps=steps if eps > 0 else 0,
        random_start=eps > 0,
    )


def attack_each(
    models: Mapping[str, nn.Module],
    x: torch.Tensor,
    eps: float,
    *,
    steps: int = 10,
    step_size: Optional[float] = None,
    label: Optional[int] = None,
    seed: int = 0,
) -> dict[str, AttackResult]:
    """Untargeted L-inf PGD on one image for each variant (white box, its own gradients).

    The attack pushes away from `label` (the true class of a gallery image) or, for an
    upload without a label, from each model's own prediction. eps = 0 returns the image."""
    cfg = attack_config(eps, steps, step_size)
    out = {}
    for variant, model in models.items():
        dev = model_device(model)
        before = top_k(model, x)
        y = torch.tensor([label if label is not None else before[0][0]], device=dev)
        g = torch.Generator().manual_seed(seed)
        with using_model(model):
            x_adv = pgd(model, x.to(dev), y, cfg, generator=g).cpu()
        out[variant] = AttackResult(x_adv, x_adv - x.cpu(), int(y.item()), before, top_k(model, x_adv))
    return out


def amplify(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """Map a perturbation in [-eps, eps] to [0, 1] (grey = unchanged) so it can be seen."""
    if eps <= 0:
        return torch.full_like(delta, 0.5)
    return (delta / (2 * eps) + 0.5).clamp(0, 1)


def attack_rows(results: Mapping[str, AttackResult], classes: list[str], eps: float) -> list[dict]:
    rows = []
    for v, r in results.items():
        rows.append(
            {
                "variant": v,
                "eps_255": eps * 255,
                "label": classes[r.label],
                "before": classes[r.before[0][0]],
                "p_before": r.before[0][1],
                "after": classes[r.after[0][0]],
                "p_after": r.after[0][1],
                "flipped": r.flipped,
                "linf": float(r.delta.abs().max()),
            }
        )
    return rows
