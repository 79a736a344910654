"""GSCT's collapse (docs/related_methods.md#adv-gsct), as regression tests on a tiny
BatchNorm model: through eval-mode BatchNorm the saliency-consensus gradient moves the
scale of the convolutions' weights, which train-mode BatchNorm (what the CE terms train)
normalises away; through train-mode BatchNorm (the default reading) it cannot."""

import math

import pytest
import torch

from sc_viz.experiments.bn_drift import (
    batch_statistics_accuracy,
    conv_weight_norms,
    running_to_batch_variance,
    scale_drift,
)
from sc_viz.models import build_model
from sc_viz.training.objectives import OBJECTIVES, StepState
from sc_viz.training.related import GsctSettings
from sc_viz.training.trainer import TrainConfig, training_step


def tiny_bn_model(seed=0):
    torch.manual_seed(seed)
    model = build_model("tinycnn", 10, (0.5,) * 3, (0.25,) * 3)
    model.train()
    with torch.no_grad():  # running statistics a few steps old, as in any training run
        for _ in range(3):
            model(torch.rand(32, 3, 16, 16))
    return model


def convs(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def radial_shares(mode: str) -> list[float]:
    """|<grad, w>| / (|grad| |w|) of the consensus term's gradient for each convolution's
    weight: 0 when the term cannot change the weight's scale."""
    model = tiny_bn_model()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(16, 3, 16, 16, generator=g)
    y = torch.randint(0, 10, (16,), generator=g)
    x_o = (x + 0.03 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    gsct = GsctSettings() if mode is None else GsctSettings(saliency_mode=mode)  # None: the default reading
    cfg = TrainConfig(variant="gsct", arch="tinycnn", precision="fp32", gsct=gsct)
    state = StepState(x, y, cfg, model, None, views=("clean", "adv"), inputs={"clean": x, "adv": x_o})
    term = OBJECTIVES["saliency_consensus"].compute(state)
    weights = [c.weight for c in convs(model)]
    grads = torch.autograd.grad(term, weights)
    return [(gr * w).sum().abs().item() / (gr.norm() * w.norm()).item() for gr, w in zip(grads, weights)]


def test_train_mode_consensus_cannot_move_the_scale_of_weights_feeding_batchnorm():
    assert max(radial_shares("train")) < 1e-5


def test_the_default_reading_is_the_train_mode_one():
    assert max(radial_shares(None)) < 1e-5


def test_eval_mode_consensus_moves_the_scale_of_weights_feeding_batchnorm():
    # the first reading: what the old behaviour does, and why it collapsed
    assert max(radial_shares("eval")) > 5e-4  # 100x the train-mode bound


def train_steps(mode: str, steps: int = 40):
    model = tiny_bn_model()
    cfg = TrainConfig(
        variant="gsct",
        arch="tinycnn",
        precision="fp32",
        gsct=GsctSettings(saliency_mode=mode, lambda_=10.0),
        attack_eps=8 / 255,
        attack_step=10 / 255,
        attack_steps=1,
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.05)  # no weight decay: scales move only by the loss
    g = torch.Generator().manual_seed(0)
    start = conv_weight_norms(model)
    for _ in range(steps):
        x = torch.rand(32, 3, 16, 16, generator=g)
        y = (x[:, 0].mean(dim=(1, 2)) * 10).long().clamp(0, 9)
        loss, *_ = training_step(model, model, x, y, cfg, g, None)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, scale_drift(conv_weight_norms(model), start)


def test_after_training_steps_only_the_eval_mode_reading_has_moved_the_weight_scales():
    _, drift_train = train_steps("train")
    _, drift_eval = train_steps("eval")
    assert drift_eval > 3 * drift_train
    assert drift_eval > 0.02


def test_running_to_batch_variance_is_one_when_the_running_statistics_are_the_batch_s():
    model = tiny_bn_model()
    x = torch.rand(64, 3, 16, 16)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0  # running statistics := this batch's
    with torch.no_grad():
        model.train()(x)
    ratios = running_to_batch_variance(model, x)
    # running_var is the unbiased batch variance: n / (n - 1) of the biased one
    for name, r in ratios.items():
        n = 64 * (16 * 16 if name.endswith("1") else 8 * 8)
        assert r == pytest.approx(n / (n - 1), rel=1e-4)
    assert all(m.momentum == 1.0 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert math.isfinite(batch_statistics_accuracy(model, _tiny_split()))


def _tiny_split():
    from sc_viz.data import Split

    images = torch.randint(0, 256, (20, 3, 16, 16), dtype=torch.uint8)
    return Split(images=images, labels=torch.randint(0, 10, (20,)), classes=[str(i) for i in range(10)])
