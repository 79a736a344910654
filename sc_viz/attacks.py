"""PGD in pixel space (docs/method.md#pgd). The L-infinity threat model (random start, step,
projection) is kept apart from the loop, as in MadryLab's robustness `attack_steps.py`; every
iterate is clamped to [0, 1]. The paper's budgets live in `sc_viz.paper`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from sc_viz import paper


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
    eps: float = paper.CIFAR_PGD.eps
    step_size: float = paper.CIFAR_PGD.step_size
    steps: int = paper.CIFAR_PGD.steps
    random_start: bool = paper.CIFAR_PGD.random_start


def paper_pgd(input_size: int) -> PGDConfig:
    """The paper's PGD for inputs of side `input_size`: CIFAR's budget below
    `paper.IMAGENET_MIN_SIZE` pixels, ImageNet's from it."""
    budget = paper.pgd_budget(input_size)
    return PGDConfig(budget.eps, budget.step_size, budget.steps, budget.random_start)


CIFAR_PGD = paper_pgd(32)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: PGDConfig = CIFAR_PGD,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
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


# ---------------------------------------------------------------- SPAT (docs/related_methods.md#spat)
SPAT_STEP_NORMS = ("mask", "budget")


def shared_pixel_mask(
    model: nn.Module, x: torch.Tensor, top_k: int = 10, batched: bool = True
) -> torch.Tensor:
    """SPAT's shared mask *(our reading)*: M = min_c s_c / max(min_c s_c), with
    s_c = sum_channels |dz_c/dx| normalised per image to [0, 1], over each image's top-k
    predicted classes. x: (N, 3, H, W) -> (N, 1, H, W) in [0, 1], detached.

    Pixels that every class's logit is sensitive to score high: they are shared among the
    classes, so perturbing them adds no one class's semantics.
    """
    return _mask_and_loss_grad(model, x, None, top_k, batched)[0]


def _mask_and_loss_grad(model, x, y, top_k, batched):
    """The shared mask (N, 1, H, W) and, when y is given, grad_x CE(f(x), y) (N, 3, H, W),
    from one forward pass and k (+1) vector-Jacobian products. `batched` runs them as one
    batched call (torch.autograd.grad's is_grads_batched), else one after the other."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)  # (N, C)
        n, c = logits.shape
        k = min(top_k, c)
        top = logits.detach().topk(k, dim=1).indices  # (N, k)
        # cotangents, one per rank: one-hot on that rank's class, (k, N, C)
        rows = torch.zeros((k, n, c), device=logits.device, dtype=logits.dtype)
        rows.scatter_(2, top.t().unsqueeze(2), 1.0)
        if y is not None:  # d mean CE / d logits = (softmax - onehot(y)) / N
            ce_row = (logits.detach().float().softmax(1) - F.one_hot(y, c).float()) / n
            rows = torch.cat([rows, ce_row.to(rows.dtype).unsqueeze(0)])
        if batched:
            (grads,) = torch.autograd.grad(logits, x, rows, is_grads_batched=True)  # (R, N, 3, H, W)
        else:
            grads = torch.stack(
                [
                    torch.autograd.grad(logits, x, row, retain_graph=j < len(rows) - 1)[0]
                    for j, row in enumerate(rows)
                ]
            )
    sal = grads[:k].float().abs().sum(dim=2)  # (k, N, H, W)
    sal = sal / sal.flatten(2).amax(dim=2).clamp_min(1e-12)[..., None, None]
    shared = sal.min(dim=0).values  # (N, H, W)
    shared = shared / shared.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
    loss_grad = grads[k].detach() if y is not None else None
    return shared.unsqueeze(1).detach(), loss_grad


def shared_pixel_pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: PGDConfig = CIFAR_PGD,
    gamma: float = 0.1,
    top_k: int = 10,
    generator: Optional[torch.Generator] = None,
    batched: Optional[bool] = None,
    step_norm: str = "mask",
) -> torch.Tensor:
    """SPAT's shared-pixel PGD *(our reading)*: each step at x_t scales the sign step by
    gamma + (1 - gamma) * M(x_t), M the shared mask, so the perturbation lands mostly on
    pixels shared among the classes; the same L-inf threat model as `pgd`. -> (N, 3, H, W).

    step_norm "mask": the scaled step as it is (most pixels move by about gamma * step).
    "budget": each image's scale map divided by its mean, so the step moves the image as
    much in total (L1) as PGD's sign step and the perturbation reaches eps on many pixels,
    the mask deciding only where it lands (docs/related_methods.md#spat).
    `batched` None: one batched VJP call on GPUs, one VJP after the other on the CPU
    (about 2x faster there: `sc-viz bench train`)."""
    if step_norm not in SPAT_STEP_NORMS:
        raise ValueError(f"step_norm must be one of {SPAT_STEP_NORMS}, got {step_norm!r}")
    if batched is None:
        batched = x.device.type == "cuda"
    threat = LinfStep(cfg.eps, cfg.step_size)
    x0 = x.detach()
    x_adv = threat.random_start(x0, generator) if cfg.random_start else x0.clone()
    for _ in range(cfg.steps):
        mask, grad = _mask_and_loss_grad(model, x_adv, y, top_k, batched)  # (N, 1, H, W), (N, 3, H, W)
        scale = gamma + (1 - gamma) * mask  # (N, 1, H, W)
        if step_norm == "budget":
            scale = scale / scale.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
        x_adv = threat.project(x_adv.detach() + cfg.step_size * grad.sign() * scale, x0)
    return x_adv.detach()
