"""The related methods' pieces (docs/related_methods.md) on tiny models with answers known
by hand: SPAT's shared mask and step, SNS's sensitivity term, GSCT's saliency consensus."""

import dataclasses

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from sc_viz.attacks import PGDConfig, pgd, shared_pixel_mask, shared_pixel_pgd
from sc_viz.models import build_model
from sc_viz.training.generators import GENERATORS
from sc_viz.training.objectives import OBJECTIVES, StepState, gsct_target, objective_step
from sc_viz.training.related import GsctSettings, SnsSettings, SpatSettings
from sc_viz.training.trainer import TrainConfig
from sc_viz.variants import VARIANTS

H = W = 4
C = 3  # classes


def linear_model(seed=0, dtype=torch.float32) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * H * W, C)).to(dtype)


def hooks_left(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


# ---------------------------------------------------------------- SPAT
def test_shared_mask_of_a_linear_model_is_the_formula_by_hand():
    # z_c = W_c . x + b_c, so dz_c/dx = W_c: s_c = sum_channels |W_c|, normalised per image
    # to max 1; M = min_c s_c / max(min_c s_c), the same for every image.
    model = linear_model()
    x = torch.rand(5, 3, H, W)
    w = model[1].weight.detach().abs().view(C, 3, H, W).sum(dim=1)  # (C, H, W)
    s = w / w.flatten(1).amax(dim=1)[:, None, None]
    expected = s.min(dim=0).values / s.min(dim=0).values.max()
    for batched in (True, False):
        mask = shared_pixel_mask(model, x, top_k=C, batched=batched)
        assert mask.shape == (5, 1, H, W)
        assert torch.allclose(mask, expected.expand(5, 1, H, W), atol=1e-6)


def test_shared_mask_is_in_unit_interval_and_top_k_takes_the_predicted_classes():
    model = build_model("tinycnn", 10, (0.5,) * 3, (0.25,) * 3).eval()
    x = torch.rand(6, 3, 32, 32)
    mask = shared_pixel_mask(model, x, top_k=10)
    assert mask.min() >= 0 and mask.max() <= 1
    assert torch.allclose(mask.flatten(1).amax(dim=1), torch.ones(6))
    # the min over more classes can only be lower before renormalising: masks differ
    assert not torch.allclose(shared_pixel_mask(model, x, top_k=2), mask)
    assert torch.equal(
        shared_pixel_mask(model, x, top_k=3, batched=True),
        shared_pixel_mask(model, x, top_k=3, batched=False),
    )


def test_spat_perturbation_stays_in_the_ball_and_in_the_image_range():
    model = build_model("tinycnn", 10, (0.5,) * 3, (0.25,) * 3).eval()
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))
    cfg = PGDConfig(8 / 255, 3 / 255, 4, True)
    x_adv = shared_pixel_pgd(model, x, y, cfg, gamma=0.1, top_k=5, generator=torch.Generator().manual_seed(0))
    assert (x_adv - x).abs().max() <= cfg.eps + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_spat_step_is_scaled_by_the_mask_and_lands_on_high_mask_pixels():
    model = build_model("tinycnn", 10, (0.5,) * 3, (0.25,) * 3).eval()
    x = 0.1 + 0.8 * torch.rand(8, 3, 32, 32)  # away from 0 and 1: no clamping
    y = torch.randint(0, 10, (8,))
    one_step = PGDConfig(8 / 255, 8 / 255, 1, False)
    gamma = 0.1
    mask = shared_pixel_mask(model, x, top_k=10)  # (8, 1, 32, 32), at x: the one step's point
    spat = (shared_pixel_pgd(model, x, y, one_step, gamma=gamma, top_k=10) - x).abs()
    plain = (pgd(model, x, y, one_step) - x).abs()
    moved = plain > 0  # pixels whose gradient is non-zero
    scale = (gamma + (1 - gamma) * mask).expand_as(spat)
    assert torch.allclose(spat[moved], (one_step.eps * scale)[moved], atol=1e-6)

    def share_on_top_fifth(delta):  # fraction of the L1 perturbation on the top 20% mask pixels
        per_pixel = delta.sum(dim=1).flatten(1)  # (8, 1024)
        top = mask.flatten(1) >= mask.flatten(1).quantile(0.8, dim=1, keepdim=True)
        return ((per_pixel * top).sum(1) / per_pixel.sum(1)).mean()

    assert share_on_top_fifth(spat) > share_on_top_fifth(plain) + 0.1
    assert share_on_top_fifth(plain) == pytest.approx(0.2, abs=0.05)


