"""`sc-viz sweep-lambda` (Fig. 5): train `c` at several lambda values, over several training
seeds (--seeds), then report test accuracy against the sum of the four level-1 mean DS
(the paper's continuity measure) and, unless --no-saliency, the saliency suite's measures
(total variation, Gini, centre share, deletion/insertion AUC per explanation method) of
every model on the saliency suite's own images: does the map get smoother as DS falls?

With --init the runs are fine-tuned from those weights (e.g. the pack's standard model);
without it `c` is trained from scratch, so `--epochs` set to the pack's standard training
length gives a `c` trained as long as `standard` (e.g. --lambdas 0 0.1: lambda 0 is a
standard model trained the same way).

Computations: sc_viz.experiments.sweep and sc_viz.experiments.seeds.
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import torch

from sc_viz.cli._schedule import add_schedule_args, schedule_values, write_result
from sc_viz.data import data_root, load_split
from sc_viz.evaluate.render import matplotlib_png
from sc_viz.evaluate.saliency import DEFAULT_EXPLAIN_LIMIT
from sc_viz.experiments.seeds import seed_dir
from sc_viz.experiments.sweep import (
    cached_scores,
    charts,
    lam_key,
    markdown,
    saliency_sample_indices,
    score_model,
    summarise,
)
from sc_viz.experiments.transfer import device_name, test_part
from sc_viz.packs import atomic_write_bytes, load_pack
from sc_viz.paper import LAMBDA_SWEEP

EPILOG = """examples:
  sc-viz sweep-lambda --init checkpoints/cifar10-resnet20/standard.safetensors \\
      --lambdas 0 0.01 0.1 1 --seeds 0 1 2 --epochs 1 --out runs/sweep-lambda --resume
  sc-viz sweep-lambda --arch tinycnn --train-limit 500 --test-limit 200 \\
      --saliency-images 5 --saliency-methods saliency gradcam --out /tmp/sweep

Each lambda and seed trains variant c into <out>/seed-<s>/lam-<lambda>/ (a pack) and
keeps its scores there (sweep_scores.json); --resume skips finished runs and scores, so
seeds can run as separate processes (one --seeds each) and a last call with all seeds and
--resume writes the summary. Results: <out>/sweep_lambda.json, .md, fig5_lambda.png,
saliency_total_variation_lambda.png, saliency_gini_lambda.png."""


def register(sub) -> None:
    p = sub.add_parser(
        "sweep-lambda",
        help="train c at several lambda values (Fig. 5), with saliency smoothness",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, help="folder for the runs and the result")
    p.add_argument(
        "--lambdas",
        nargs="+",
        type=float,
        default=LAMBDA_SWEEP,
        help=f"continuity weights (default {LAMBDA_SWEEP})",
    )
    p.add_argument("--dataset", default="cifar10", help="data set (default cifar10)")
    p.add_argument(
        "--init",
        help="start every run from these weights (e.g. a pack's standard.safetensors; default: from scratch)",
    )
    p.add_argument("--seeds", nargs="+", type=int, help="training seeds, one run each (default: --seed)")
    _add_saliency_args(p)
    add_schedule_args(p)
    p.set_defaults(func=cmd_sweep_lambda)


def _add_saliency_args(p) -> None:
    """The group of the swept models' saliency measures (the saliency suite's)."""
    s = p.add_argument_group("saliency of the swept models (the saliency suite's measures and images)")
    s.add_argument("--no-saliency", dest="saliency", action="store_false", help="skip the saliency measures")
    s.add_argument(
        "--saliency-images",
        type=int,
        default=DEFAULT_EXPLAIN_LIMIT,
        help=f"images explained per model (default {DEFAULT_EXPLAIN_LIMIT}: the saliency suite's "
        "on the whole test set)",
    )
    s.add_argument(
        "--saliency-seed",
        type=int,
        default=0,
        help="the seed of the saliency suite's sample (default 0, `sc-viz eval`'s default)",
    )
    s.add_argument("--saliency-methods", nargs="+", help="explanation methods (default: all, as the suite)")


def cmd_sweep_lambda(args) -> int:
    t_start = time.time()
    out = Path(args.out)
    seeds = args.seeds if args.seeds is not None else [args.seed]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    scores, train_s = {lam_key(lam): {} for lam in args.lambdas}, 0.0
    test = saliency_test = None
    key = _scores_key(args)
    for seed in seeds:
        for lam in args.lambdas:
            cfg, run_dir = _train_run(args, out, seed, lam)
            pack = load_pack(run_dir, device=device)
            train_s += sum(pack.manifest["variants"]["c"].get("epoch_seconds") or [])
            if test is None:
                test, saliency_test = _test_images(args, cfg.input_size)
            scores[lam_key(lam)][seed] = _scores(args, run_dir, key, pack, test, saliency_test)
    result = _result(args, out, seeds, scores, train_s, saliency_test, device, t_start)
    for chart in charts(result):
        atomic_write_bytes(out / f"{chart.name}.png", matplotlib_png(chart))
    write_result(out, "sweep_lambda", result, markdown(result))
    return 0


def _scores_key(args) -> dict:
    """What a run's stored scores were made with (`cached_scores` recomputes them when it differs)."""
    return {
        "test_limit": args.test_limit or None,
        "saliency": (
            {"images": args.saliency_images, "seed": args.saliency_seed, "methods": args.saliency_methods}
            if args.saliency
            else None
        ),
    }


