"""Intervals and verdicts against answers known by hand or from scipy."""

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from sc_viz.evaluate import stats


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (512, 1000), (9150, 10000)])
def test_wilson_matches_scipy(k, n):
    ours = stats.wilson_interval(k, n)
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert ours.estimate == pytest.approx(k / n)
    assert (ours.low, ours.high) == (pytest.approx(ref.low, abs=1e-12), pytest.approx(ref.high, abs=1e-12))


def test_wilson_by_hand():
    # p = 0.5, n = 100, z = 1.959964: centre 0.5, half = z / (1 + z^2/n) * sqrt(0.0025 + z^2 / 40000)
    z = 1.959963984540054
    half = z / (1 + z * z / 100) * math.sqrt(0.25 / 100 + z * z / 40000)
    i = stats.wilson_interval(50, 100)
    assert (i.low, i.high) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))
    assert stats.accuracy_interval(0.5, 100) == i  # from a stored accuracy and n
    assert stats.wilson_interval(0, 0) is None and stats.accuracy_interval(None, 10) is None


def test_bootstrap_of_constant_values_is_a_point():
    i = stats.bootstrap_interval([2.5] * 40)
    assert (i.estimate, i.low, i.high) == (2.5, 2.5, 2.5)


def test_bootstrap_of_a_proportion_matches_the_normal_interval():
    # 400 values, half ones: the mean's standard error is 0.5 / 20 = 0.025, so the
    # percentile interval is about 0.5 +- 1.96 * 0.025 = [0.451, 0.549]
    values = [0.0, 1.0] * 200
    i = stats.bootstrap_interval(values, n_boot=20000, seed=3)
    assert i.estimate == 0.5
    assert i.low == pytest.approx(0.451, abs=0.006) and i.high == pytest.approx(0.549, abs=0.006)


def test_bootstrap_is_seeded_and_drops_missing_values():
    rng = np.random.default_rng(0)
    values = rng.normal(size=50).tolist()
    assert stats.bootstrap_interval(values, seed=1) == stats.bootstrap_interval(values, seed=1)
    assert stats.bootstrap_interval(values, seed=1) != stats.bootstrap_interval(values, seed=2)
    with_gaps = values + [None, float("nan")]
    assert stats.bootstrap_interval(with_gaps, seed=1) == stats.bootstrap_interval(values, seed=1)
    assert stats.bootstrap_interval([None, float("nan")]) is None


def test_paired_difference_cancels_what_the_images_share():
    # b = a + 0.1 on every image: the difference is exactly -0.1 whatever the resample,
    # although the images' values spread far wider than 0.1
    rng = np.random.default_rng(0)
    a = rng.normal(scale=5.0, size=200)
    b = a + 0.1
    i = stats.paired_difference_interval(a.tolist(), b.tolist())
    assert (i.estimate, i.low, i.high) == (pytest.approx(-0.1), pytest.approx(-0.1), pytest.approx(-0.1))
    # unpaired, the same means would be within noise
    ia, ib = stats.bootstrap_interval(a), stats.bootstrap_interval(b)
    assert ia.low < ib.estimate < ia.high
    with pytest.raises(ValueError):
        stats.paired_difference_interval([1.0], [1.0, 2.0])


def test_verdict_has_three_outcomes():
    above, below, across = (
        stats.Interval(0.2, 0.1, 0.3),
        stats.Interval(-0.2, -0.3, -0.1),
        stats.Interval(0.0, -0.1, 0.1),
    )
    assert stats.verdict(above, "higher") == "holds"
    assert stats.verdict(below, "higher") == "does not hold"
    assert stats.verdict(below, "lower") == "holds"
    assert stats.verdict(above, "lower") == "does not hold"
    assert stats.verdict(across, "higher") == stats.verdict(across, "lower") == "within noise"
    assert stats.verdict(None, "lower") == "n/a (rerun the suite)"
    with pytest.raises(ValueError):
        stats.verdict(above, "bigger")


def test_values_survive_their_encoding():
    values = [0.123456, 2.0, 0.0, None, 13.75]
    decoded = stats.decode_values(stats.encode_values(values))
    assert decoded[:3] == [pytest.approx(0.12346), 2.0, 0.0] and math.isnan(decoded[3])
    assert decoded[4] == 13.75 and stats.decode_values(None) is None


