"""A method declares its own budget (explain.base.Budget): the explanation settings carry
{method: budget}, and the app's sliders and URL names, the CLI flags and the suites'
options all read it from the method. A toy method added through the registry alone gets
all of them; files written before the budgets moved into one mapping still load; the demo
report's recorded options are what the code computes today."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import DEMO_PACK, REPO

from sc_viz.app import sanity_view, views
from sc_viz.cli import build_parser
from sc_viz.evaluate import saliency as saliency_suite
from sc_viz.evaluate import sanity as sanity_suite
from sc_viz.evaluate.common import EvalContext
from sc_viz.explain import METHODS
from sc_viz.explain.base import CONTEXTS, Budget, Method, budget_options, budgeted
from sc_viz.explain.settings import ExplainSettings
from sc_viz.packs import load_pack


class ToyMethod(Method):
    """The gradient's magnitude, repeated `passes` times (a knob that costs and does nothing)."""

    name = "toy"
    budget = Budget(
        option="passes",
        key="toy_passes",
        url="toy",
        title="Toy passes",
        help="toy passes",
        defaults={"explain": 4, "interactive": 3, "interactive_large": 2, "evaluation": 5, "sanity": 1},
        slider=(1, 9, 1),
        sanity_slider=(1, 5, 1),
    )
    settings_options = ("seed",)

    def attribute(self, model, x, target, *, passes: int = 4, seed: int = 0):
        x = x.clone().requires_grad_()
        for _ in range(passes):
            grad = torch.autograd.grad(model(x)[0, target], x)[0]
        return grad.abs().amax(dim=1)[0], {"passes": passes}


@pytest.fixture
def toy():
    METHODS.add("toy", ToyMethod())
    yield METHODS["toy"]
    METHODS.remove("toy")


def test_every_budget_has_a_default_in_every_context():
    assert set(budgeted()) == {"smoothgrad", "ig", "lime"}
    for b in budgeted().values():
        assert set(b.defaults) == set(CONTEXTS)
        low, high, _ = b.slider
        assert low <= b.default("interactive") <= high and low <= b.default("interactive", 224) <= high
    with pytest.raises(ValueError, match="no default for sanity"):
        Budget("n", "k", "k", "K", "k", {c: 1 for c in CONTEXTS if c != "sanity"}, (1, 2, 1), (1, 2, 1))


def test_a_toy_method_gets_its_budget_everywhere_through_the_registry(toy):
    settings = ExplainSettings(pack="p", image="x.png", methods=["toy", "gradcam"])
    assert settings.budgets["toy"] == 4  # its own default
    assert settings.method_options() == {"toy": {"passes": 4, "seed": 0}, "gradcam": {}}
    settings = ExplainSettings.from_json(settings.to_json().replace('"toy": 4', '"toy": 7'))
    assert settings.method_options()["toy"]["passes"] == 7
    # the CLI flags
    args = build_parser().parse_args(
        ["explain", "--pack", "p", "--image", "x.png", "--out", "o.png", "--toy-passes", "6"]
    )
    assert args.toy_passes == 6
    args = build_parser().parse_args(["eval", "--pack", "p", "--toy-passes", "2"])
    assert args.toy_passes == 2
    # the suites' options and the Sanity page's
    assert budget_options("toy", "evaluation") == {"passes": 5}
    assert budget_options("toy", "explain") == {}  # the method's own default: not recorded
    assert sanity_view.method_options("toy", {}) == {"passes": 1, "seed": 0}
    assert sanity_view.method_options("toy", {"toy": 3}) == {"passes": 3, "seed": 0}
    # the app's sliders: a field (widget key, URL name, range) on both pages
    (field,) = [f for f in views.budget_fields("saliency") if f.key == "toy_passes"]
    assert field.url == "toy" and field.default is None
    (field,) = [f for f in views.budget_fields("sanity") if f.key == "san_toy_passes"]
    assert field.url == "stoy" and field.default == 1
    # and it explains
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 2, 3, padding=1), torch.nn.Flatten(), torch.nn.LazyLinear(3)
    )
    model(torch.rand(1, 3, 8, 8))
    exp = toy.explain(model, torch.rand(3, 8, 8), 1, passes=2)
    assert exp.map.shape == (8, 8) and exp.extras["passes"] == 2


def test_settings_written_before_budgets_still_load():
    old = {
        "format": "sc-viz-explain-settings/1",
        "pack": "p",
        "image": {"dataset_split": "test", "index": 3},
        "methods": ["ig", "lime", "smoothgrad"],
        "ig_steps": 12,
        "lime_samples": 150,
        "smoothgrad_samples": 9,
        "seed": 2,
    }
    settings = ExplainSettings.from_json(json.dumps(old))
    assert settings.budgets == {"smoothgrad": 9, "ig": 12, "lime": 150}
    assert settings.method_options() == {
        "ig": {"n_steps": 12, "precision": "auto"},
        "lime": {"n_samples": 150, "seed": 2, "precision": "auto"},
        "smoothgrad": {"n_samples": 9, "seed": 2},
    }
    with pytest.raises(ValueError, match="has no budget"):
        ExplainSettings(pack="p", image="x.png", budgets={"gradcam": 3})


def test_the_demo_reports_recorded_options_are_todays():
    """The suites' options now come from the methods' budgets: the stored report's
    saliency and sanity settings are exactly what the code records (the saliency run
    asked for fp32 LIME scores, an option of the run)."""
    report = json.loads((REPO / "reports" / DEMO_PACK.name / "report.json").read_text())
    stored = {s: report["settings"][s]["method_options"] for s in ("saliency", "sanity")}
    asked = {"method_options": {"lime": {"precision": "fp32"}}}
    ctx = EvalContext(load_pack(DEMO_PACK, device="cpu"), None, options=asked)
    assert {m: saliency_suite.method_options(ctx, m) for m in stored["saliency"]} == stored["saliency"]
    assert {m: sanity_suite._options(ctx, m) for m in stored["sanity"]} == stored["sanity"]
    assert report["settings"]["sanity"]["methods"] == sanity_suite.DEFAULT_METHODS
