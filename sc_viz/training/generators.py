"""Training-example generators: how a variant's "adv" view x' is made from a batch (x, y).
A registry of its own, so a variant names its generator and a new method adds one entry.

Every generator sees the model in eval mode (the attack sees the model as deployed;
BatchNorm statistics untouched) and draws its randomness from the epoch's generator `g`,
so resumed runs repeat it exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch

from sc_viz.attacks import pgd, shared_pixel_pgd
from sc_viz.precision import autocast
from sc_viz.registry import Registry

# (raw_model, x, y, cfg, g) -> x' (N, 3, H, W), detached; cfg is a TrainConfig
GenerateFn = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class GeneratorSpec:
    generate: GenerateFn
    description: str


def _pgd(model, x, y, cfg, g):
    return pgd(model, x, y, cfg.train_attack, generator=g)


def _shared_pixel_pgd(model, x, y, cfg, g):
    return shared_pixel_pgd(
        model,
        x,
        y,
        cfg.train_attack,
        gamma=cfg.spat.gamma,
        top_k=cfg.spat.top_k,
        generator=g,
        step_norm=cfg.spat.step_norm,
    )


def _offending(model, x, y, cfg, g):
    # One step by default (GSCT uses no multi-step PGD); eps, step and random start are the
    # training attack's, so GSCT trains at adv's budget (docs/related_methods.md#adv-gsct).
    # `gsct.offending_steps` 2 is the adjusted reading against catastrophic overfitting.
    return pgd(
        model, x, y, dataclasses.replace(cfg.train_attack, steps=cfg.gsct.offending_steps), generator=g
    )


GENERATORS: Registry[GeneratorSpec] = Registry("example generator")
GENERATORS.add("pgd", GeneratorSpec(_pgd, "L-inf PGD on the training attack's budget (Madry)"))
GENERATORS.add(
    "shared_pixel_pgd",
    GeneratorSpec(
        _shared_pixel_pgd, "SPAT's shared-pixel PGD: steps scaled by the shared-class mask (our reading)"
    ),
)
GENERATORS.add(
    "offending",
    GeneratorSpec(
        _offending, "GSCT's one-step most offending input, on the training attack's budget (our reading)"
    ),
)


def generate(name: str, raw_model, x, y, cfg, g, amp) -> torch.Tensor:
    """x' from generator `name`, the model in eval mode for the attack and back in train
    mode after it."""
    raw_model.eval()
    try:
        with autocast(x.device, amp):
            return GENERATORS[name].generate(raw_model, x, y, cfg, g)
    finally:
        raw_model.train()
