"""The saliency suite: explanation measures averaged over a seeded sample."""

import pytest
import torch

from sc_viz.evaluate import saliency
from sc_viz.evaluate.stats import decode_values
from sc_viz.explain.measures import measure_map

from .helpers import PixelLinear, context, label_images


def test_measures_of_a_known_gradient_map():
    model = PixelLinear()
    split = label_images(torch.arange(6) % 10)
    ctx = context({"standard": model}, split, options={"methods": ["saliency"], "explain_limit": 3})
    r = saliency.run(ctx)
    assert r["n"] == 3 and r["methods"] == ["saliency"]
    # the gradient of a linear model is its weight: map = max_c |W_target|, known exactly
    expected = {}
    for i in range(3):
        x = ctx.sample(3).get(i)[None]
        target = int(model(x).argmax(1))
        heat = model.weight[target].detach().abs().amax(0)  # (H, W)
        for k, v in measure_map(model, x, heat, target).items():
            expected.setdefault(k, []).append(v)
    for k, vals in expected.items():
        assert r["measures"]["standard"]["saliency"][k] == pytest.approx(sum(vals) / 3, rel=1e-5)
        # kept per image (5 significant digits) with the bootstrap interval of the mean
        per_image = decode_values(r["per_image"]["standard"]["saliency"][k])
        assert per_image == [pytest.approx(v, rel=1e-4, abs=1e-9) for v in vals]
        low, high = r["ci"]["standard"]["saliency"][k]
        assert min(vals) - 1e-9 <= low <= r["measures"]["standard"]["saliency"][k] <= high <= max(vals) + 1e-9
    assert set(r["measures"]["standard"]["saliency"]) >= {
        "total_variation",
        "gini",
        "centre_share",
        "deletion_auc",
        "insertion_auc",
    }


def test_all_methods_on_a_pack_are_seeded(tiny_pack):
    from sc_viz.evaluate import run_suites

    opts = {
        "explain_limit": 2,
        "method_options": {"lime": {"n_samples": 20}, "ig": {"n_steps": 4}, "smoothgrad": {"n_samples": 4}},
    }
    kw = dict(
        limit=10, seed=5, progress=False, figures=False, options=opts, device="cpu", log=lambda *a: None
    )
    a = run_suites(tiny_pack, ["saliency"], **kw)["suites"]["saliency"]
    b = run_suites(tiny_pack, ["saliency"], **kw)["suites"]["saliency"]
    assert a == b
    assert set(a["measures"]) == {"standard", "c", "adv", "advc"}
    assert set(a["methods"]) == {"saliency", "smoothgrad", "ig", "gradcam", "lime"}


def test_quick_runs_explain_fewer_images():
    from sc_viz.evaluate import saliency, stability
    from sc_viz.evaluate.common import EvalContext

    def size(module, limit, **options):
        return module.sample_size(EvalContext(None, None, limit=limit, options=options))

    assert size(saliency, None) == 50 and size(stability, None) == 25  # whole test set
    assert size(saliency, 500) == 20 and size(stability, 500) == 10  # --limit 500
    assert size(saliency, 20) == 5 and size(stability, 20) == 5  # never below 5
    assert size(saliency, 5000) == 50  # never above the default
    assert size(saliency, 500, explain_limit=7) == 7  # an explicit flag wins
    assert size(stability, None, stability_limit=None) == 25  # flag left unset