def _train_run(args, out: Path, seed: int, lam: float):
    """Train (or, with --resume, finish) `c` at this lambda and seed; its config and pack folder."""
    from sc_viz.training.trainer import TrainConfig, train

    cfg = TrainConfig(
        dataset=args.dataset,
        arch=args.arch,
        variant="c",
        lam=lam,
        init=args.init,
        # the trainer's own final check (clean + PGD-10) on the per-epoch images only: the
        # sweep's numbers come from its own evaluation below, on the shared test sample
        **{**schedule_values(args), "seed": seed, "test_limit": args.epoch_eval_limit or None},
    )
    run_dir = seed_dir(out, seed) / f"lam-{lam_key(lam)}"
    train(cfg, run_dir, root=args.data_root, resume=args.resume, progress=not args.no_progress)
    return cfg, run_dir


def _test_images(args, input_size: int):
    """The test sample every run is scored on, and the whole test split for the saliency
    suite's sample (None with --no-saliency)."""
    full = load_split(args.dataset, "test", data_root(args.data_root), input_size)
    test = test_part(full, args.test_limit)  # seeded by 0: every run, the same images
    return test, (full if args.saliency else None)


def _scores(args, run_dir: Path, key: dict, pack, test, saliency_test) -> dict:
    """One run's DS and saliency scores (kept in its folder; computed when not yet there)."""
    return cached_scores(
        run_dir,
        key,
        partial(
            score_model,
            pack,
            test,
            saliency_test,
            saliency_images=args.saliency_images,
            saliency_seed=args.saliency_seed,
            methods=args.saliency_methods,
            progress=not args.no_progress,
        ),
    )


def _result(args, out: Path, seeds, scores, train_s: float, saliency_test, device, t_start: float) -> dict:
    """sweep_lambda.json: settings, the summary over seeds, the saliency sample, runs, timings."""
    summary = summarise(scores, args.lambdas)
    seconds = [s.get("seconds", {}) for per in scores.values() for s in per.values()]
    return {
        "experiment": "sweep-lambda",
        "format": 2,
        "dataset": args.dataset,
        "arch": args.arch,
        "seeds": seeds,
        "settings": {**schedule_values(args), "seed": None, "init": args.init},
        **summary,
        "saliency_images": (
            {
                "seed": args.saliency_seed,
                "n": min(args.saliency_images, len(saliency_test)),
                "indices": saliency_sample_indices(
                    len(saliency_test), args.saliency_images, args.saliency_seed
                ),
            }
            if args.saliency
            else None
        ),
        "runs": {k: {str(s): str(seed_dir(out, s) / f"lam-{k}") for s in seeds} for k in scores},
        "timing": {
            "device": device_name(device),
            "train_s": train_s,
            "ds_s": sum(s.get("ds", 0.0) for s in seconds),
            "saliency_s": sum(s.get("saliency", 0.0) for s in seconds),
            "wall_s": time.time() - t_start,
        },
    }
