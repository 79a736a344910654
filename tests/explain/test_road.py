"""ROAD: noisy linear imputation and the MoRF / LeRF curves."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from sc_viz.explain.road import (
    DEFAULT_FRACTIONS,
    NEIGHBOURS,
    area,
    linear_imputation,
    noisy_linear_imputation,
    removal_order,
    removed_count,
    road_curves,
    road_curves_of_maps,
    road_images,
    road_many,
)

from .helpers import random_image, random_model


def test_linear_imputation_keeps_planes_and_constants():
    rows, cols = np.meshgrid(np.arange(12.0), np.arange(10.0), indexing="ij")
    plane = np.stack([0.02 * rows + 0.03 * cols, 0.5 + 0.0 * rows, 0.01 * rows])  # (3, 12, 10)
    removed = np.zeros((12, 10), bool)
    removed[2:9, 3:8] = True  # an interior hole: the symmetric stencil reproduces a plane
    removed[5, 1] = True
    out = linear_imputation(plane, removed)
    np.testing.assert_allclose(out, plane, atol=1e-12)
    # a hole on the border (asymmetric stencil) still fills a constant with the constant
    removed[0, :4] = True
    const = np.full((1, 12, 10), 0.7)
    np.testing.assert_allclose(linear_imputation(const, removed), const, atol=1e-12)


def test_imputed_pixel_is_the_weighted_mean_of_its_neighbours():
    img = np.random.default_rng(0).random((1, 5, 5))
    removed = np.zeros((5, 5), bool)
    removed[2, 2] = True
    nb = img[0, 1:4, 1:4]
    expected = (nb[0, 1] + nb[2, 1] + nb[1, 0] + nb[1, 2]) / 6 + (
        nb[0, 0] + nb[0, 2] + nb[2, 0] + nb[2, 2]
    ) / 12
    assert linear_imputation(img, removed)[0, 2, 2] == pytest.approx(expected / (4 / 6 + 4 / 12))
    kept = ~removed
    np.testing.assert_array_equal(linear_imputation(img, removed)[0][kept], img[0][kept])
    with pytest.raises(ValueError, match="kept pixel"):
        linear_imputation(img, np.ones((5, 5), bool))


def test_noise_only_on_removed_pixels_with_the_asked_spread():
    img = np.random.default_rng(1).random((3, 32, 32))
    removed = np.random.default_rng(2).random((32, 32)) < 0.5
    clean = linear_imputation(img, removed)
    noisy = noisy_linear_imputation(img, removed, noise=0.05, rng=np.random.default_rng(3))
    diff = noisy - clean
    assert np.all(diff[:, ~removed] == 0)
    assert diff[:, removed].std() == pytest.approx(0.05, rel=0.1)


def test_removal_order_counts_and_fraction_zero():
    heat = torch.tensor([[0.1, -0.9], [0.5, 0.3]])
    assert removal_order(heat, "morf").tolist() == [2, 3, 0, 1]
    assert removal_order(heat, "lerf").tolist() == [1, 0, 3, 2]
    assert removal_order(heat, "morf", absolute=True).tolist() == [1, 2, 3, 0]
    assert [removed_count(f, 1024) for f in (0.0, 0.1, 0.3, 0.9)] == [0, 102, 307, 921]
    assert [removed_count(f, 10) for f in (0.3, 0.7)] == [3, 7]
    x = random_image(8, 8)
    images = road_images(x, torch.rand(8, 8), "morf", fractions=(0.0, 0.5), noise=0.0)
    assert torch.equal(images[0], x)
    assert (images[1] != x).any(dim=0).sum() <= 32


class RegionModel(nn.Module):
    """logit_0 = 10 * (mean red of the left half - 0.5), logit_1 = 0: only the left half
    matters, so a map of the left half is faithful and one of the right half is not."""

    def forward(self, x):  # (N, 3, H, W) -> (N, 2)
        w = x.shape[-1]
        a = 10 * (x[:, 0, :, : w // 2].mean(dim=(1, 2)) - 0.5)
        return torch.stack([a, torch.zeros_like(a)], dim=1)


def test_faithful_map_has_a_positive_gap_and_its_opposite_a_negative_one():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 16, 16, generator=g)
    x[0, :, :8] = 0.9 + 0.1 * torch.rand(16, 8, generator=g)  # bright red left half: class 0
    x[0, :, 8:] = 0.1 * torch.rand(16, 8, generator=g)  # the right half holds dark pixels
    ramp = torch.linspace(1, 0, 16).expand(16, 16)  # left columns most relevant
    good = road_curves(RegionModel(), x, ramp, 0, noise=0.01)
    bad = road_curves(RegionModel(), x, -ramp, 0, noise=0.01)
    assert good["fractions"] == list(DEFAULT_FRACTIONS)
    assert good["morf"][0] == pytest.approx(good["lerf"][0])  # nothing removed yet
    assert good["gap"] > 0.1 and bad["gap"] < -0.1
    assert good["morf"][-1] < good["morf"][0]
    assert good["gap"] == pytest.approx(good["lerf_area"] - good["morf_area"])
    assert set(good["morf_top1"]) <= {0, 1}


def test_area_is_a_mean_over_the_fractions():
    assert area([0, 0.5, 1], [1, 1, 1]) == pytest.approx(1)
    assert area([0.0, 0.9], [1.0, 0.0]) == pytest.approx(0.5)


def test_road_many_leaves_the_models_unchanged():
    models = {"a": random_model("tinycnn", 0), "b": random_model("tinycnn", 1)}
    before = {v: {k: t.clone() for k, t in m.state_dict().items()} for v, m in models.items()}
    x = random_image()
    curves = road_many(
        models, x, {v: torch.rand(32, 32) for v in models}, {"a": 1, "b": 2}, fractions=(0.0, 0.2, 0.4)
    )
    assert set(curves) == {"a", "b"} and len(curves["a"]["morf"]) == 3
    for v, m in models.items():
        assert all(torch.equal(before[v][k], t) for k, t in m.state_dict().items())
    with pytest.raises(ValueError, match="fractions"):
        road_curves(models["a"], x, torch.rand(32, 32), 0, fractions=(0.0, 1.0))


def dense_imputation(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """The ROAD system written out pixel by pixel and solved densely (a reference)."""
    c, h, w = image.shape
    gone = [(r, q) for r in range(h) for q in range(w) if removed[r, q]]
    index = {p: i for i, p in enumerate(gone)}
    a, b = np.zeros((len(gone), len(gone))), np.zeros((len(gone), c))
    for i, (r, q) in enumerate(gone):
        for dr, dc, weight in NEIGHBOURS:
            nr, nq = r + dr, q + dc
            if 0 <= nr < h and 0 <= nq < w:
                a[i, i] += weight
                if (nr, nq) in index:
                    a[i, index[(nr, nq)]] -= weight
                else:
                    b[i] += weight * image[:, nr, nq]
    out = image.astype(np.float64).copy()
    solved = np.linalg.solve(a, b)
    for i, (r, q) in enumerate(gone):
        out[:, r, q] = solved[i]
    return out


@pytest.mark.parametrize("share", [0.05, 0.5, 0.95])
def test_linear_imputation_solves_the_roads_system(share):
    rng = np.random.default_rng(int(100 * share))
    img = rng.random((3, 9, 13))
    removed = rng.random((9, 13)) < share
    removed[0, 0], removed[-1, -1] = True, False  # a corner removed, one pixel kept
    np.testing.assert_allclose(linear_imputation(img, removed), dense_imputation(img, removed), atol=1e-12)


def test_nothing_removed_is_the_models_own_probability():
    model = random_model("tinycnn", 3)
    x = random_image(seed=4)
    heat = torch.rand(32, 32, generator=torch.Generator().manual_seed(5))
    curves = road_curves(model, x, heat, 5, fractions=(0.0, 0.3, 0.6))
    images = road_images(x, heat, "morf", fractions=(0.0, 0.3, 0.6), seed=0)
    with torch.no_grad():
        p = model(x[None]).softmax(dim=1)[0, 5].item()
        probs = model(images).softmax(dim=1)[:, 5]
    assert curves["morf"][0] == pytest.approx(p, abs=1e-6) and curves["lerf"][0] == pytest.approx(p, abs=1e-6)
    # the other fractions are the model's probabilities of the imputed images
    np.testing.assert_allclose(curves["morf"], probs.numpy(), atol=1e-6)


def test_several_maps_in_shared_passes_give_each_maps_own_curves():
    model = random_model("tinycnn", 3)
    x = random_image(seed=6)
    g = torch.Generator().manual_seed(7)
    heats = {m: torch.randn(32, 32, generator=g) for m in ("a", "b", "c")}
    together = road_curves_of_maps(model, x, heats, 2, noise=0.01, seed=9, batch_size=16)
    assert list(together) == ["a", "b", "c"]
    for m, heat in heats.items():  # same noise seeds; batches of other sizes: float rounding only
        alone = road_curves(model, x, heat, 2, noise=0.01, seed=9)
        assert together[m].keys() == alone.keys()
        for k in ("morf", "lerf"):
            np.testing.assert_allclose(together[m][k], alone[k], atol=1e-6)
            assert together[m][f"{k}_top1"] == alone[f"{k}_top1"]
        assert together[m]["gap"] == pytest.approx(alone["gap"], abs=1e-6)
    assert together["a"]["morf"] != together["b"]["morf"]  # each map's own removal order