def robustness_report(per_image: bool) -> dict:
    """A report with only the robustness suite on 200 images: adv right on every image,
    standard on none, c on the same images as standard, advc on none."""
    n = 200
    correct = {"standard": [0] * n, "c": [0] * n, "adv": [1] * n, "advc": [0] * n}
    suite = {}
    for v, flags in correct.items():
        suite[v] = {
            "clean_acc": 0.9,
            "pgd_acc": sum(flags) / n,
            "n": n,
            "eps": 8 / 255,
            "step_size": 2 / 255,
            "steps": 10,
            "random_start": True,
            "norm": "Linf",
        }
        if per_image:
            suite[v]["per_image"] = {
                "clean_correct": stats.encode_values([1] * n),
                "pgd_correct": stats.encode_values(flags),
            }
    return {
        "pack": {
            "name": "p",
            "path": "p",
            "dataset": "cifar10",
            "arch": "resnet20",
            "input_size": 32,
            "variants": list(correct),
            "hash": "0" * 64,
        },
        "environment": {},
        "updated": "now",
        "settings": {"robustness": {"seed": 0, "n": n}},
        "status": {"robustness": {"state": "complete"}},
        "suites": {"robustness": suite},
    }


def test_claims_get_their_verdict_from_the_paired_interval():
    from sc_viz.evaluate import claims

    checked = {(c.claim.variant, c.claim.reference): c for c in claims.check(robustness_report(True))}
    assert checked[("adv", "standard")].verdict == "holds"
    assert checked[("adv", "standard")].interval == [1.0, 1.0]
    assert checked[("advc", "adv")].verdict == "does not hold"
    # both 0 of 200 on every image: not testable (not a floor: 0/200's upper bound is 1.9%)
    assert checked[("c", "standard")].verdict == stats.BOTH_ZERO


def test_a_report_without_per_image_values_still_renders():
    from sc_viz.evaluate import claims
    from sc_viz.evaluate.report import charts, render_markdown

    old = robustness_report(False)
    # accuracies fall back to Newcombe's unpaired interval: adv 100% vs standard 0% on 200
    checked = {(c.claim.variant, c.claim.reference): c for c in claims.check(old)}
    assert not checked[("adv", "standard")].paired
    assert checked[("adv", "standard")].verdict == "holds"
    assert checked[("c", "standard")].verdict == stats.BOTH_ZERO  # 0% and 0%, unpaired too
    md = render_markdown(old)
    assert "n/a (rerun the suite)" in md
    # Wilson needs only the accuracy and n: 90% of 200 -> [85.05, 93.47]
    ref = binomtest(180, 200).proportion_ci(method="wilson")
    assert f"90.00% [{100 * ref.low:.2f}, {100 * ref.high:.2f}]" in md
    (chart,) = charts(old)
    assert chart.panels[0].errors["adv"][1] == [
        pytest.approx(b) for b in stats.wilson_interval(200, 200).as_list()
    ]


def test_newcombe_interval_by_hand():
    # Newcombe (1998), method 10: d -+ sqrt((p1 - l1)^2 + (u2 - p2)^2), ... from Wilson bounds
    a, b = stats.wilson_interval(56, 70), stats.wilson_interval(48, 80)
    i = stats.unpaired_accuracy_difference(0.8, 70, 0.6, 80)
    assert i.estimate == pytest.approx(0.2)
    assert i.low == pytest.approx(0.2 - math.sqrt((0.8 - a.low) ** 2 + (b.high - 0.6) ** 2))
    assert i.high == pytest.approx(0.2 + math.sqrt((a.high - 0.8) ** 2 + (0.6 - b.low) ** 2))
    # Newcombe's worked example (56/70 vs 48/80): 0.0524 to 0.3339
    assert (i.low, i.high) == (pytest.approx(0.0524, abs=1e-4), pytest.approx(0.3339, abs=1e-4))


def test_two_floors_are_not_testable_never_within_noise():
    from sc_viz.evaluate import claims

    report = robustness_report(True)
    for v in ("standard", "c"):  # 0 of 4,000: Wilson's upper bound 0.096%, below the 0.1% line
        report["suites"]["robustness"][v].update(
            n=4000,
            pgd_acc=0.0,
            per_image={"clean_correct": stats.encode_values([1] * 4000), "pgd_correct": "0 " * 3999 + "0"},
        )
    checked = {(c.claim.variant, c.claim.reference): c for c in claims.check(report)}
    assert checked[("c", "standard")].verdict == stats.AT_FLOOR == "at floor: not testable at this budget"
    assert "within noise" not in claims.markdown(report).split("| c - standard |")[1].split("\n")[0]
    assert stats.at_floor(0.0, 3838) and not stats.at_floor(0.0, 3837) and not stats.at_floor(0.001, 10000)
    assert stats.floor_verdict(0.0, 4000, 0.01, 4000) is None  # one above 0: the interval decides
