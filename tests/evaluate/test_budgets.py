"""Robustness across attack budgets (evaluate/budgets.py, budget_claims.py, budget_figures.py)
on hand-built models whose answers are known."""

from __future__ import annotations

import pytest
import torch

from sc_viz import paper
from sc_viz.data import seeded_subset
from sc_viz.evaluate import budget_claims, budgets, robustness, stats
from sc_viz.figures.budgets import budget_figure, budget_png, curves
from sc_viz.models import build_model

from .helpers import AlwaysZero, LabelReader, context, label_images

LABELS = torch.arange(30) % 10  # 3 images per class


def sweep(models, split, **options):
    options.setdefault("budgets_check", "none")
    ctx = context(models, split, batch_size=8, options=options)
    return budgets.run(ctx)


def test_pgd_accuracy_does_not_increase_with_eps_on_a_known_model():
    # LabelReader reads the label off the mean red value, one class per 20/255: PGD moving the
    # red mean by eps cannot change the class below 10/255 and always can above it
    r = sweep({"standard": LabelReader(), "c": AlwaysZero()}, label_images(LABELS), budgets=[2, 8, 12, 24])
    assert r["budgets"] == ["2", "8", "12", "24"] and r["n"] == 30
    pgd = [r["results"]["standard"][k]["pgd_acc"] for k in r["budgets"]]
    assert pgd == [1.0, 1.0, 0.0, 0.0]
    assert all(a >= b for a, b in zip(pgd, pgd[1:]))  # never up with eps
    # a zero gradient: no budget moves AlwaysZero, right on class 0 (a tenth) at every eps
    assert [r["results"]["c"][k]["pgd_acc"] for k in r["budgets"]] == [pytest.approx(0.1)] * 4
    row = r["results"]["standard"]["8"]
    assert (row["eps"], row["step_size"], row["steps"]) == (8 / 255, 2 / 255, 10)  # step eps/4
    assert row["clean_acc"] == 1.0 and row["random_start"] and row["norm"] == "Linf"
    # per-image results in sample order, as the robustness suite encodes them
    assert stats.decode_values(r["results"]["standard"]["12"]["per_image"]["pgd_correct"]) == [0.0] * 30
    assert r["floor"]["standard"] == {"2": False, "8": False, "12": False, "24": False}  # 0 of 30 is no floor


class NoiseReader(torch.nn.Module):
    """Classifies by a fine digit of the mean pixel value: PGD's gradient is zero, so its
    adversarial image is its random start, and which images it gets right depends on the
    random draws alone."""

    def forward(self, x):  # (N, 3, H, W) -> (N, 10)
        digit = torch.floor(x.detach().mean(dim=(1, 2, 3)) * 1e5).long() % 10  # (N,)
        return torch.nn.functional.one_hot(digit, 10).float() + 0.0 * x.sum(dim=(1, 2, 3))[:, None]


def test_the_8_255_row_equals_the_robustness_suite_bit_for_bit():
    # one model whose PGD answers are its random starts, one random-init CNN; 60 test images,
    # a seeded 25 of them for the sweep (in 4 batches): what `--suite robustness --limit 25`
    # attacks, on the same seed, when the sweep runs without --limit
    torch.manual_seed(0)
    models = {"standard": NoiseReader(), "c": build_model("tinycnn", 10, [0.5] * 3, [0.25] * 3).eval()}
    test = label_images(torch.arange(60) % 10, seed=1)
    ctx = context(models, test, batch_size=8, seed=5, options={"budgets_limit": 25, "budgets_check": "none"})
    swept = budgets.run(ctx)
    same_images = seeded_subset(test, 25, 5)
    single = robustness.run(context(models, same_images, batch_size=8, seed=5))
    assert swept["n"] == 25
    for v in models:
        assert swept["results"][v]["8"] == single[v]  # every key and value, the per-image strings too
    # the draws matter: another seed gives other answers, so equal answers mean equal draws
    reseeded = robustness.run(context(models, same_images, batch_size=8, seed=6))
    assert reseeded["standard"]["per_image"] != single["standard"]["per_image"]
    assert 0 < single["standard"]["pgd_acc"] < 1


