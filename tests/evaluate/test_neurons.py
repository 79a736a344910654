"""The neurons suite: sensitivities by hand through the paper's PGD, the claim check, and
the report section."""

import pytest
import torch
import torch.nn as nn

from sc_viz.data import Split
from sc_viz.evaluate import neurons
from sc_viz.evaluate.report import charts, render_markdown

from .helpers import CLASSES, context

EPS = 8 / 255  # the paper's CIFAR budget, which the suite takes when the pack sets none


class OneLayer(nn.Module):
    """A 1x1 conv (R -> channel 0 with weight `scale`, G -> channel 1 with 2 `scale`), then
    logits (a, -a), a the conv output's mean: PGD moves R and G by eps, B not at all."""

    def __init__(self, scale: float):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1, bias=False)  # features exactly proportional to scale
        with torch.no_grad():
            self.conv.weight.copy_(scale * torch.tensor([[1.0, 0, 0], [0, 2.0, 0]])[:, :, None, None])

    def forward(self, x):  # (N, 3, H, W) -> (N, 2)
        a = self.conv(x).mean(dim=(1, 2, 3))  # (N,)
        return torch.stack([a, -a], dim=1)


def mid_grey_images(n: int = 5, side: int = 8) -> Split:
    """Pixels in [60, 200] / 255: PGD's eps never reaches the clamp at 0 or 1."""
    g = torch.Generator().manual_seed(0)
    img = torch.randint(60, 200, (n, 3, side, side), generator=g, dtype=torch.uint8)
    return Split(torch.arange(n) % 2, CLASSES, images=img)


def test_sensitivities_by_hand_and_the_claim():
    # PGD-10 (step 2/255) on OneLayer drives R and G to x -+ eps, so sigma = (1, 2) * scale * eps
    models = {"standard": OneLayer(1.0), "adv": OneLayer(0.5), "advc": OneLayer(2.0)}
    ctx = context(models, mid_grey_images(), options={"neurons_limit": 4})
    r = neurons.run(ctx)
    assert r["n"] == 4 and r["layers"] == ["conv"]
    for v, scale in (("standard", 1.0), ("adv", 0.5), ("advc", 2.0)):
        assert r["variants"][v]["sigma"]["conv"] == pytest.approx([scale * EPS, 2 * scale * EPS], abs=1e-5)
        assert r["variants"][v]["layers"]["conv"]["mean"] == pytest.approx(1.5 * scale * EPS, abs=1e-5)
        assert r["variants"][v]["layers"]["conv"]["top"] == pytest.approx(2 * scale * EPS, abs=1e-5)
        assert r["variants"][v]["eps"] == pytest.approx(EPS) and r["variants"][v]["steps"] == 10
    assert r["claim"]["mean"]["adv"] == {"lower": {"conv": True}, "holds": 1, "layers": 1}
    assert r["claim"]["mean"]["advc"]["holds"] == 0
    # relative sensitivity divides by the features' scale: a scaled copy is no less sensitive
    assert r["variants"]["adv"]["layers"]["conv"]["relative"] == pytest.approx(
        r["variants"]["standard"]["layers"]["conv"]["relative"], rel=1e-3
    )


def test_report_section_and_chart(tiny_pack):
    from sc_viz.evaluate import run_suites

    r = run_suites(
        tiny_pack,
        ["neurons"],
        limit=6,
        seed=0,
        progress=False,
        figures=False,
        options={"pgd_steps": 2},
        device="cpu",
        log=lambda *a: None,
    )
    s = r["suites"]["neurons"]
    assert r["status"]["neurons"]["state"] == "complete"
    assert set(s["variants"]) == {"standard", "c", "adv", "advc"} and s["n"] == 6
    assert r["settings"]["neurons"]["layers"] == s["layers"]
    assert s["variants"]["adv"]["steps"] == 2
    md = render_markdown(r)
    assert "## Neuron sensitivity" in md and "lower in" in md
    (chart,) = [c for c in charts(r) if c.name == "neuron_sensitivity"]
    assert len(chart.panels) == 3 and set(chart.panels[0].series) == set(s["variants"])
