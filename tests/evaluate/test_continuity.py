"""Mean DS and violations on models whose logits are known in closed form."""

import pytest
import torch

from sc_viz.evaluate import continuity
from sc_viz.perturb import LEVELS, photometric

from .helpers import MeanColour, context, label_images


@pytest.fixture(scope="module")
def result():
    torch.manual_seed(0)
    weight = torch.randn(10, 3)
    models = {"standard": MeanColour(weight), "c": MeanColour(torch.zeros(10, 3))}
    split = label_images(torch.arange(40) % 5)  # red <= 80/255, g/b <= 127/255
    ctx = context(models, split, batch_size=16)  # several batches
    return weight, split, continuity.run(ctx)


def test_brightness_ds_is_the_closed_form(result):
    weight, _, r = result
    # no pixel clips (all <= 127/255 + 64/255 < 1): mean_rgb moves by v on every channel,
    # so DS = ||W @ (v, v, v)|| = v * ||W 1|| for every image
    for level in (1, 2, 3, 4):
        v = 16 * level / 255
        assert r["mean_ds"]["standard"]["brightness"][str(level)] == pytest.approx(
            v * weight.sum(1).norm().item(), rel=1e-5
        )
        assert r["std_ds"]["standard"]["brightness"][str(level)] == pytest.approx(0, abs=1e-5)


def test_every_ds_matches_its_definition(result):
    weight, split, r = result
    x = split.images.float() / 255
    model = MeanColour(weight)
    with torch.no_grad():
        for p in LEVELS:
            for level in (1, 2, 3, 4):
                ds = (model(x) - model(photometric(x, p, level))).norm(dim=1)  # (N,)
                assert r["mean_ds"]["standard"][p][str(level)] == pytest.approx(
                    ds.mean().item(), rel=1e-4, abs=1e-6
                )


def test_a_constant_model_is_perfectly_continuous(result):
    _, _, r = result
    assert all(v == 0 for p in LEVELS for v in r["mean_ds"]["c"][p].values())
    assert r["level1_ds_sum"]["c"] == 0
    assert r["n"] == 40


def test_level1_sum_is_the_sum_over_perturbations(result):
    _, _, r = result
    assert r["level1_ds_sum"]["standard"] == pytest.approx(
        sum(r["mean_ds"]["standard"][p]["1"] for p in LEVELS)
    )


def test_hue_levels_match_photometric():
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    for p in LEVELS:
        for level, xp in continuity.perturbed_levels(x, p).items():
            assert torch.equal(xp, photometric(x, p, level))


def test_violation_counts_on_points_on_a_line():
    # class 0 at 0, 1, 3 (1-D logits); class 1 at 10, 20
    logits = torch.tensor([[0.0], [1.0], [3.0], [10.0], [20.0]])
    labels = torch.tensor([0, 0, 0, 1, 1])
    ds = torch.tensor([2.0, 0.5, 2.5, 11.0, 1.0])
    closer, others = continuity.violation_counts(logits, labels, ds)
    # image 0: neighbours at distance 1 and 3, perturbed copy at 2 -> 1 closer
    # image 1: neighbours at 1 and 2, copy at 0.5 -> 0; image 2: at 3 and 2, copy 2.5 -> 1
    # image 3: neighbour at 10 < 11 -> 1; image 4: neighbour at 10 > 1 -> 0
    assert closer.tolist() == [1, 0, 1, 1, 0]
    assert others.tolist() == [2, 2, 2, 1, 1]


def test_violation_rates_match_brute_force(result):
    weight, split, r = result
    x = split.images.float() / 255
    model = MeanColour(weight)
    with torch.no_grad():
        f = model(x)
        fp = model(photometric(x, "contrast", 3))
    rates, hits = [], []
    for i in range(len(x)):
        d_copy = (f[i] - fp[i]).norm()
        same = [j for j in range(len(x)) if j != i and split.labels[j] == split.labels[i]]
        closer = sum(bool((f[i] - f[j]).norm() < d_copy) for j in same)
        rates.append(closer / len(same))
        hits.append(closer > 0)
    assert r["violation_rate"]["standard"]["contrast"]["3"] == pytest.approx(sum(rates) / len(rates))
    assert r["violated_share"]["standard"]["contrast"]["3"] == pytest.approx(sum(hits) / len(hits))
    # the constant model maps everything to one point: nothing is strictly closer
    assert r["violation_rate"]["c"]["contrast"]["3"] == 0


def test_per_image_values_and_intervals(result):
    from sc_viz.evaluate.stats import bootstrap_interval, decode_values

    _, split, r = result
    level = r["per_image"]["level"]
    ds = decode_values(r["per_image"]["ds"]["standard"]["hue"])
    assert len(ds) == len(split)
    assert sum(ds) / len(ds) == pytest.approx(r["mean_ds"]["standard"]["hue"][str(level)], rel=1e-4)
    low, high = r["ci"]["mean_ds"]["standard"]["hue"][str(level)]
    assert low <= r["mean_ds"]["standard"]["hue"][str(level)] <= high and low < high
    # the stored interval is the seeded bootstrap of the stored per-image values
    again = bootstrap_interval(ds)
    assert (low, high) == (pytest.approx(again.low, rel=1e-3), pytest.approx(again.high, rel=1e-3))
    # the constant model: every DS is 0, so its interval is the point 0
    assert r["ci"]["mean_ds"]["c"]["brightness"]["1"] == [0.0, 0.0]
    fractions = decode_values(r["per_image"]["violation_fraction"]["standard"]["contrast"])
    assert sum(fractions) / len(fractions) == pytest.approx(
        r["violation_rate"]["standard"]["contrast"][str(level)], rel=1e-4
    )
    share_low, share_high = r["ci"]["violated_share"]["standard"]["contrast"]["3"]
    assert share_low <= r["violated_share"]["standard"]["contrast"]["3"] <= share_high
