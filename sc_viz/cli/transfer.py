"""`sc-viz transfer` (Sec. 4.6): how well each variant's features transfer to another data
set, by fine-tuning (all layers, early stopping on a held-out validation split) and by a
linear probe (logistic regression on the frozen penultimate features, --probe), over
several training seeds (--seeds), scored on the target's whole test split.

The paper fine-tunes CIFAR-100 models on CIFAR-10, SVHN and MNIST. Targets that work with
a CIFAR-10 source pack and the data on this machine:
  fashion-mnist    the Debian package (/usr/share/datasets/fashion-mnist, or
                   $SC_VIZ_FASHION_MNIST, or <data root>/fashion-mnist); other classes and
                   images, grey, resized to the source's 32 px; the head is re-initialised
  cifar10-lowres   CIFAR-10 drawn at 16 px and scaled back up to 32 px: the same classes
                   (the head is kept), the fine detail gone. A class split of CIFAR-10
                   would not be a transfer at all for models trained on all ten classes;
                   a change of resolution is a change of input distribution that the
                   source models did not see (they saw the training images at 32 px; the
                   test images are new to them).
Any registered data set can be the target.

Computations: sc_viz.experiments.transfer (fine-tuning, probe) and
sc_viz.experiments.seeds (spread over seeds, intervals, verdicts).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sc_viz.cli._schedule import add_schedule_args, schedule_values, write_result
from sc_viz.data import DATASETS, data_root, load_split
from sc_viz.experiments.seeds import seed_dir
from sc_viz.experiments.transfer import (
    PAPER_ORDER,
    PROBE_CS,
    device_name,
    init_weights,
    markdown,
    run_finetune,
    run_probe,
    split_train_val,
    summarise,
    test_part,
)
from sc_viz.packs import load_pack, new_manifest
from sc_viz.paper import PAPER_RESULTS

EPILOG = """examples:
  sc-viz transfer --pack checkpoints/cifar10-resnet20 --target fashion-mnist --seeds 0 1 2 \\
      --probe --epochs 10 --out runs/transfer-fashion-mnist --resume
  sc-viz transfer --pack P --target cifar10-lowres --seeds 0 --probe --epochs 2 \\
      --train-limit 2000 --test-limit 1000 --out /tmp/t

