"""Wall time of the sanity checks (issue 16's speed targets): the whole `sanity` suite on
the demo pack over N test images (target: 100 images within 10 minutes on the project's
CPU), and the per-image view the app computes on demand (target: within 10 s at 32 px):
the cascading randomisation of each method with its maps, plus the ROAD curves of every
variant. Prints per-part times; a benchmark, not a test.

    .venv/bin/python benchmarks/sanity.py [--pack checkpoints/cifar10-resnet20]
        [--images 100] [--methods saliency gradcam ig] [--threads 2] [--skip-suite]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def image_view(pack, x, methods: list[str], options: dict) -> dict[str, float]:
    """What the app's sanity view computes for one image, timed per part."""
    from sc_viz.evaluate.saliency import predicted
    from sc_viz.explain.road import road_many
    from sc_viz.explain.sanity import randomisation_test

    times = {}
    targets = predicted(pack.models, x)
    start = Clock()
    res = randomisation_test(pack.models, x, methods=methods, targets=targets, options=options)
    times["cascade (all methods, all variants, maps kept)"] = start.elapsed()
    start = Clock()
    for m in methods:
        road_many(pack.models, x, {v: res.maps[m][v][0] for v in pack.models}, targets)
    times["ROAD (all methods, all variants)"] = start.elapsed()
    return times


class Clock:
    """Wall and process CPU seconds since creation: on a shared, loaded machine the CPU
    seconds (all threads) say what the work costs, the wall seconds what a user waits."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def elapsed(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def fmt(t: tuple[float, float]) -> str:
    return f"{t[0]:.2f} s wall, {t[1]:.2f} s CPU"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pack", default=str(REPO / "checkpoints" / "cifar10-resnet20"))
    p.add_argument("--images", type=int, default=100, help="suite: test images (default 100)")
    p.add_argument("--methods", nargs="+", help="default: the suite's (saliency gradcam ig)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip-suite", action="store_true", help="time the per-image view only")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from sc_viz.data import data_root, load_split
    from sc_viz.evaluate.common import EvalContext
    from sc_viz.evaluate.sanity import DEFAULT_METHODS, _options, run
    from sc_viz.packs import load_pack

    pack = load_pack(args.pack, device=args.device)
    test = load_split(pack.dataset, "test", data_root(), pack.input_size)
    methods = args.methods or DEFAULT_METHODS
    ctx = EvalContext(pack, test, progress=False, options={"sanity_limit": args.images, "methods": methods})
    print(
        f"pack {args.pack} ({len(pack.models)} variants, {pack.arch}, {pack.input_size} px), "
        f"device {args.device}, torch threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; methods {methods}"
    )

    x = test.get(0)[None].to(pack.device)  # (1, 3, H, W)
    options = {m: _options(ctx, m) for m in methods}
    image_view(pack, x, methods[:1], options)  # warm-up: imports, first passes
    times = image_view(pack, x, methods, options)
    for part, t in times.items():
        print(f"per-image view: {part}: {fmt(t)}")
    total = tuple(sum(t[i] for t in times.values()) for i in (0, 1))
    print(f"per-image view total: {fmt(total)} (target <= 10 s)", flush=True)
    for m in methods:
        t = image_view(pack, x, [m], options).values()
        print(f"  {m} alone: {fmt(tuple(sum(p[i] for p in t) for i in (0, 1)))}", flush=True)

    if not args.skip_suite:
        start = Clock()
        out = run(ctx)
        wall, cpu = start.elapsed()
        print(
            f"sanity suite, {out['n']} images, orders {out['orders']}: {wall:.0f} s wall, "
            f"{cpu:.0f} s CPU ({wall / out['n']:.2f} s wall per image; target <= 600 s for "
            "100 images)"
        )
        print("flagged:", {v: [m for m, f in fl.items() if f] for v, fl in out["flagged"].items()})


if __name__ == "__main__":
    main()
