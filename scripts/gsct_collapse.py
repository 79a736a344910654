"""Reproduce GSCT's collapse and measure its mechanism (docs/related_methods.md#adv-gsct).

Fine-tunes the demo pack's `standard` for 60 steps with the demo preset of each run below
(SGD, lr 0.02, FGSM-RS budget, batch 128; one thread, about 3 min a run on this CPU) and,
every 10 steps, scores eval-mode accuracy on 500 test images, the same images' accuracy
through train-mode BatchNorm (batch statistics) and the per-layer ratio of BatchNorm
running variance to batch variance (sc_viz.experiments.bn_drift). Writes
results.json and results.md to --out.

    .venv/bin/python scripts/gsct_collapse.py --out reports/cifar10-resnet20/experiments/gsct-collapse
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from sc_viz.data import data_root, load_split, seeded_subset
from sc_viz.experiments.bn_drift import probe_run, recalibrated_accuracy
from sc_viz.packs import load_model_file
from sc_viz.training.presets import PRESETS
from sc_viz.training.related import GsctSettings
from sc_viz.training.trainer import TrainConfig

RUNS = {  # name -> (variant, TrainConfig overrides)
    "gsct, saliency eval mode (first reading)": ("gsct", {"gsct": GsctSettings(saliency_mode="eval")}),
    "gsct, saliency train mode (default)": ("gsct", {"gsct": GsctSettings(saliency_mode="train")}),
    "gsct, gsct_lambda = 0": ("gsct", {"gsct": GsctSettings(lambda_=0.0)}),
    "adv": ("adv", {}),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pack", default="checkpoints/cifar10-resnet20")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--held-out", type=int, default=500, help="test images scored at each point")
    p.add_argument("--runs", nargs="+", choices=range(len(RUNS)), type=int, default=list(range(len(RUNS))))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = data_root(None)
    train_split = load_split("cifar10", "train", root, 32)
    held_out = seeded_subset(load_split("cifar10", "test", root, 32), args.held_out, 0)
    old = out / "results.json"
    results = json.loads(old.read_text())["runs"] if old.exists() else {}  # --runs adds to them
    for i, (name, (variant, overrides)) in enumerate(RUNS.items()):
        if i not in args.runs:
            continue
        preset = {k: v for k, v in PRESETS["demo"][variant].items() if k != "init"}
        cfg = TrainConfig(variant=variant, precision="fp32", **{**preset, **overrides})
        model, _ = load_model_file(Path(args.pack) / "standard.safetensors", device="cpu")
        t0 = time.time()
        points = probe_run(
            model,
            cfg,
            train_split,
            held_out,
            steps=args.steps,
            every=args.every,
            progress=lambda pt, name=name: print(
                f"{name} step {pt.step}: eval acc {pt.eval_acc:.3f} batch-stat acc {pt.batch_stat_acc:.3f} "
                f"train acc {pt.train_acc:.3f} "
                f"|log running/batch var| {pt.log_ratio_spread:.3f} mean shift {pt.mean_shift:.3f} "
                f"weight-scale drift {pt.scale_drift:.4f}",
                file=sys.stderr,
                flush=True,
            ),
        )
        recalibrated = recalibrated_accuracy(model, seeded_subset(train_split, 2560, 1), held_out)
        print(f"{name}: eval acc after recalibrating BatchNorm {recalibrated:.3f}", file=sys.stderr)
        results[name] = {
            "recalibrated_eval_acc": recalibrated,
            "variant": variant,
            "overrides": overrides,
            "seconds": time.time() - t0,
            "points": [dataclasses.asdict(pt) for pt in points],
        }
        (out / "results.json").write_text(json.dumps({"settings": vars(args), "runs": results}, indent=1))
    results = {name: results[name] for name in RUNS if name in results}  # in RUNS' order
    (out / "results.md").write_text(markdown(results, args))
    print(f"results in {out}")
    return 0


def markdown(results: dict, args) -> str:
    steps = [pt["step"] for pt in next(iter(results.values()))["points"]]
    head = " / ".join(str(s) for s in steps)
    lines = [
        "# GSCT's collapse: eval-mode accuracy and BatchNorm drift over the first steps",
        "",
        f"Fine-tuned from the demo pack's `standard` with the demo preset, {args.steps} steps of 128, "
        f"one CPU thread; eval-mode accuracy on {args.held_out} seeded test images; batch-statistics "
        "accuracy: the same images through train-mode BatchNorm (batches of 250, running statistics "
        "unchanged); variance drift = mean over "
        "BatchNorm layers of |log(running variance / batch variance)| (median over channels), "
        "mean shift = mean over layers and channels of |running mean - batch mean| / batch std, "
        "both measured on the step's training batch; weight-scale drift = mean over convolutions of "
        "|log(weight norm / its norm at step 0)|; recomputed statistics: the running statistics "
        "replaced by the average over 20 train-mode passes of 128 clean training images, weights unchanged.",
        "",
        f"| run | eval-mode accuracy at step {head} | batch-statistics accuracy | variance drift | "
        "mean shift | weight-scale drift | training-example accuracy at the end | "
        "eval-mode accuracy at the end, BatchNorm statistics recomputed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        acc = " / ".join(f"{pt['eval_acc']:.2f}" for pt in r["points"])
        batch = " / ".join(f"{pt['batch_stat_acc']:.2f}" for pt in r["points"])
        drift = " / ".join(f"{pt['log_ratio_spread']:.2f}" for pt in r["points"])
        shift = " / ".join(f"{pt['mean_shift']:.2f}" for pt in r["points"])
        scale = " / ".join(f"{pt['scale_drift']:.3f}" for pt in r["points"])
        lines.append(
            f"| {name} | {acc} | {batch} | {drift} | {shift} | {scale} | {r['points'][-1]['train_acc']:.2f} "
            f"| {_num(r.get('recalibrated_eval_acc'))} |"
        )
    return "\n".join(lines) + "\n"


def _num(value) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
