"""Accuracy (clean or under attack) and distance scores over a split, batched."""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn as nn

from .attacks import PGDConfig, pgd
from .data import Split, iterate_batches
from .losses import distance_score
from .perturb import LEVELS, photometric


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def logits_of(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Logits of (N, 3, H, W) in [0, 1], batched, on the model's device -> (N, C) on CPU."""
    dev = model_device(model)
    return torch.cat([model(x[i:i + batch_size].to(dev)).float().cpu()
                      for i in range(0, len(x), batch_size)])


def accuracy(model: nn.Module, split: Split, *, batch_size: int = 256,
             attack: Optional[PGDConfig] = None, seed: int = 0,
             progress: Optional[Callable[[int], None]] = None) -> float:
    """Top-1 accuracy on `split`, clean or under PGD (`attack`); model left as it was."""
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    correct = total = 0
    try:
        for x, y in iterate_batches(split, batch_size, shuffle=False, augment=False,
                                    device=model_device(model)):
            if attack is not None:
                x = pgd(model, x, y, attack, generator=g)
            with torch.inference_mode():
                correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
            if progress:
                progress(len(y))
    finally:
        model.train(was_training)
    return correct / max(total, 1)


def mean_distance_scores(model: nn.Module, split: Split, level: int = 2, *,
                         batch_size: int = 512) -> dict[str, float]:
    """Mean DS(x, T(x)) over `split` for each photometric perturbation at `level`."""
    was_training = model.training
    model.eval()
    sums = {name: 0.0 for name in LEVELS}
    n = 0
    try:
        with torch.inference_mode():
            for x, _ in iterate_batches(split, batch_size, shuffle=False, augment=False,
                                        device=model_device(model)):
                clean = model(x)
                for name in LEVELS:
                    sums[name] += distance_score(clean, model(photometric(x, name, level))).sum().item()
                n += len(x)
    finally:
        model.train(was_training)
    return {name: s / max(n, 1) for name, s in sums.items()}