def test_the_sample_is_the_same_for_every_budget_and_variant():
    models = {"standard": LabelReader(), "c": NoiseReader()}
    test = label_images(torch.arange(60) % 10, seed=2)
    r = budgets.run(
        context(models, test, batch_size=16, options={"budgets_limit": 20, "budgets_check": "none"})
    )
    clean = {(v, k): r["results"][v][k]["per_image"]["clean_correct"] for v in models for k in r["budgets"]}
    for v in models:  # one clean pass per variant, shared by its budgets
        assert len({clean[v, k] for k in r["budgets"]}) == 1
    assert {row["n"] for rows in r["results"].values() for row in rows.values()} == {20}


def test_floor_rule_turns_two_all_zero_rows_into_at_floor():
    # labels 1..9 only and a model that always says 0: PGD accuracy 0 on 3,900 images, whose
    # Wilson upper bound (0.098%) is below the 0.1% floor line
    labels = torch.arange(3900) % 9 + 1
    split = label_images(labels, side=4)
    models = {"standard": AlwaysZero(), "c": AlwaysZero()}
    ctx = context(models, split, batch_size=1000, options={"budgets": [1, 8], "budgets_limit": 3900})
    ctx.options["budgets_check"] = "none"
    r = budgets.run(ctx)
    assert r["floor"] == {"standard": {"1": True, "8": True}, "c": {"1": True, "8": True}}
    report = budget_report(r)
    (at1, at8) = budget_claims.rows(report)
    assert at1.verdict == at8.verdict == stats.AT_FLOOR == "at floor: not testable at this budget"
    assert at1.interval == [0.0, 0.0]  # the interval alone would have said "within noise"
    md = budget_claims.markdown(report)
    assert md.count(stats.AT_FLOOR) == 2 and "within noise" not in md
    assert "**floor**" in budgets.markdown(r, report["settings"][budgets.NAME])
    # the same zeros on fewer images than 3,838: not testable either, but not called a floor
    small = budgets.run(
        context(models, label_images(labels[:2000], side=4), batch_size=1000, options=ctx.options)
    )
    assert not any(f for rows in small["floor"].values() for f in rows.values())
    assert {row.verdict for row in budget_claims.rows(budget_report(small))} == {stats.BOTH_ZERO}


def budget_report(result: dict, seed: int = 0) -> dict:
    """A report holding only a complete robustness-budgets suite."""
    return {
        "pack": {
            "name": "p",
            "path": "p",
            "dataset": "cifar10",
            "arch": "x",
            "input_size": 32,
            "variants": [],
        },
        "settings": {budgets.NAME: {"seed": seed}},
        "status": {budgets.NAME: {"state": "complete"}},
        "suites": {budgets.NAME: result},
    }


def hand_result(correct: dict) -> dict:
    """A sweep result from per-image PGD answers {variant: {budget: [0/1, ...]}}."""
    keys = list(next(iter(correct.values())))
    results = {
        v: {
            k: robustness.result_row([1] * len(flags), flags, budgets.attack_at(k, 10), len(flags))
            for k, flags in per.items()
        }
        for v, per in correct.items()
    }
    floor = {
        v: {k: stats.at_floor(r["pgd_acc"], r["n"]) for k, r in rows.items()} for v, rows in results.items()
    }
    return {
        "budgets": keys,
        "eps": {k: float(k) / 255 for k in keys},
        "attack": {"steps": 10, "step_fraction": 0.25, "random_start": True, "norm": "Linf"},
        "n": 200,
        "floor_upper": stats.FLOOR_UPPER,
        "results": results,
        "floor": floor,
    }


N = 200
CORRECT = {  # c beats standard at eps 1, both 0 at 8; advc below adv at 1, above at 8
    "standard": {"1": [1] * 40 + [0] * 160, "8": [0] * N},
    "c": {"1": [1] * 120 + [0] * 80, "8": [0] * N},
    "adv": {"1": [1] * 150 + [0] * 50, "8": [1] * 60 + [0] * 140},
    "advc": {"1": [1] * 100 + [0] * 100, "8": [1] * 60 + [0] * 140},
}


