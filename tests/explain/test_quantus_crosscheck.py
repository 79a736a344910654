"""Our randomisation similarities and ROAD curves against an independent implementation,
quantus (requirements-dev.txt), on the same model, image and settings.

Agreement is exact up to float rounding (tolerance 1e-6) where both compute the same
thing. Known differences, not compared:
- quantus's MPRT randomises layer by layer (our `granularity="layer"`, compared here);
  our default steps are whole blocks.
- quantus's `ssim` similarity gets the maps flattened to 1-D vectors (MPRT reshapes them
  to (batch, -1) for every similarity function), so its SSIM is a 1-D one; ours is the
  2-D SSIM of the paper. Its HOG is not offered.
- quantus's ROAD returns only whether the class stays top-1, not the probability, and
  draws its noise from numpy's global generator; for 3-channel images with a 1-channel
  map it fails (it ranks the map broadcast to 3 x H x W and indexes an H x W mask with
  those ranks: IndexError). It is therefore run on a grey image through a model that
  repeats the grey channel, which is the same image and model for both; we record the
  images quantus feeds the model and compare them with ours.
"""

import warnings

import numpy as np
import pytest
import quantus  # a dev requirement: a missing quantus fails here rather than skipping
import torch
import torch.nn as nn

from sc_viz.explain import explain
from sc_viz.explain.road import road_curves, road_images
from sc_viz.explain.sanity import randomisation_test

from .helpers import random_image, random_model

TOL = 1e-6


def explain_func_for(method: str, **options):
    """quantus's explain_func interface, answered by our explanation registry."""

    def explain_func(model, inputs, targets, **_):
        return np.stack(
            [
                explain(model, torch.as_tensor(x), method=method, target=int(t), **options).map.numpy()[None]
                for x, t in zip(inputs, targets)
            ]
        )  # (N, 1, H, W)

    return explain_func


@pytest.mark.parametrize(
    "method, abs_, ours", [("saliency", True, "spearman_abs"), ("ig", False, "spearman")]
)
def test_mprt_cascade_matches_quantus(method, abs_, ours):
    model = random_model("tinycnn", seed=4)
    x = random_image(seed=6)
    target = 3
    options = {"n_steps": 8} if method == "ig" else {}
    res = randomisation_test(
        {"m": model},
        x,
        methods=[method],
        targets={"m": target},
        granularity="layer",
        seed=0,
        options={method: options},
        similarities=[ours],
        keep_maps=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metric = quantus.MPRT(layer_order="top_down", seed=0, abs=abs_, disable_warnings=True)
        scores = metric(
            model=model,
            x_batch=x[None].numpy(),
            y_batch=np.array([target]),
            a_batch=None,
            explain_func=explain_func_for(method, **options),
            device="cpu",
        )
    assert list(scores)[1:] == res.steps[1:]  # the same layers in the same order
    theirs = [v[0] for v in scores.values()]
    np.testing.assert_allclose(res.similarity[method]["m"][ours], theirs, atol=TOL)
    assert min(theirs) < 0.9  # the comparison is not between unchanged maps only


class Grey(nn.Module):
    """A 1-channel front for a 3-channel model (repeats the channel), recording its inputs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.seen: list[torch.Tensor] = []

    def forward(self, x):  # (N, 1, H, W)
        self.seen.append(x.detach().clone())
        return self.model(x.expand(-1, 3, -1, -1))


def test_road_matches_quantus():
    model = random_model("tinycnn", seed=5)
    x = random_image(seed=7)[:1].expand(3, -1, -1).contiguous()  # a grey image (3, H, W)
    with torch.no_grad():
        target = int(model(x[None]).argmax())
    heat = explain(model, x, method="ig", target=target, n_steps=8).map
    percentages = [10 * k for k in range(1, 10)]
    fractions = [p / 100 for p in percentages]
    ours = road_curves(model, x, heat, target, fractions=fractions, noise=0.0)
    for order, ranked_map in (("morf", heat), ("lerf", -heat)):  # quantus removes MoRF only
        grey = Grey(model).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric = quantus.ROAD(percentages=percentages, noise=0.0, disable_warnings=True)
            top1 = metric(
                model=grey,
                x_batch=x[None, :1].numpy(),
                y_batch=np.array([target]),
                a_batch=ranked_map[None, None].numpy(),
                device="cpu",
            )
        assert list(top1.values()) == ours[f"{order}_top1"]
        seen = torch.cat(grey.seen[-len(fractions) :])  # (F, 1, H, W): quantus's ROAD images
        mine = road_images(x, heat, order, fractions=fractions, noise=0.0)  # (F, 3, H, W)
        torch.testing.assert_close(seen[:, 0], mine[:, 0], atol=TOL, rtol=0)
        with torch.no_grad():
            probs = model(seen.expand(-1, 3, -1, -1)).softmax(1)[:, target]
        np.testing.assert_allclose(probs.numpy(), ours[order], atol=TOL)


def test_road_noise_matches_quantus_in_distribution():
    """With noise both add N(0, noise^2) to the imputed pixels only (different draws)."""
    from quantus.functions.perturb_func import noisy_linear_imputation as theirs

    from sc_viz.explain.road import linear_imputation

    img = np.random.default_rng(0).random((3, 32, 32))
    removed = np.zeros(32 * 32, bool)
    removed[np.random.default_rng(1).permutation(1024)[:400]] = True
    np.random.seed(0)
    noisy = theirs(img, np.flatnonzero(removed), noise=0.05)
    diff = noisy - linear_imputation(img, removed.reshape(32, 32))
    assert np.all(diff[:, ~removed.reshape(32, 32)] == 0)
    assert diff[:, removed.reshape(32, 32)].std() == pytest.approx(0.05, rel=0.1)
