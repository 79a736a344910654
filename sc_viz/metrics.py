"""Accuracy (clean or under attack) and distance scores over a split, batched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import torch
import torch.nn as nn

from sc_viz.attacks import PGDConfig, pgd
from sc_viz.data import Split, iterate_batches
from sc_viz.losses import distance_score
from sc_viz.model_run import model_device, using_model
from sc_viz.paper import SUMMARY_LEVEL
from sc_viz.perturb import LEVELS, photometric


def accuracy(
    model: nn.Module,
    split: Split,
    *,
    batch_size: int = 256,
    attack: Optional[PGDConfig] = None,
    seed: int = 0,
    progress: Optional[Callable[[int], None]] = None,
) -> float:
    """Top-1 accuracy on `split`, clean or under PGD (`attack`); model left as it was."""
    g = torch.Generator().manual_seed(seed)
    correct = total = 0
    with using_model(model):  # eval mode, restored after; guarded against other users
        for x, y in iterate_batches(
            split, batch_size, shuffle=False, augment=False, device=model_device(model)
        ):
            if attack is not None:
                x = pgd(model, x, y, attack, generator=g)
            with torch.inference_mode():
                correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
            if progress:
                progress(len(y))
    return correct / max(total, 1)


def mean_distance_scores(
    model: nn.Module, split: Split, level: int = SUMMARY_LEVEL, *, batch_size: int = 512
) -> dict[str, float]:
    """Mean DS(x, T(x)) over `split` for each photometric perturbation at `level`."""
    sums = {name: 0.0 for name in LEVELS}
    n = 0
    with using_model(model), torch.inference_mode():
        for x, _ in iterate_batches(
            split, batch_size, shuffle=False, augment=False, device=model_device(model)
        ):
            clean = model(x)
            for name in LEVELS:
                sums[name] += distance_score(clean, model(photometric(x, name, level))).sum().item()
            n += len(x)
    return {name: s / max(n, 1) for name, s in sums.items()}
