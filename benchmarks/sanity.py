"""Wall time of the sanity checks (issue 16's speed targets): the whole `sanity` suite on
the demo pack over N test images (target: 100 images within 10 minutes on the project's
CPU, run as a user runs it: `sc-viz eval --suite sanity --processes P`, by default one process
per core), and the per-image view the app computes on demand (target: within 10 s at 32 px):
every (method, variant) unit of the Sanity page (`sanity_view.check_one`: the cascading
randomisation of the method with its maps, plus the ROAD curves of the trained map), for
the page's default variants (`--variants`, default: the paper's four) and for all of the
pack's, once warm (imports done, one image viewed before). Prints per-part times; a
benchmark, not a test.

    .venv/bin/python benchmarks/sanity.py [--pack checkpoints/cifar10-resnet20]
        [--images 100] [--methods saliency gradcam ig] [--variants standard c adv advc]
        [--threads 2] [--processes 2] [--compare] [--skip-suite]

--compare also times the suite in one process (one thread) and prints the ratio.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def image_view(pack, x, variants: list[str], methods: list[str], ig_steps: int) -> dict[str, tuple]:
    """What the Sanity page computes for one image (every unit a cache miss), timed per
    method over the variants."""
    from sc_viz.app import sanity_view as san

    models = {v: pack.models[v] for v in variants}
    targets = san.targets_of(models, x, san.TARGET_PREDICTED, None)
    times = {}
    for m in methods:
        start = Clock()
        for v in variants:
            san.check_one(
                models[v], v, x, m, targets[v], options=san.method_options(m, {"ig": ig_steps, "lime": 100})
            )
        times[m] = start.elapsed()
    return times


def default_variants(pack) -> list[str]:
    """The Sanity page's default selection (sidebar.variant_picker): the paper's four when
    the pack has them, else all."""
    from sc_viz.variants import VARIANTS

    paper = [v for v in pack.models if v in VARIANTS and VARIANTS[v].group == "paper"]
    return paper or list(pack.models)


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
    p.add_argument("--methods", nargs="+", help="default: the page's and the suite's (saliency gradcam ig)")
    p.add_argument("--variants", nargs="+", help="per-image view: default the page's (the paper's four)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip-suite", action="store_true", help="time the per-image view only")
    p.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count(),
        help="suite: `sc-viz eval --processes` (default: one per core)",
    )
    p.add_argument("--compare", action="store_true", help="suite: also in one process, and the ratio")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from sc_viz.app.sanity_view import DEFAULT_IG_STEPS
    from sc_viz.data import data_root, load_split
    from sc_viz.evaluate.sanity import DEFAULT_METHODS
    from sc_viz.packs import load_pack

    pack = load_pack(args.pack, device=args.device)
    test = load_split(pack.dataset, "test", data_root(), pack.input_size)
    methods = args.methods or DEFAULT_METHODS
    variants = args.variants or default_variants(pack)
    unknown = set(variants) - set(pack.models)
    if unknown:
        p.error(f"--variants: {sorted(unknown)} not in the pack ({list(pack.models)})")
    print(
        f"pack {args.pack} ({len(pack.models)} variants, {pack.arch}, {pack.input_size} px), "
        f"device {args.device}, torch threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; methods {methods}",
        flush=True,
    )

    start = Clock()
    image_view(pack, test.get(1)[None].to(pack.device), list(pack.models), methods, DEFAULT_IG_STEPS)
    print(f"first view (imports, every variant's randomised copy): {fmt(start.elapsed())}", flush=True)
    x = test.get(0)[None].to(pack.device)  # (1, 3, H, W)
    selections = {f"{len(variants)} variants ({' '.join(variants)})": variants}
    if set(variants) != set(pack.models):
        selections[f"all {len(pack.models)} variants"] = list(pack.models)
    for name, chosen in selections.items():
        times = image_view(pack, x, chosen, methods, DEFAULT_IG_STEPS)
        total = tuple(sum(t[i] for t in times.values()) for i in (0, 1))
        print(f"per-image view, {name}: {fmt(total)} (target <= 10 s)", flush=True)
        for m, t in times.items():
            print(f"  {m}: {fmt(t)}", flush=True)

    if not args.skip_suite:
        runs = [args.processes] + ([1] if args.compare and args.processes != 1 else [])
        walls = {}
        for processes in runs:
            walls[processes], out = suite_run(args.pack, args.images, methods, processes)
            print("flagged:", {v: [m for m, f in fl.items() if f] for v, fl in out["flagged"].items()})
        if len(walls) == 2:
            print(f"{args.processes} processes / 1 process, wall: {walls[args.processes] / walls[1]:.2f}")


def suite_run(pack: str, images: int, methods: list[str], processes: int) -> tuple[float, dict]:
    """`sc-viz eval --suite sanity` on `images` test images as a user runs it (a fresh CLI
    process, imports included); prints and returns its wall seconds and the suite's result."""
    import json
    import resource
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "sc_viz", "eval", "--pack", pack, "--suite", "sanity"]
        cmd += ["--sanity-limit", str(images), "--methods", *methods, "--out", out, "--no-figures"]
        cmd += ["--no-progress", "--device", "cpu", "--processes", str(processes)]
        cmd += ["--threads", "1"] if processes == 1 else []
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        result = json.loads((Path(out) / "report.json").read_text())["suites"]["sanity"]
    print(
        f"sanity suite, {result['n']} images, orders {result['orders']}, {processes} process(es): "
        f"{wall:.0f} s wall, {cpu:.0f} s CPU ({wall / result['n']:.2f} s wall per image; "
        f"target <= 600 s for 100 images); load average now {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return wall, result


if __name__ == "__main__":
    main()
