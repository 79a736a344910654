"""experiments.seeds: spread over seeds, image intervals, and the seed rule of a verdict."""

import numpy as np
import pytest

from sc_viz.evaluate.stats import FAILS, HOLDS, NOISE
from sc_viz.experiments.seeds import compare, ordering, seed_mean_per_image, spread, summary


def test_spread_and_summary():
    s = spread([0.8, 0.9, None, 0.7])
    assert s["n_seeds"] == 3 and s["mean"] == pytest.approx(0.8) and (s["min"], s["max"]) == (0.7, 0.9)
    assert s["std"] == pytest.approx(0.1)
    rng = np.random.default_rng(0)
    per_seed = [rng.normal(1.0, 0.3, 200) for _ in range(3)]
    out = summary(per_seed)
    assert out["per_seed"] == pytest.approx([v.mean() for v in per_seed])
    low, high = out["ci"]
    assert low < seed_mean_per_image(per_seed).mean() < high and high - low < 0.2


def test_seeds_must_share_images():
    with pytest.raises(ValueError, match="different numbers of images"):
        seed_mean_per_image([[1, 2, 3], [1, 2]])


def test_a_verdict_needs_every_seed_to_agree():
    n = 300
    b = [np.zeros(n), np.zeros(n)]
    # seed 0: +1 on every image, seed 1: -0.2: the averaged interval is [0.4, 0.4], but
    # the seeds disagree, so the claim is within noise
    disagree = compare([np.ones(n), np.full(n, -0.2)], b)
    assert disagree["ci"] == pytest.approx([0.4, 0.4]) and disagree["per_seed"] == pytest.approx([1, -0.2])
    assert not disagree["seeds_agree"] and disagree["verdict"] == NOISE
    agree = compare([np.ones(n), np.full(n, 0.2)], b)
    assert agree["verdict"] == HOLDS and agree["seeds_agree"]
    assert compare([np.full(n, -1.0), np.full(n, -0.5)], b)["verdict"] == FAILS
    assert compare([np.full(n, -1.0), np.full(n, -0.5)], b, "lower")["verdict"] == HOLDS


def test_ordering_chain():
    n = 100
    runs = {v: [np.full(n, x), np.full(n, x)] for v, x in (("advc", 0.9), ("adv", 0.8), ("c", 0.85))}
    out = ordering(runs, ("advc", "adv", "c", "standard"))
    assert out["order"] == ["advc", "adv", "c"]  # standard absent
    assert out["pairs"]["advc > adv"]["verdict"] == HOLDS
    assert out["pairs"]["adv > c"]["verdict"] == FAILS
    assert out["chain"] == FAILS