# ---------------------------------------------------------------- GSCT
def gsct_state(model, x, x_o, y, **gsct) -> StepState:
    config = TrainConfig(variant="gsct", arch="tinycnn", precision="fp32", gsct=GsctSettings(**gsct))
    return StepState(x, y, config, model, None, views=("clean", "adv"), inputs={"clean": x, "adv": x_o})


def hand_saliency(model, x, y):
    """S = sum_channels |x * g|, g = grad_x mean CE of the linear model, written out:
    g_i = W^T (softmax(W x_i + b) - onehot(y_i)) / B."""
    weight, bias = model[1].weight, model[1].bias
    z = x.flatten(1) @ weight.T + bias
    g = ((z.softmax(1) - F.one_hot(y, C).to(z.dtype)) @ weight / len(y)).view_as(x)
    return (x * g).abs().sum(dim=1).flatten(1)  # (B, H * W)


def test_saliency_consensus_equals_the_hand_computation_on_a_linear_model():
    model = linear_model(dtype=torch.float64)
    x = torch.rand(6, 3, H, W, dtype=torch.float64)
    x_o = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    y = torch.randint(0, C, (6,))
    term = OBJECTIVES["saliency_consensus"].compute(
        gsct_state(model, x, x_o, y, top_fraction=1.0, consensus_fraction=1.0)
    )
    with torch.no_grad():
        expected = (1 - F.cosine_similarity(hand_saliency(model, x, y), hand_saliency(model, x_o, y))).mean()
    assert term.item() == pytest.approx(expected.item(), rel=1e-9)


def test_saliency_consensus_trains_through_the_saliency_double_backprop():
    # S(x) depends on the weights only through grad_x CE: without double backprop the
    # weights would get no gradient. Check autograd's against finite differences (the
    # target T is detached by definition, so it is held fixed).
    model = linear_model(dtype=torch.float64)
    x = torch.rand(4, 3, H, W, dtype=torch.float64)
    x_o = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    y = torch.randint(0, C, (4,))

    target = gsct_target(gsct_state(model, x, x_o, y, top_fraction=0.5))  # detached: held fixed

    def term():
        state = gsct_state(model, x, x_o, y, top_fraction=0.5)
        state.shared["target"] = target
        return OBJECTIVES["saliency_consensus"].compute(state)

    term().backward()
    grad = model[1].weight.grad.clone()
    assert grad.abs().max() > 0
    for idx in [(0, 0), (1, 17), (2, 40)]:
        w = model[1].weight
        with torch.no_grad():
            w[idx] += 1e-6
            up = term().item()
            w[idx] -= 2e-6
            down = term().item()
            w[idx] += 1e-6
        assert grad[idx].item() == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-9)


def test_gsct_step_has_its_four_terms_and_a_pseudo_input_view():
    model = build_model("tinycnn", 10, (0.5,) * 3, (0.25,) * 3)
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))
    cfg = TrainConfig(variant="gsct", arch="tinycnn", precision="fp32", attack_steps=1)
    step = objective_step(model, model, x, y, cfg, torch.Generator().manual_seed(0), None)
    assert set(step.terms) == {"clean_ce", "adv_ce", "saliency_consensus", "pseudo_ce"}
    assert 0 <= step.terms["saliency_consensus"] <= 2
    expected = (
        step.terms["clean_ce"]
        + step.terms["adv_ce"]
        + step.terms["pseudo_ce"]
        + cfg.gsct.lambda_ * step.terms["saliency_consensus"]
    )
    assert step.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert model.training  # the eval-mode passes give the train mode back


# ---------------------------------------------------------------- SNS
def test_sns_step_adds_the_weighted_sensitivity_and_leaves_no_hook():
    model = build_model("resnet20", 10, (0.5,) * 3, (0.25,) * 3)
    x, y = torch.rand(4, 3, 32, 32), torch.randint(0, 10, (4,))
    cfg = TrainConfig(variant="sns", precision="fp32", attack_steps=1, sns=SnsSettings(lambda_=0.3))
    step = objective_step(model, model, x, y, cfg, torch.Generator().manual_seed(0), None)
    assert hooks_left(model) == 0
    assert step.terms["sensitivity"] > 0
    assert step.loss.item() == pytest.approx(
        (step.terms["adv_ce"] + 0.3 * step.terms["sensitivity"]).item(), rel=1e-6
    )
    step.loss.backward()
    assert model.net.conv1.weight.grad.abs().sum() > 0