def test_claims_get_a_row_per_budget_with_paired_intervals_and_verdicts():
    report = budget_report(hand_result(CORRECT))
    got = {(r.variant, r.budget): r for r in budget_claims.rows(report)}
    assert list(got) == [("c", "1"), ("c", "8"), ("advc", "1"), ("advc", "8")]
    c1 = got["c", "1"]
    assert c1.difference == pytest.approx(0.4) and c1.verdict == stats.HOLDS
    ref = stats.paired_difference_interval(
        [float(x) for x in CORRECT["c"]["1"]], [float(x) for x in CORRECT["standard"]["1"]], seed=0
    )
    assert c1.interval == ref.as_list()  # the paired bootstrap on the sweep's per-image answers
    assert got["c", "8"].verdict == stats.BOTH_ZERO  # 0 of 200 twice: no floor, no verdict
    assert got["advc", "1"].verdict == stats.FAILS
    assert got["advc", "8"].verdict == stats.NOISE and got["advc", "8"].interval == [0.0, 0.0]
    # the paper's eps is lost (Sec. 4.4): its figures stand in a row of their own, budget unknown
    assert paper.TABLE2_PGD_EPS is None and all(r.paper is None for r in got.values())
    md = budget_claims.markdown(report)
    assert md.count("unknown (the paper's Table 2)") == 2 and "+6.67 pp (ResNet18 (CIFAR-100)" in md
    assert "| continuity training raises PGD accuracy | c - standard | 1/255 | 60.00% vs 20.00% |" in md


def test_the_papers_figure_sits_beside_its_budget_when_the_text_gives_it(monkeypatch):
    monkeypatch.setattr(paper, "TABLE2_PGD_EPS", 8 / 255)
    got = {(r.variant, r.budget): r for r in budget_claims.rows(budget_report(hand_result(CORRECT)))}
    assert got["c", "8"].paper.startswith("+6.67 pp") and got["c", "1"].paper is None
    assert "+9.74 pp" in got["advc", "8"].paper  # 54.04% vs 44.30%
    assert "budget unknown" not in budget_claims.markdown(budget_report(hand_result(CORRECT)))


def test_no_claims_without_a_complete_sweep():
    report = budget_report(hand_result(CORRECT))
    report["status"][budgets.NAME]["state"] = "partial"
    assert budget_claims.rows(report) == [] and budget_claims.markdown(report) == ""


def test_the_figure_builds_with_bands_in_the_variants_colours():
    from sc_viz.variants import variant_colour

    result = hand_result(CORRECT)
    fig = budget_figure(result, ["c", "standard"])
    assert [t.name for t in fig.data if t.showlegend is not False] == ["standard", "c"]  # registry order
    band, line = fig.data[0], fig.data[1]
    assert band.fill == "toself" and line.line.color == variant_colour("standard")
    assert list(line.x) == [0.0, 1.0, 8.0] and list(line.y) == [100.0, 20.0, 0.0]  # clean, then each eps
    wilson = stats.wilson_interval(40, N)
    assert band.y[1] == pytest.approx(100 * wilson.high) and band.y[-2] == pytest.approx(100 * wilson.low)
    c = curves(result)["adv"]
    assert c.floor == [False, False, False] and c.accuracy == [1.0, 0.75, 0.3]
    assert budget_png(result)[:4] == b"\x89PNG"
    assert budget_figure(None) is None and budget_figure(result, ["gsct"]) is None


def test_the_check_attack_agrees_with_ours_on_a_known_model():
    pytest.importorskip("foolbox")
    before = torch.random.get_rng_state()
    r = sweep(
        {"standard": LabelReader(), "c": AlwaysZero()},
        label_images(LABELS),
        budgets=[8, 24],
        budgets_check="foolbox-pgd",
        budgets_check_eps=24,
    )
    assert torch.equal(torch.random.get_rng_state(), before)  # foolbox's draws leave the global generator
    check = r["check"]
    assert (
        check["budget"] == "24"
        and check["steps"] == budgets.CHECK_STEPS
        and check["library"].startswith("foolbox")
    )
    assert check["results"]["standard"] == {
        "check_acc": 0.0,
        "pgd_acc": 0.0,
        "both_acc": 0.0,
        "gap": 0.0,
        "flagged": False,
        "per_image": {"check_correct": stats.encode_values([0] * 30)},
    }
    assert check["results"]["c"]["check_acc"] == pytest.approx(0.1) and not check["results"]["c"]["flagged"]
    assert "### Second attack (check)" in budgets.check_markdown(check)
    # a gap above 2 points is flagged either way
    assert budgets.check_row([1] * 97 + [0] * 3, [1] * 100)["flagged"]
    assert not budgets.check_row([1] * 98 + [0] * 2, [1] * 100)["flagged"]


