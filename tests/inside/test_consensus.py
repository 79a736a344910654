"""Saliency consensus: the three agreement numbers against hand computations, and the
maps of x and x' for a model whose gradient map cannot move."""

import math

import pytest
import torch
import torch.nn as nn

from sc_viz.attacks import PGDConfig
from sc_viz.inside.consensus import (
    PGD_KIND,
    cosine,
    map_consensus,
    method_consensus,
    perturbed_views,
    spearman,
    top_iou,
)

A = torch.tensor([[1.0, 2.0], [3.0, 4.0]])


def test_identical_maps_agree_fully():
    m = torch.rand(8, 8, generator=torch.Generator().manual_seed(0))
    assert map_consensus(m, m.clone()) == pytest.approx({"cosine": 1.0, "spearman": 1.0, "iou": 1.0})


def test_a_map_and_its_negation():
    m = torch.arange(100, dtype=torch.float32).reshape(10, 10)
    r = map_consensus(m, -m, fraction=0.1)
    assert r["cosine"] == pytest.approx(-1.0)
    assert r["spearman"] == pytest.approx(-1.0)
    assert r["iou"] == 0.0  # top 10 values of m are 90..99, of -m the pixels 0..9


def test_known_different_maps_by_hand():
    b = torch.tensor([[1.0, 2.0], [4.0, 3.0]])
    # cosine: (1 + 4 + 12 + 12) / (sqrt(30) sqrt(30)) = 29 / 30
    assert cosine(A, b) == pytest.approx(29 / 30)
    # Spearman: ranks (1, 2, 3, 4) vs (1, 2, 4, 3): 1 - 6 * (0 + 0 + 1 + 1) / (4 * 15) = 0.8
    assert spearman(A, b) == pytest.approx(0.8)
    # top 50%: {3, 4} of A at pixels {2, 3}, of b also {2, 3}; top 25%: pixel 3 vs pixel 2
    assert top_iou(A, b, 0.5) == 1.0
    assert top_iou(A, b, 0.25) == 0.0
    c = torch.tensor([[4.0, 1.0], [3.0, 2.0]])
    # top 50%: A {2, 3}, c {0, 2}: one shared pixel of three -> 1/3
    assert top_iou(A, c, 0.5) == pytest.approx(1 / 3)
    # cosine (4 + 2 + 9 + 8) / 30; Spearman: ranks (1, 2, 3, 4) vs (4, 1, 3, 2): d^2 = 9+1+0+4
    assert cosine(A, c) == pytest.approx(23 / 30)
    assert spearman(A, c) == pytest.approx(1 - 6 * 14 / 60)


def test_undefined_cases_are_nan():
    assert math.isnan(cosine(torch.zeros(3, 3), A.repeat(2, 2)[:3, :3]))
    assert math.isnan(spearman(torch.ones(2, 2), A))


class PixelLinear(nn.Module):
    """logits = <x, W_c>: the input gradient is W_c whatever the image."""

    def __init__(self, seed: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(10, 3, 8, 8, generator=torch.Generator().manual_seed(seed)))

    def forward(self, x):  # (N, 3, H, W) -> (N, 10)
        return torch.einsum("nchw,kchw->nk", x, self.weight)


def test_a_gradient_map_that_cannot_move_agrees_under_pgd_and_photometric_views():
    models = {"standard": PixelLinear(0).eval(), "adv": PixelLinear(1).eval()}
    x = 0.2 + 0.6 * torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    attack = PGDConfig(eps=8 / 255, step_size=2 / 255, steps=3, random_start=True)
    views = perturbed_views(
        models,
        x,
        kinds=[PGD_KIND, "brightness", "hue"],
        level=3,
        attacks={v: attack for v in models},
        labels={v: 0 for v in models},
        generator=torch.Generator().manual_seed(0),
    )
    assert not torch.equal(views[PGD_KIND]["standard"], views[PGD_KIND]["adv"])  # own PGD each
    assert views["brightness"]["standard"] is views["brightness"]["adv"]  # one shared image
    assert (views[PGD_KIND]["adv"] - x).abs().max() <= 8 / 255 + 1e-6
    targets = {"standard": 3, "adv": 5}
    pairs = method_consensus("saliency", models, x, views, targets)
    for v in models:
        assert set(pairs[v]) == {PGD_KIND, "brightness", "hue"}
        for pair in pairs[v].values():
            assert pair.measures == pytest.approx({"cosine": 1.0, "spearman": 1.0, "iou": 1.0})
            assert pair.clean.shape == pair.moved.shape == (8, 8)
    # the gradient saliency map is max over colours of |W_target|, by hand
    hand = models["adv"].weight[5].detach().abs().amax(0)
    clean = pairs["adv"]["hue"].clean
    assert torch.allclose(clean / clean.max(), hand / hand.max(), atol=1e-5)