Runs go to <out>/seed-<s>/<variant>/ (finetune.json, probe.json, finetuned.safetensors);
--resume keeps finished runs and goes on with an interrupted fine-tune from its last
epoch, so seeds can also run as separate processes (one --seeds each) and a last call
with all seeds and --resume writes the summary. Results: <out>/transfer.json and
transfer.md (per variant and seed, mean and spread over seeds, 95% intervals, the
paper's ordering advc > adv > c > standard checked pair by pair)."""


def register(sub) -> None:
    p = sub.add_parser(
        "transfer",
        help="fine-tune and linearly probe each variant on another data set (Sec. 4.6)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--pack", required=True, help="source pack folder")
    p.add_argument(
        "--target",
        default="fashion-mnist",
        choices=DATASETS.names(),
        help="target data set (default fashion-mnist; cifar10-lowres: CIFAR-10 at 16 px)",
    )
    p.add_argument("--out", required=True, help="folder for the runs and the result")
    p.add_argument("--variants", nargs="+", help="variants to transfer (default: all)")
    p.add_argument("--seeds", nargs="+", type=int, help="training seeds, one run each (default: --seed)")
    p.add_argument(
        "--probe",
        action="store_true",
        help=f"also a linear probe: logistic regression on the frozen penultimate features "
        f"(C in {list(PROBE_CS)} chosen on the validation split)",
    )
    p.add_argument(
        "--no-finetune", dest="finetune", action="store_false", help="the linear probe only (with --probe)"
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of the target's training split held out for early stopping and C (default 0.1)",
    )
    p.add_argument(
        "--patience",
        type=int,
        default=3,
        help="stop fine-tuning after this many epochs without a better validation accuracy (default 3)",
    )
    add_schedule_args(p, epochs=10, lr=0.01, arch=None, test_limit=None)
    p.set_defaults(func=cmd_transfer)


@dataclass
class Target:
    """The target data set at the source's resolution, and what the runs start from."""

    spec: Any  # DATASETS' entry
    train_full: Any  # the whole training split (validation is held out of it per seed)
    test: Any
    manifest: dict  # the fine-tuned models' manifest (target classes, source arch and size)
    keep_head: bool  # same classes as the source: the head is kept


def cmd_transfer(args) -> int:
    if not (args.finetune or args.probe):
        raise ValueError("--no-finetune needs --probe: nothing to do")
    t_start = time.time()
    pack = load_pack(args.pack, device="cpu")
    variants = _variants(args, pack)
    seeds = args.seeds if args.seeds is not None else [args.seed]
    target = _load_target(args, pack)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    runs = {
        m: {v: {} for v in variants} for m, on in (("finetune", args.finetune), ("probe", args.probe)) if on
    }
    fresh = {}
    for seed in seeds:
        _run_seed(args, pack, target, variants, seed, runs, fresh, device)
    result = _result(args, pack, target, seeds, runs, fresh, device, t_start)
    write_result(Path(args.out), "transfer", result, markdown(result))
    return 0


def _variants(args, pack) -> list[str]:
    variants = args.variants or list(pack.models)
    missing = [v for v in variants if v not in pack.models]
    if missing:
        raise ValueError(f"{args.pack}: no loadable variant(s) {missing}; loaded: {list(pack.models)}")
    return variants


def _load_target(args, pack) -> Target:
    spec = DATASETS[args.target]
    size = pack.input_size  # keep the source's resolution; the target is resized to it
    root = data_root(args.data_root)
    train_full = load_split(args.target, "train", root, size)
    test = test_part(load_split(args.target, "test", root, size), args.test_limit)
    classes = train_full.classes
    return Target(
        spec,
        train_full,
        test,
        manifest=new_manifest(args.target, pack.arch, classes, size, spec.mean, spec.std),
        keep_head=list(classes) == list(pack.classes),
    )


def _run_seed(args, pack, target: Target, variants, seed: int, runs: dict, fresh: dict, device) -> None:
    """One training seed: each variant's start weights, fine-tune and/or probe, into `runs`
    (method -> variant -> seed -> row) and `fresh` (variant -> what was re-initialised)."""
    base = seed_dir(Path(args.out), seed)
    train, val = split_train_val(target.train_full, args.val_fraction, seed, args.train_limit)
    for v in variants:
        start = base / "init" / f"{v}.safetensors"
        fresh[v] = init_weights(
            pack.models[v],
            target.manifest,
            len(target.train_full.classes),
            seed,
            start,
            keep_head=target.keep_head,
        )
        if args.finetune:
            runs["finetune"][v][seed] = _finetune(
                args, pack, target, start, seed, train, val, base / v, device
            )
        if args.probe:
            runs["probe"][v][seed] = run_probe(
                start, train, val, target.test, base / v, seed=seed, resume=args.resume, device=device
            )


def _finetune(args, pack, target: Target, start: Path, seed: int, train, val, run_dir: Path, device) -> dict:
    from sc_viz.training.trainer import TrainConfig

    cfg = TrainConfig(
        dataset=args.target,
        arch=pack.arch,
        variant="standard",
        init=str(start),
        input_size=pack.input_size,
        **{**schedule_values(args), "seed": seed, "train_limit": args.train_limit},
    )
    return run_finetune(
        start,
        cfg,
        train,
        val,
        target.test,
        run_dir,
        patience=args.patience,
        resume=args.resume,
        device=device,
        log=(lambda *a: None) if args.no_progress else print,
    )


def _result(args, pack, target: Target, seeds, runs, fresh, device, t_start: float) -> dict:
    """transfer.json: settings, per-method summaries over seeds, the paper's, timings."""
    methods = summarise(runs)
    seconds = {m: sum(row["seconds"] for rows in runs[m].values() for row in rows.values()) for m in runs}
    return {
        "experiment": "transfer",
        "format": 2,
        "source": {
            "pack": str(pack.path),
            "dataset": pack.dataset,
            "arch": pack.arch,
            "classes": pack.classes,
        },
        "target": args.target,
        "target_description": target.spec.description,
        "seeds": seeds,
        "settings": {
            **schedule_values(args),
            "seed": None,
            "val_fraction": args.val_fraction,
            "patience": args.patience,
            "probe_Cs": list(PROBE_CS),
            "head": "kept (same classes)" if target.keep_head else "re-initialised",
        },
        "n_test": len(target.test),
        "reinitialised": fresh,
        "methods": methods,
        "paper_order": list(PAPER_ORDER),
        "paper": PAPER_RESULTS["transfer"],
        "timing": {
            "device": device_name(device),
            "finetune_s": seconds.get("finetune", 0.0),
            "probe_s": seconds.get("probe", 0.0),
            "wall_s": time.time() - t_start,
        },
    }
