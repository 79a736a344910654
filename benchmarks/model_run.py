"""Shared models behind a lock versus a copy of the model per request.

The app caches one model per variant and serves every user's session from it, so passes
must not disturb each other (sc_viz/model_run.py explains why Grad-CAM's hooks need
exclusivity). Two ways to get that: the reader/writer lock of `using_model` (hook-free
passes share the model, hook-using ones wait), or a deep copy of the model per request
(no waiting, but a copy per request and a model's memory per concurrent user). This runs
the same mixed workload both ways in one process and prints the time of each and their
ratio; both give identical results (checked).

    .venv/bin/python benchmarks/model_run.py [--pack checkpoints/cifar10-resnet20] [--users 4]
"""

from __future__ import annotations

import argparse
import copy
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from sc_viz import load_pack
from sc_viz.app.single_image import attack_each, ds_per_level
from sc_viz.explain import explain

REPO = Path(__file__).resolve().parents[1]


def request(model, x):
    """One user's step: Grad-CAM (hooks), the DS strip and a 5-step PGD on one image."""
    cam = explain(model, x, method="gradcam", target=0).map
    ds = ds_per_level({"m": model}, x)["m"]
    adv = attack_each({"m": model}, x, 8 / 255, steps=5)["m"].x_adv
    return cam, ds, adv


def run(model, xs, users: int, copy_per_request: bool) -> tuple[float, list]:
    def user(x):
        m = copy.deepcopy(model) if copy_per_request else model
        return request(m, x)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        out = list(pool.map(user, xs))
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", default=str(REPO / "checkpoints" / "cifar10-resnet20"))
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--requests", type=int, default=32)
    args = ap.parse_args()
    pack = load_pack(args.pack, device="cpu")
    model = pack.models[next(iter(pack.models))]
    s = pack.input_size
    xs = [torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(i)) for i in range(args.requests)]
    run(model, xs[:2], 2, False)  # warm-up
    t_lock, a = run(model, xs, args.users, False)
    t_copy, b = run(model, xs, args.users, True)
    same = all(torch.equal(p[0], q[0]) and torch.equal(p[2], q[2]) for p, q in zip(a, b))
    print(
        f"{args.requests} requests, {args.users} users, {pack.name}: lock {t_lock:.2f} s, "
        f"copy per request {t_copy:.2f} s, copy/lock = {t_copy / t_lock:.2f}x, results identical: {same}"
    )


if __name__ == "__main__":
    main()
