"""Neuron sensitivity against the bare passes it needs.

`sc_viz.inside.probe.probe_batches` runs PGD once per image and one forward pass of the
stacked pair [x; x'] whose hooks reduce every probed layer to per-channel distances. The
floor is the same PGD plus the same forward pass without hooks; this prints both times
per variant of a pack over the same images (same batches, same seeded random starts) and
their ratio (issue 14's target: within 1.2x); each is the best of --repeats runs, taken in
turn, so load from other processes hits both alike. Run it on an otherwise idle machine.

    .venv/bin/python benchmarks/neurons.py [--pack checkpoints/cifar10-resnet20] [--images 1000]
        [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from sc_viz import load_pack
from sc_viz.attacks import paper_pgd, pgd
from sc_viz.data import data_root, iterate_batches, load_split, seeded_subset
from sc_viz.inside.probe import probe_batches
from sc_viz.model_run import using_model

REPO = Path(__file__).resolve().parents[1]


def bare(model, split, attack, batch_size: int) -> float:
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    with using_model(model):
        for x, y in iterate_batches(split, batch_size, shuffle=False, augment=False):
            x_adv = pgd(model, x, y, attack, generator=g)
            with torch.no_grad():
                model(torch.cat([x, x_adv]))
    return time.perf_counter() - t0


def probed(model, split, attack, batch_size: int) -> float:
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    probe_batches(
        model, iterate_batches(split, batch_size, shuffle=False, augment=False), attack, generator=g
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", default=str(REPO / "checkpoints" / "cifar10-resnet20"))
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pack = load_pack(args.pack, device="cpu")
    split = seeded_subset(load_split(pack.dataset, "test", data_root(None), pack.input_size), args.images, 0)
    attack = paper_pgd(pack.input_size)
    print(f"{len(split)} images, PGD-{attack.steps}, torch threads {torch.get_num_threads()}")
    total_bare = total_probe = 0.0
    for v, model in pack.models.items():
        runs = [
            (bare(model, split, attack, args.batch_size), probed(model, split, attack, args.batch_size))
            for _ in range(args.repeats)
        ]
        b, p = min(r[0] for r in runs), min(r[1] for r in runs)
        total_bare, total_probe = total_bare + b, total_probe + p
        print(f"{v:10s} bare PGD + forward {b:7.1f} s   sensitivity {p:7.1f} s   ratio {p / b:.3f}")
    print(
        f"{'all':10s} bare PGD + forward {total_bare:7.1f} s   sensitivity {total_probe:7.1f} s   "
        f"ratio {total_probe / total_bare:.3f}"
    )


if __name__ == "__main__":
    main()