def test_results_are_checkpointed_per_budget_and_resumed():
    saved = []
    models = {"standard": LabelReader(), "c": AlwaysZero()}
    ctx = context(models, label_images(LABELS), options={"budgets": [4, 12], "budgets_check": "none"})
    ctx.checkpoint = lambda partial: saved.append(partial)
    full = budgets.run(ctx)
    assert [{v: list(r) for v, r in s["results"].items()} for s in saved][:2] == [
        {"standard": ["4"], "c": []},
        {"standard": ["4", "12"], "c": []},
    ]
    marker = dict(saved[0]["results"]["standard"]["4"], note="from the interrupted run")
    ctx2 = context(
        models, label_images(LABELS), options=ctx.options, previous={"results": {"standard": {"4": marker}}}
    )
    resumed = budgets.run(ctx2)
    assert resumed["results"]["standard"]["4"]["note"] == "from the interrupted run"
    assert resumed["results"]["c"] == full["results"]["c"]
    assert resumed["results"]["standard"]["12"] == full["results"]["standard"]["12"]


def test_the_check_budget_must_be_a_budget():
    ctx = context(
        {"standard": LabelReader()}, label_images(LABELS), options={"budgets": [2], "budgets_check_eps": 8}
    )
    with pytest.raises(ValueError, match="not one of the budgets"):
        budgets.settings(ctx)


SWEEP_ARGS = [
    "--suite",
    "robustness",
    "robustness-budgets",
    "--limit",
    "24",
    "--seed",
    "2",
    "--batch-size",
    "8",
    "--budgets",
    "2",
    "8",
    "--pgd-steps",
    "3",
    "--no-progress",
    "--device",
    "cpu",
]


def test_sc_viz_eval_runs_the_sweep_into_the_report(tiny_pack, tmp_path):
    import json

    from sc_viz.cli import main

    out = tmp_path / "tiny"
    assert main(["eval", "--pack", str(tiny_pack), "--out", str(out), *SWEEP_ARGS]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["status"][budgets.NAME]["state"] == "complete"
    assert report["settings"][budgets.NAME]["budgets"] == ["2", "8"]
    r = report["suites"][budgets.NAME]
    assert r["n"] == 24 and set(r["results"]) == {"standard", "c", "adv", "advc"}
    for v in r["results"]:  # --limit 24 and the default --budgets-limit: the same 24 images
        assert r["results"][v]["8"] == report["suites"]["robustness"][v]
    md = (out / "report.md").read_text()
    assert "## Robustness across attack budgets" in md and "at each attack budget" in md
    assert (out / "figures" / f"{budgets.FIGURE_NAME}.png").read_bytes()[:4] == b"\x89PNG"
    assert f"fig-{budgets.FIGURE_NAME}" in (out / "figures.html").read_text()
    if budgets.foolbox_version():
        assert r["check"]["budget"] == "8" and set(r["check"]["results"]) == set(r["results"])
        assert "### Second attack (check)" in md
    else:
        assert "not installed" in r["check"]["skipped"]


def test_two_processes_give_the_one_process_sweep(tiny_pack, tmp_path):
    import json

    from sc_viz.cli import main

    from .test_distributed_eval import run_two_ranks

    one, two = tmp_path / "one", tmp_path / "two"
    args = ["--suite", budgets.NAME, *SWEEP_ARGS[3:], "--no-figures"]  # the sweep alone
    assert main(["eval", "--pack", str(tiny_pack), "--out", str(one), *args]) == 0
    assert run_two_ranks(["eval", "--pack", str(tiny_pack), "--out", str(two), *args]) == [0, 0]
    a, b = (json.loads((d / "report.json").read_text()) for d in (one, two))
    assert b["environment"]["processes"] == 2
    assert b["suites"][budgets.NAME] == a["suites"][budgets.NAME]  # the check attack's too


def test_the_robustness_page_gets_the_chart_only_when_the_report_has_the_sweep():
    from sc_viz.app.report_view import StoredReport
    from sc_viz.figures.budgets import stored_budget_figure

    report = budget_report(hand_result(CORRECT))
    fig, caption = stored_budget_figure(StoredReport(report), ["standard", "adv"])
    assert [t.name for t in fig.data if t.showlegend is not False] == ["standard", "adv"]
    assert "200 test images" in caption and "Wilson" in caption
    report["status"][budgets.NAME]["state"] = "partial"
    assert stored_budget_figure(StoredReport(report), ["standard"]) is None
    assert stored_budget_figure(StoredReport(None, "no report"), ["standard"]) is None