def test_no_hook_is_left_after_a_training_step_that_raises(monkeypatch):
    model = build_model("resnet20", 10, (0.5,) * 3, (0.25,) * 3)
    real = model.net.fc.forward

    def fail_in_training(inp):  # the attack (eval mode) runs; the hooked training pass fails
        if model.training:
            raise RuntimeError("boom")
        return real(inp)

    monkeypatch.setattr(model.net.fc, "forward", fail_in_training)
    cfg = TrainConfig(variant="sns", precision="fp32", attack_steps=1)
    with pytest.raises(RuntimeError, match="boom"):
        objective_step(
            model,
            model,
            torch.rand(2, 3, 32, 32),
            torch.tensor([0, 1]),
            cfg,
            torch.Generator().manual_seed(0),
            None,
        )
    assert hooks_left(model) == 0


# ---------------------------------------------------------------- the registry
def test_every_variant_is_made_of_registered_terms_and_generators():
    for name, spec in VARIANTS.items():
        assert spec.terms and all(t in OBJECTIVES for t in spec.terms), name
        assert spec.generator is None or spec.generator in GENERATORS, name
        views = {v for t in spec.terms for v in OBJECTIVES[t].views}
        assert ("adv" in views) == (spec.generator is not None), name  # a generator iff an adv view
    related = [n for n, s in VARIANTS.items() if s.group == "related"]
    assert related == ["spat", "sns", "gsct"]
    assert all("our reading" in VARIANTS[n].description for n in related)
    colours = [VARIANTS[n].colour for n in VARIANTS.names()]
    assert len(set(colours)) == len(colours)


def test_related_settings_are_recorded_in_the_config():
    cfg = TrainConfig(variant="spat", spat=SpatSettings(gamma=0.3, top_k=4))
    saved = TrainConfig.from_dict(cfg.to_dict())
    assert dataclasses.asdict(saved) == dataclasses.asdict(cfg)
    assert {
        "spat_gamma",
        "spat_top_k",
        "sns_lambda",
        "sns_top_fraction",
        "sns_layers",
        "gsct_lambda",
        "gsct_top_fraction",
        "gsct_consensus_fraction",
    } <= set(cfg.to_dict())
    with pytest.raises(ValueError):
        GsctSettings(top_fraction=0)


# ---------------------------------------------------------------- GSCT adjustments
def test_gsct_warmup_ramps_the_consensus_weight_from_zero():
    model = build_model("tinycnn", 10, (0.5,) * 3, (0.25,) * 3)
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))
    gsct = GsctSettings(lambda_=2.0, warmup_epochs=2)
    cfg = TrainConfig(variant="gsct", arch="tinycnn", precision="fp32", gsct=gsct)
    for progress, factor in ((0.0, 0.0), (0.5, 0.25), (1.0, 0.5), (3.0, 1.0)):
        step = objective_step(
            model, model, x, y, cfg, torch.Generator().manual_seed(0), None, progress=progress
        )
        unweighted = step.terms["clean_ce"] + step.terms["adv_ce"] + step.terms["pseudo_ce"]
        expected = unweighted + 2.0 * factor * step.terms["saliency_consensus"]
        assert step.terms["saliency_consensus"] > 0
        assert step.loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_frozen_batchnorm_statistics_keeps_running_averages_and_restores_momentum():
    from sc_viz.training.objectives import frozen_batchnorm_statistics

    model = build_model("resnet20", 10, (0.5,) * 3, (0.25,) * 3).train()
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    with pytest.raises(RuntimeError), frozen_batchnorm_statistics(model):
        model(torch.rand(4, 3, 32, 32))
        raise RuntimeError("boom")
    after = {k: v for k, v in model.state_dict().items() if "running" in k}
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    model(torch.rand(4, 3, 32, 32))  # and outside the block the statistics move again
    moved = {k: v for k, v in model.state_dict().items() if "running_mean" in k}
    assert any(not torch.equal(before[k], moved[k]) for k in moved)


