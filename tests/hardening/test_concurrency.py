"""Several users at once: explanation grids computed from several threads on one shared
(cached) set of models equal the same grids computed one after another."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from sc_viz import load_pack
from sc_viz.explain import METHODS, explain_grid

OPTIONS = {"ig": {"n_steps": 8}, "smoothgrad": {"n_samples": 4, "seed": 0},
           "lime": {"n_samples": 40, "seed": 0}}


@pytest.fixture(scope="module")
def models(tiny_pack):
    pack = load_pack(tiny_pack, device="cpu")
    return {v: pack.models[v] for v in ("standard", "advc")}


def images(n: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(42)
    return [torch.rand(1, 3, 32, 32, generator=g) for _ in range(n)]


def snapshot(grid) -> dict:
    return {"targets": dict(grid.targets), "predictions": grid.predictions,
            "maps": {k: e.map.clone() for k, e in grid.cells.items()}}


def same(a: dict, b: dict) -> bool:
    return (a["targets"] == b["targets"] and a["predictions"] == b["predictions"]
            and a["maps"].keys() == b["maps"].keys()
            and all(torch.equal(a["maps"][k], b["maps"][k]) for k in a["maps"]))


def test_threads_on_shared_models_match_sequential(models):
    methods = METHODS.names()
    xs = images(3)
    weights_before = {v: {k: t.clone() for k, t in m.state_dict().items()} for v, m in models.items()}
    sequential = [snapshot(explain_grid(models, x, methods=methods, options=OPTIONS)) for x in xs]
    assert all(len(s["maps"]) == len(models) * len(methods) for s in sequential)
    assert not same(sequential[0], sequential[1])  # different images, different results

    jobs = [i % len(xs) for i in range(6)]  # 6 users, two per image
    start = threading.Barrier(len(jobs))

    def user(i):
        start.wait(timeout=60)  # all at once
        return i, snapshot(explain_grid(models, xs[i], methods=methods, options=OPTIONS))

    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(user, jobs))
    for i, snap in results:
        assert same(snap, sequential[i]), f"user with image {i} got other results"
    # nobody left the shared models changed: eval mode, no hooks, same weights
    for v, m in models.items():
        assert not m.training
        assert all(not mod._forward_hooks and not mod._backward_hooks and not mod._forward_pre_hooks
                   for mod in m.modules())
        assert all(torch.equal(weights_before[v][k], t) for k, t in m.state_dict().items())
        assert all(p.grad is None for p in m.parameters())
    # and a grid after the storm is still the sequential one
    assert same(snapshot(explain_grid(models, xs[0], methods=methods, options=OPTIONS)), sequential[0])


def test_one_failing_user_does_not_disturb_the_others(models):
    """A bad request (wrong target) in one thread; the others finish with correct maps."""
    xs = images(2)
    methods = ["saliency", "gradcam", "ig"]
    want = [snapshot(explain_grid(models, x, methods=methods, options=OPTIONS)) for x in xs]

    def user(i):
        if i % 3 == 2:
            with pytest.raises(ValueError):
                explain_grid(models, xs[0], methods=methods, target=999, options=OPTIONS)
            return None
        return snapshot(explain_grid(models, xs[i % 2], methods=methods, options=OPTIONS))

    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(user, range(6)))
    for i, snap in enumerate(got):
        if snap is not None:
            assert same(snap, want[i % 2])
