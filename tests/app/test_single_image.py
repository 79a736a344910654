import pytest
import torch

from sc_viz import load_pack
from sc_viz.app import single_image
from sc_viz.perturb import LEVELS


@pytest.fixture(scope="module")
def models(tiny_pack):
    return load_pack(tiny_pack, device="cpu").models


def test_top_k_sorted_probabilities(models):
    pred = single_image.top_k(models["standard"], torch.rand(1, 3, 32, 32))
    assert len(pred) == 3 and pred[0][1] >= pred[1][1] >= pred[2][1]


def test_ds_per_level_matches_direct_computation(models):
    x = torch.rand(1, 3, 32, 32)
    table = single_image.ds_per_level(models, x)
    assert set(table) == set(models) and set(table["c"]) == set(LEVELS)
    from sc_viz.perturb import photometric

    m = models["c"]
    with torch.no_grad():
        direct = (m(x) - m(photometric(x, "hue", 3))).norm().item()
    assert table["c"]["hue"][3] == pytest.approx(direct, rel=1e-4, abs=1e-5)
    rows = single_image.ds_rows(table)
    assert len(rows) == 4 * 4 * 4 and {"variant", "perturbation", "level", "ds"} <= set(rows[0])


def test_attack_stays_in_budget_and_is_seeded(models):
    x = torch.rand(1, 3, 32, 32)
    eps = 8 / 255
    a = single_image.attack_each(models, x, eps, steps=3, label=1)
    b = single_image.attack_each(models, x, eps, steps=3, label=1)
    for v, r in a.items():
        assert r.delta.abs().max() <= eps + 1e-6 and 0 <= r.x_adv.min() and r.x_adv.max() <= 1
        assert torch.equal(r.x_adv, b[v].x_adv) and r.label == 1
    rows = single_image.attack_rows(a, [str(i) for i in range(10)], eps)
    assert len(rows) == 4 and rows[0]["linf"] <= eps + 1e-6


def test_zero_eps_returns_the_image(models):
    r = single_image.attack_each({"standard": models["standard"]}, torch.rand(1, 3, 32, 32), 0.0)
    assert r["standard"].delta.abs().max() == 0 and not r["standard"].flipped
    assert single_image.amplify(r["standard"].delta, 0.0).eq(0.5).all()


def test_clean_and_adversarial_maps(models):
    from sc_viz.app.maps import clean_and_adversarial

    x = torch.rand(1, 3, 32, 32)
    clean, adv = clean_and_adversarial(models["adv"], x, (x + 0.03).clamp(0, 1), "gradcam")
    assert clean.map.shape == adv.map.shape == (32, 32)
    assert clean.target == single_image.top_k(models["adv"], x)[0][0]