def test_gsct_separate_pseudo_batch_leaves_running_statistics_to_the_natural_views():
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))
    stats = {}
    for mode in ("shared", "separate"):
        torch.manual_seed(0)
        model = build_model("resnet20", 10, (0.5,) * 3, (0.25,) * 3)
        cfg = TrainConfig(variant="gsct", precision="fp32", gsct=GsctSettings(pseudo_batch=mode))
        step = objective_step(model, model, x, y, cfg, torch.Generator().manual_seed(0), None)
        assert set(step.terms) == {"clean_ce", "adv_ce", "saliency_consensus", "pseudo_ce"}
        stats[mode] = {k: v.clone() for k, v in model.state_dict().items() if "running_mean" in k}
        if mode == "separate":
            step.loss.backward()  # the bare-module pass is part of the graph
            assert all(p.grad is not None for p in model.parameters())
    # the same natural views (x, x_o) under both modes; with x_p in its own batch the
    # running means are those of (x, x_o) alone, so they differ from the shared mode's
    assert any(not torch.allclose(stats["shared"][k], stats["separate"][k]) for k in stats["shared"])
    torch.manual_seed(0)
    model = build_model("resnet20", 10, (0.5,) * 3, (0.25,) * 3)
    cfg = TrainConfig(variant="gsct", precision="fp32")
    x_o = GENERATORS["offending"].generate(model.eval(), x, y, cfg, torch.Generator().manual_seed(0))
    model.train()(torch.cat([x, x_o]))  # one pass over the natural views only
    natural = {k: v for k, v in model.state_dict().items() if "running_mean" in k}
    assert all(torch.allclose(natural[k], stats["separate"][k], atol=1e-6) for k in natural)


def test_gsct_offending_steps_setting_is_the_number_of_pgd_steps():
    model = linear_model()
    x, y = torch.rand(4, 3, H, W), torch.randint(0, C, (4,))
    for steps in (1, 2):
        gsct = GsctSettings(offending_steps=steps)
        cfg = TrainConfig(variant="gsct", arch="tinycnn", precision="fp32", gsct=gsct)
        got = GENERATORS["offending"].generate(model, x, y, cfg, torch.Generator().manual_seed(3))
        want = pgd(
            model,
            x,
            y,
            dataclasses.replace(cfg.train_attack, steps=steps),
            generator=torch.Generator().manual_seed(3),
        )
        assert torch.equal(got, want)
    with pytest.raises(ValueError):
        GsctSettings(pseudo_batch="other")


def test_spat_budget_step_moves_each_image_as_much_as_a_sign_step_on_the_masked_pixels():
    model = build_model("tinycnn", 10, (0.5,) * 3, (0.25,) * 3).eval()
    x = 0.3 + 0.4 * torch.rand(6, 3, 32, 32)  # far from 0 and 1, and eps far above the steps
    y = torch.randint(0, 10, (6,))
    one_step = PGDConfig(0.25, 2 / 255, 1, False)
    budget = (shared_pixel_pgd(model, x, y, one_step, step_norm="budget") - x).abs()
    masked = (shared_pixel_pgd(model, x, y, one_step, step_norm="mask") - x).abs()
    plain = (pgd(model, x, y, one_step) - x).abs()
    assert (plain > 0).float().mean() > 0.99  # the sign step moves (almost) every pixel
    per_image = budget.mean(dim=(1, 2, 3))
    assert torch.allclose(per_image, plain.mean(dim=(1, 2, 3)), rtol=0.02)
    assert (masked.mean(dim=(1, 2, 3)) < 0.8 * per_image).all()  # the mask alone spends less
    # the same direction: budget = masked * (a per-image constant)
    ratio = budget / masked.clamp_min(1e-12)
    moved = masked > 1e-9
    for i in range(6):
        r = ratio[i][moved[i]]
        assert torch.allclose(r, r.median().expand_as(r), rtol=1e-3)


def test_spat_step_norm_is_checked_and_reaches_the_generator():
    with pytest.raises(ValueError, match="step_norm"):
        shared_pixel_pgd(linear_model(), torch.rand(1, 3, H, W), torch.tensor([0]), step_norm="l2")
    with pytest.raises(ValueError, match="spat_step_norm"):
        SpatSettings(step_norm="l2")
    model = build_model("tinycnn", 10, (0.5,) * 3, (0.25,) * 3).eval()
    x, y = 0.3 + 0.4 * torch.rand(4, 3, 32, 32), torch.randint(0, 10, (4,))
    outs = {}
    for norm in ("mask", "budget"):
        cfg = TrainConfig(
            variant="spat",
            arch="tinycnn",
            spat=SpatSettings(step_norm=norm),
            attack_steps=1,
            attack_random_start=False,
        )
        outs[norm] = GENERATORS["shared_pixel_pgd"].generate(
            model, x, y, cfg, torch.Generator().manual_seed(0)
        )
    assert (outs["budget"] - x).abs().mean() > 1.2 * (outs["mask"] - x).abs().mean()
