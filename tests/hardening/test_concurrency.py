"""Several users at once: explanation grids computed from several threads on one shared
(cached) set of models equal the same grids computed one after another."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from sc_viz import load_pack
from sc_viz.explain import METHODS, explain_grid

OPTIONS = {
    "ig": {"n_steps": 8},
    "smoothgrad": {"n_samples": 4, "seed": 0},
    "lime": {"n_samples": 40, "seed": 0},
}


@pytest.fixture(scope="module")
def models(tiny_pack):
    pack = load_pack(tiny_pack, device="cpu")
    return {v: pack.models[v] for v in ("standard", "advc")}


def images(n: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(42)
    return [torch.rand(1, 3, 32, 32, generator=g) for _ in range(n)]


def snapshot(grid) -> dict:
    return {
        "targets": dict(grid.targets),
        "predictions": grid.predictions,
        "maps": {k: e.map.clone() for k, e in grid.cells.items()},
    }


def same(a: dict, b: dict) -> bool:
    return (
        a["targets"] == b["targets"]
        and a["predictions"] == b["predictions"]
        and a["maps"].keys() == b["maps"].keys()
        and all(torch.equal(a["maps"][k], b["maps"][k]) for k in a["maps"])
    )


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
        assert all(
            not mod._forward_hooks and not mod._backward_hooks and not mod._forward_pre_hooks
            for mod in m.modules()
        )
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


# ------------------------------------------------------------------ every page's computation
def page_jobs(models, x, seed_images):
    """What each app page computes for one image, as plain tensors to compare."""
    from sc_viz.app.maps import clean_and_adversarial
    from sc_viz.app.single_image import attack_each, ds_per_level, top_k
    from sc_viz.embed import embed

    def saliency():  # Saliency page: the grid, Grad-CAM (hooks) included
        return snapshot(explain_grid(models, x, methods=["gradcam", "saliency", "ig"], options=OPTIONS))

    def attack():  # Robustness page: PGD per variant, then Grad-CAM of clean and attacked
        results = attack_each(models, x, 8 / 255, steps=3, seed=0)
        maps = {
            v: [e.map for e in clean_and_adversarial(models[v], x, r.x_adv, "gradcam")]
            for v, r in results.items()
        }
        return {
            "x_adv": {v: r.x_adv for v, r in results.items()},
            "maps": maps,
            "after": {v: r.after for v, r in results.items()},
        }

    def embeddings():  # Embeddings page
        e = embed(models, x, seed_images, level=2, method="pca", seed=0)
        return {"coords": {v: torch.as_tensor(c) for v, c in e.coords.items()}}

    def levels():  # Continuity page: DS per perturbation level, top-3
        return {"ds": ds_per_level(models, x), "top": {v: top_k(m, x) for v, m in models.items()}}

    return {"saliency": saliency, "attack": attack, "embeddings": embeddings, "levels": levels}


def equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(equal(p, q) for p, q in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


@pytest.fixture(scope="module")
def resnets(resnet20_pack):
    pack = load_pack(resnet20_pack, device="cpu")
    return {v: pack.models[v] for v in ("standard", "adv")}


def test_every_page_in_threads_matches_sequential(resnets):
    """Users on different pages at once (Grad-CAM hooks on the Saliency page while PGD and
    DS passes run on the Robustness and Continuity pages through the same models) get
    exactly what each would get alone: every model pass goes through `using_model`.
    Without the guard this fails (Grad-CAM's hook records the other pages' passes)."""
    models = resnets
    xs = images(2)
    seed_images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    jobs = [(i, name) for i in range(len(xs)) for name in ("saliency", "attack", "embeddings", "levels")]
    run = {i: page_jobs(models, xs[i], seed_images) for i in range(len(xs))}
    sequential = {(i, name): run[i][name]() for i, name in jobs}
    assert not equal(sequential[(0, "attack")], sequential[(1, "attack")])

    users = jobs * 3  # several users per (image, page), each repeating its page 4 times
    start = threading.Barrier(len(users))

    def user(job):
        start.wait(timeout=60)
        i, name = job
        return job, [run[i][name]() for _ in range(4)]

    with ThreadPoolExecutor(len(users)) as pool:
        results = list(pool.map(user, users))
    for job, repeats in results:
        for got in repeats:
            assert equal(got, sequential[job]), f"{job} differs from its sequential result"
    for m in models.values():
        assert not m.training
        assert all(not mod._forward_hooks and not mod._forward_pre_hooks for mod in m.modules())
        assert all(p.grad is None for p in m.parameters())
