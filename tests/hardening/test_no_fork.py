"""Nothing the app runs starts a process: a fork inside its threaded server can inherit a
lock another thread holds and hang (issue 23). With every fork and process start forbidden
(the `no_fork` fixture), the app's compute paths still run: the gallery load, LIME's
sampling, the sanity randomisation with ROAD, and the projections (t-SNE's and UMAP's
joblib pools pinned to one job)."""

from __future__ import annotations

import torch

from sc_viz.data import CIFAR10_CLASSES
from sc_viz.embed import PROJECTIONS, project
from sc_viz.explain import explain
from sc_viz.explain.road import road_many
from sc_viz.explain.sanity import randomisation_test
from sc_viz.models import build_model


def random_model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("tinycnn", len(CIFAR10_CLASSES), (0.5,) * 3, (0.25,) * 3).eval()


def test_projections_run_one_job_and_start_no_process(no_fork):
    assert PROJECTIONS["tsne"].make(0).n_jobs == 1
    assert PROJECTIONS["umap"].make(0).n_jobs == 1
    points = torch.randn(30, 6, generator=torch.Generator().manual_seed(0))
    for method, options in (("pca", {}), ("tsne", {"perplexity": 5.0}), ("umap", {"n_neighbors": 5})):
        assert project(points, method=method, seed=0, options=options).shape == (30, 2)
    assert no_fork == []


def test_lime_and_the_sanity_checks_start_no_process(no_fork):
    models = {"a": random_model(0), "b": random_model(1)}
    x = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    lime = explain(models["a"], x, method="lime", target=3, n_samples=60, seed=0)
    assert lime.map.shape == (32, 32)
    result = randomisation_test(
        models,
        x,
        methods=["gradcam", "lime"],
        targets={"a": 3, "b": 3},
        options={"lime": {"n_samples": 40}},
    )
    assert result is not None
    curves = road_many(models, x, {"a": lime.map, "b": lime.map}, {"a": 3, "b": 3})
    assert set(curves) == {"a", "b"}
    assert no_fork == []
