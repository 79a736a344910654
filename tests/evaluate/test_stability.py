"""Explanation stability: rank correlation and SSIM between maps of x and T(x)."""

import math

import pytest
import torch

from sc_viz.evaluate import stability

from .helpers import PixelLinear, context, label_images


def test_rank_correlation_and_ssim_definitions():
    a = torch.arange(64, dtype=torch.float32).reshape(8, 8)
    assert stability.rank_correlation(a, a) == pytest.approx(1)
    assert stability.rank_correlation(a, -a) == pytest.approx(-1)
    assert stability.rank_correlation(a, a**3) == pytest.approx(1)  # ranks only
    assert math.isnan(stability.rank_correlation(a, torch.ones(8, 8)))
    assert stability.map_ssim(a, a) == pytest.approx(1)
    assert stability.map_ssim(a, 2 * a) < 1
    noise = torch.rand(8, 8, generator=torch.Generator().manual_seed(0))
    assert stability.map_ssim(a, noise) < 0.5
    assert stability.map_ssim(torch.zeros(8, 8), torch.zeros(8, 8)) == 1.0


def test_a_gradient_map_of_a_linear_model_never_moves():
    split = label_images(torch.arange(4) % 10)
    ctx = context({"standard": PixelLinear()}, split, options={"methods": ["saliency"], "stability_limit": 3})
    r = stability.run(ctx)
    assert r["n"] == 3 and r["level"] == 2
    for p in ("brightness", "contrast", "saturation", "hue"):
        assert r["spearman"]["standard"]["saliency"][p] == pytest.approx(1)
        assert r["ssim"]["standard"]["saliency"][p] == pytest.approx(1)


def test_maps_of_a_real_model_move(tiny_pack, cifar_test):
    from sc_viz.data import seeded_subset
    from sc_viz.evaluate import run_suites
    from sc_viz.evaluate.saliency import predicted
    from sc_viz.explain import METHODS
    from sc_viz.packs import load_pack
    from sc_viz.perturb import LEVELS, photometric

    opts = {
        "stability_limit": 2,
        "stability_level": 4,
        "methods": ["ig", "lime"],
        "method_options": {"lime": {"n_samples": 20}, "ig": {"n_steps": 4}},
    }
    r = run_suites(
        tiny_pack,
        ["explanation-stability"],
        limit=10,
        seed=0,
        progress=False,
        figures=False,
        options=opts,
        device="cpu",
        log=lambda *a: None,
    )
    s = r["suites"]["explanation-stability"]
    assert s["level"] == 4 and s["methods"] == ["ig", "lime"]
    assert r["settings"]["explanation-stability"]["method_options"]["lime"]["n_samples"] == 20

    # The same numbers by hand: IG map of x and of T_4(x), both for the class predicted on
    # x, compared by rank; the suite's value is their mean over the 2 sampled images.
    models = load_pack(tiny_pack, device="cpu").models
    sample = seeded_subset(seeded_subset(cifar_test, 10, 0), 2, 0)
    for p in LEVELS:
        by_hand = {v: [] for v in models}
        for i in range(len(sample)):
            x = sample.get(i)[None]  # (1, 3, H, W)
            targets = predicted(models, x)
            base = METHODS["ig"].explain_many(models, x, targets, n_steps=4)
            moved = METHODS["ig"].explain_many(models, photometric(x, p, 4), targets, n_steps=4)
            for v in models:
                by_hand[v].append(stability.rank_correlation(base[v].map, moved[v].map))
        for v in models:
            assert s["spearman"][v]["ig"][p] == pytest.approx(sum(by_hand[v]) / 2, abs=1e-3), (v, p)
            assert -1 <= s["spearman"][v]["ig"][p] < 1 and s["ssim"][v]["ig"][p] < 1, (v, p)
    for v in models:  # the maps moved: level-4 brightness (+64/255) clearly moves every IG map
        assert s["spearman"][v]["ig"]["brightness"] < 0.95 and s["ssim"][v]["ig"]["brightness"] < 0.95
