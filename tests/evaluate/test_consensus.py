"""The consensus suite: maps that cannot move agree fully; the claim check; report section."""

import pytest
import torch

from sc_viz.evaluate import consensus
from sc_viz.evaluate.report import charts, render_markdown

from .helpers import PixelLinear, context, label_images


def test_a_gradient_map_that_cannot_move_agrees_fully_and_the_claim_sees_a_tie():
    split = label_images(torch.arange(4) % 10)
    ctx = context(
        {"standard": PixelLinear(seed=0), "adv": PixelLinear(seed=1)},
        split,
        options={"methods": ["saliency"], "consensus_limit": 2, "pgd_steps": 2},
    )
    r = consensus.run(ctx)
    assert r["n"] == 2 and r["kinds"] == ["pgd", "brightness", "contrast", "saturation", "hue"]
    for v in ("standard", "adv"):
        for k in r["kinds"]:
            assert r["means"][v]["saliency"][k] == pytest.approx({"cosine": 1, "spearman": 1, "iou": 1})
            assert r["values"][v]["saliency"][k]["iou"] == [1.0, 1.0]  # per image, for the app
    assert r["claim"]["adv"]["holds"] == 0 and r["claim"]["adv"]["comparisons"] == 15


def test_claim_counts_higher_agreement():
    row = {"pgd": {"cosine": 0.5, "spearman": 0.4, "iou": None}}
    means = {"standard": {"ig": row}, "adv": {"ig": {"pgd": {"cosine": 0.9, "spearman": 0.1, "iou": 0.3}}}}
    c = consensus.claim(means)["adv"]
    assert c["higher"]["ig"]["pgd"] == {"cosine": True, "spearman": False, "iou": None}
    assert (c["holds"], c["comparisons"]) == (1, 2)


def test_report_section_and_chart(tiny_pack):
    from sc_viz.evaluate import run_suites

    opts = {"methods": ["saliency", "gradcam"], "consensus_limit": 2, "pgd_steps": 2}
    r = run_suites(
        tiny_pack,
        ["consensus"],
        limit=10,
        seed=0,
        progress=False,
        figures=False,
        options=opts,
        device="cpu",
        log=lambda *a: None,
    )
    assert r["status"]["consensus"]["state"] == "complete"
    s = r["suites"]["consensus"]
    assert s["methods"] == ["saliency", "gradcam"] and set(s["means"]) == {"standard", "c", "adv", "advc"}
    md = render_markdown(r)
    assert "## Saliency consensus" in md and "under PGD" in md
    (chart,) = [c for c in charts(r) if c.name == "saliency_consensus"]
    assert [p.title for p in chart.panels] == ["saliency", "gradcam"]
