"""PGD in pixel space. The L-infinity threat model (random start, step, projection) is
kept apart from the loop, as in MadryLab's robustness `attack_steps.py`; every iterate is
clamped to [0, 1]."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class LinfStep:
    eps: float
    step_size: float

    def random_start(self, x0: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
        noise = torch.rand(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
        return (x0 + (2 * noise - 1) * self.eps).clamp(0, 1)

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return x + self.step_size * grad.sign()

    def project(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        return torch.min(torch.max(x, x0 - self.eps), x0 + self.eps).clamp(0, 1)


@dataclass(frozen=True)
class PGDConfig:
    eps: float = 8 / 255
    step_size: float = 2 / 255
    steps: int = 10
    random_start: bool = True


CIFAR_PGD = PGDConfig(8 / 255, 2 / 255, 10, True)
IMAGENET_PGD = PGDConfig(4 / 255, 1 / 255, 10, True)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: PGDConfig = CIFAR_PGD,
        generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Untargeted PGD maximising cross-entropy; returns x_adv (N, 3, H, W), detached.

    Gradients are taken w.r.t. the input only (torch.autograd.grad), so the model's
    parameter .grad fields are untouched and the model's mode is left as the caller set it.
    """
    threat = LinfStep(cfg.eps, cfg.step_size)
    x0 = x.detach()
    x_adv = threat.random_start(x0, generator) if cfg.random_start else x0.clone()
    for _ in range(cfg.steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            loss = F.cross_entropy(model(x_adv), y)
            (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = threat.project(threat.step(x_adv.detach(), grad), x0)
    return x_adv.detach()
