"""`sc-viz fairness` (Sec. 4.7, Table 3): train `standard` and `c` on the colour-biased
Fashion-MNIST (backgrounds 95% red / 5% blue in training, 95% blue / 5% red in test; data
set `colour-fashion-mnist`) and report test accuracy, overall and per background colour.
A model that learned the garment rather than the background keeps its accuracy when the
background colour flips."""

from __future__ import annotations

import argparse
from pathlib import Path

from sc_viz.cli._schedule import add_schedule_args, schedule_values, write_result
from sc_viz.data import colour_is_red, data_root, load_split
from sc_viz.evaluate.render import pct, table
from sc_viz.metrics import accuracy
from sc_viz.packs import load_pack
from sc_viz.paper import DEFAULT_LAMBDA, PAPER_RESULTS
from sc_viz.variants import VARIANTS

# The variants the paper compares on colour-biased data (Table 3).
PAPER_FAIRNESS_VARIANTS = list(PAPER_RESULTS["fairness"])

DATASET = "colour-fashion-mnist"
EPILOG = """examples:
  sc-viz fairness --out runs/fairness                      (resnet20, 1 epoch each)
  sc-viz fairness --arch tinycnn --train-limit 500 --test-limit 200 --out /tmp/fair

Both variants go into one pack, <out>/pack/; --resume skips finished ones. Results:
<out>/fairness.json and fairness.md."""


def register(sub) -> None:
    p = sub.add_parser(
        "fairness",
        help="standard vs c on colour-biased data (Sec. 4.7)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, help="folder for the pack and the result")
    p.add_argument(
        "--variants",
        nargs="+",
        default=PAPER_FAIRNESS_VARIANTS,
        choices=VARIANTS.names(),
        help=f"variants to train (default, as the paper: {' '.join(PAPER_FAIRNESS_VARIANTS)})",
    )
    p.add_argument(
        "--lam", type=float, default=DEFAULT_LAMBDA, help=f"continuity weight of c (default {DEFAULT_LAMBDA})"
    )
    add_schedule_args(p, epochs=2, lr=0.05, schedule="onecycle", test_limit=None)
    p.set_defaults(func=cmd_fairness)


def cmd_fairness(args) -> int:
    from sc_viz.training.trainer import TrainConfig, train

    out = Path(args.out)
    pack_dir = out / "pack"
    for v in args.variants:
        cfg = TrainConfig(dataset=DATASET, arch=args.arch, variant=v, lam=args.lam, **schedule_values(args))
        train(cfg, pack_dir, root=args.data_root, resume=args.resume, progress=not args.no_progress)
    pack = load_pack(pack_dir)
    full = load_split(DATASET, "test", data_root(args.data_root), pack.input_size)
    red = colour_is_red("test", len(full))
    idx = list(range(len(full)))
    if args.test_limit:
        import torch

        g = torch.Generator().manual_seed(args.seed)  # the subset train() scored
        idx = torch.randperm(len(full), generator=g)[: args.test_limit].sort().values.tolist()
    by_colour = {name: [i for i in idx if bool(red[i]) == (name == "red")] for name in ("red", "blue")}
    rows = {}
    for v in args.variants:
        model = pack.models[v]
        rows[v] = {"accuracy": accuracy(model, full.subset(idx)), "n": len(idx)}
        for name, sel in by_colour.items():
            rows[v][f"accuracy_{name}_background"] = accuracy(model, full.subset(sel)) if sel else None
            rows[v][f"n_{name}"] = len(sel)
    result = {
        "experiment": "fairness",
        "dataset": DATASET,
        "arch": args.arch,
        "settings": {**schedule_values(args), "lam": args.lam},
        "variants": rows,
        "paper": PAPER_RESULTS["fairness"],
        "pack": str(pack_dir),
    }
    md = (
        f"# Fairness (Sec. 4.7, Table 3): colour-biased Fashion-MNIST, {args.arch}\n\n"
        "Training backgrounds 95% red / 5% blue, test backgrounds 95% blue / 5% red; "
        f"{args.epochs} epoch(s) per variant. Paper: Colorful MNIST, ResNet18.\n\n"
        + table(
            ["variant", "test accuracy", "blue backgrounds", "red backgrounds", "paper"],
            [
                [
                    v,
                    pct(r["accuracy"]),
                    pct(r["accuracy_blue_background"]),
                    pct(r["accuracy_red_background"]),
                    pct(PAPER_RESULTS["fairness"].get(v)),
                ]
                for v, r in rows.items()
            ],
        )
    )
    write_result(out, "fairness", result, md)
    return 0
