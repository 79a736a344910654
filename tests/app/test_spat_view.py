"""SPAT beside PGD on one image: the mask, the perturbation's budget and where it falls."""

import pytest
import torch

from sc_viz.app.single_image import attack_each
from sc_viz.app.spat_view import mass_on_top_pixels, spat_each
from sc_viz.models import build_model


def test_mass_on_top_pixels_by_hand():
    mask = torch.zeros(1, 1, 2, 5)
    mask[0, 0, 0, :2] = 1.0  # the top fifth: 2 of 10 pixels
    delta = torch.zeros(1, 3, 2, 5)
    delta[0, :, 0, 0] = 0.1  # mass 0.3 on a top pixel
    delta[0, 0, 1, 4] = -0.3  # mass 0.3 elsewhere
    assert mass_on_top_pixels(delta, mask) == pytest.approx(0.5)
    assert mass_on_top_pixels(torch.zeros_like(delta), mask) == 0.0


def test_spat_stays_in_budget_and_lands_more_on_shared_pixels_than_pgd():
    torch.manual_seed(0)
    models = {v: build_model("tinycnn", 10, (0.5,) * 3, (0.25,) * 3).eval() for v in ("a", "b")}
    x = 0.1 + 0.8 * torch.rand(1, 3, 32, 32)
    eps = 8 / 255
    # the page's attack: 10 steps of eps/4 from a random start (one step would leave the
    # random start dominating both perturbations)
    pgd_results = attack_each(models, x, eps, steps=10, label=3)
    spat = spat_each(models, x, pgd_results, eps, steps=10)
    for r in spat.values():
        assert r.mask.shape == (1, 1, 32, 32) and 0 <= r.mask.min() and r.mask.max() <= 1
        assert r.delta.abs().max() <= eps + 1e-6
        assert 0 <= r.x_adv.min() and r.x_adv.max() <= 1
        assert r.spat_share > r.pgd_share + 0.02  # the point of the method
        assert r.pgd_share == pytest.approx(0.2, abs=0.1)  # PGD's sign step falls evenly
        assert len(r.after) == 3
