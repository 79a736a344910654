"""BatchNorm drift during training: how far each layer's running statistics (what eval mode
normalises with) are from the statistics of the batches train mode sees. Used to find why
GSCT's first reading collapsed (docs/related_methods.md#adv-gsct) and by its regression test.

A short probe run: fine-tune a model with the project's own training step for a few dozen
steps and, every `every` steps, score eval-mode accuracy on held-out images and the per-layer
ratio running variance / batch variance on the step's batch. A ratio near 1 means eval mode
sees the network train mode trains; far from 1, eval mode normalises with stale scales.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from sc_viz.data import Split, iterate_batches
from sc_viz.hooks import hooked
from sc_viz.metrics import accuracy
from sc_viz.training.objectives import frozen_batchnorm_statistics
from sc_viz.training.trainer import TrainConfig, make_optimizer, training_step


def batchnorm_layers(model: nn.Module) -> dict[str, nn.modules.batchnorm._BatchNorm]:
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}


@torch.no_grad()
def running_to_batch_variance(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Per BatchNorm layer: the median over channels of running_var / the variance of the
    layer's input on batch x, both in train mode (batch statistics along the way, as the
    training step sees them); the running statistics are left unchanged. x: (B, 3, H, W)."""
    return batchnorm_mismatch(model, x)[0]


@torch.no_grad()
def batchnorm_mismatch(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, float], dict[str, float]]:
    """Per BatchNorm layer, on batch x in train mode (running statistics unchanged):
    (median over channels of running_var / batch variance, mean over channels of
    |running_mean - batch mean| / batch standard deviation). The second is how far eval
    mode shifts each channel, in units of its spread: 0 when the running mean is the
    batch's, 1 when eval mode moves the channel by a whole standard deviation."""
    layers = batchnorm_layers(model)
    ratios: dict[str, float] = {}
    shifts: dict[str, float] = {}

    def record(name):
        def hook(module, inputs, _output):
            feats = inputs[0].float()  # (B, C, h, w)
            batch_var = feats.var(dim=(0, 2, 3), unbiased=False).clamp_min(1e-12)  # (C,)
            ratios[name] = (module.running_var.float() / batch_var).median().item()
            gap = (module.running_mean.float() - feats.mean(dim=(0, 2, 3))).abs() / batch_var.sqrt()
            shifts[name] = gap.mean().item()

        return hook

    was_training = model.training
    try:
        with hooked((m, "forward", record(n)) for n, m in layers.items()), frozen_batchnorm_statistics(model):
            model.train()(x)
    finally:
        model.train(was_training)
    return ratios, shifts


def log_ratio_spread(ratios: dict[str, float]) -> float:
    """Mean |log ratio| over layers: 0 when every layer's running variance matches its batch
    variance; log(2) ~ 0.69 when they are a factor 2 apart on average."""
    return sum(abs(math.log(max(r, 1e-12))) for r in ratios.values()) / max(1, len(ratios))


def conv_weight_norms(model: nn.Module) -> dict[str, float]:
    """Norm of every convolution's weight. Through train-mode BatchNorm a convolution that
    feeds it is invariant to the scale of its weight; eval mode's running statistics are not."""
    return {n: m.weight.detach().norm().item() for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def scale_drift(norms: dict[str, float], start: dict[str, float]) -> float:
    """Mean over convolutions of |log(norm / norm at the start)|."""
    return sum(abs(math.log(norms[n] / start[n])) for n in start) / max(1, len(start))


@torch.no_grad()
def batch_statistics_accuracy(model: nn.Module, split: Split, batch_size: int = 250) -> float:
    """Accuracy on `split` with train-mode BatchNorm (each batch normalised with its own
    statistics, the network the training step trains), running statistics unchanged. Far
    above the eval-mode accuracy: the weights are fine and eval mode's running statistics
    are what fails."""
    device = next(model.parameters()).device
    was_training = model.training
    correct = total = 0
    try:
        with frozen_batchnorm_statistics(model):
            model.train()
            for x, y in iterate_batches(split, batch_size, shuffle=False, augment=False, device=device):
                correct += (model(x).argmax(1) == y).sum().item()
                total += len(y)
    finally:
        model.train(was_training)
    return correct / max(1, total)


@torch.no_grad()
def recalibrated_accuracy(model: nn.Module, calibration: Split, held_out: Split, batches: int = 20) -> float:
    """Eval-mode accuracy on `held_out` after the BatchNorm running statistics are computed
    afresh (a plain average over `batches` train-mode passes of clean `calibration` images;
    the weights untouched). The model's own statistics are restored afterwards. When this
    recovers what eval mode lost, the weights were fine and the running statistics were not."""
    device = next(model.parameters()).device
    layers = batchnorm_layers(model)
    saved = {
        n: (m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone(), m.momentum)
        for n, m in layers.items()
    }
    was_training = model.training
    try:
        for m in layers.values():
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        model.train()
        for i, (x, _) in enumerate(
            iterate_batches(calibration, 128, shuffle=False, augment=False, device=device)
        ):
            if i == batches:
                break
            model(x)
        return accuracy(model, held_out)
    finally:
        for n, m in layers.items():
            mean, var, count, momentum = saved[n]
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(count)
            m.momentum = momentum
        model.train(was_training)


@dataclass
class ProbePoint:
    step: int
    eval_acc: float  # eval-mode accuracy on the held-out images
    batch_stat_acc: float  # the same images through train-mode BatchNorm (batch statistics)
    train_acc: float  # accuracy on the step's training examples (the variant's accuracy view)
    log_ratio_spread: float
    mean_shift: float  # mean over layers of the mean |running mean - batch mean| / batch std
    scale_drift: float  # mean |log(conv weight norm / its norm at step 0)|
    ratios: dict = field(default_factory=dict)  # layer -> running / batch variance


def probe_run(
    model: nn.Module,
    cfg: TrainConfig,
    train_split: Split,
    held_out: Split,
    *,
    steps: int = 60,
    every: int = 10,
    progress=None,
) -> list[ProbePoint]:
    """Fine-tune `model` (in place) for the first `steps` steps of cfg.variant's training
    run on `train_split` (cfg's optimiser, its schedule spanning the whole run of cfg.epochs
    epochs); a ProbePoint at step 0 and every `every` steps. Runs on the model's device;
    randomness from cfg.seed."""
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(cfg.seed)
    opt, sched = make_optimizer(cfg, model, math.ceil(len(train_split) / cfg.batch_size))
    batches = iterate_batches(
        train_split, cfg.batch_size, shuffle=True, augment=cfg.augment, generator=g, device=device
    )
    points: list[ProbePoint] = []
    train_acc = float("nan")
    norms0 = conv_weight_norms(model)
    for step in range(steps + 1):
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iterate_batches(
                train_split, cfg.batch_size, shuffle=True, augment=cfg.augment, generator=g, device=device
            )
            x, y = next(batches)
        if step % every == 0:
            ratios, shifts = batchnorm_mismatch(model, x)
            points.append(
                ProbePoint(
                    step,
                    accuracy(model, held_out),
                    batch_statistics_accuracy(model, held_out),
                    train_acc,
                    log_ratio_spread(ratios),
                    sum(shifts.values()) / max(1, len(shifts)),
                    scale_drift(conv_weight_norms(model), norms0),
                    ratios,
                )
            )
            if progress:
                progress(points[-1])
        if step == steps:
            break
        model.train()
        loss, _ce, _sc, correct = training_step(
            model, model, x, y, cfg, g, None, progress=step / math.ceil(len(train_split) / cfg.batch_size)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        train_acc = correct.item() / len(y)
    return points
