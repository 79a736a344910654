"""Flags and helpers shared by the commands that train (sweep-lambda, transfer, fairness):
a short schedule by default, every TrainConfig knob reachable, `sc_viz.training.trainer.train` as
the one training loop, and the JSON + markdown result files they write."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Optional

import torch

from sc_viz.models import ARCHS
from sc_viz.packs import atomic_write_bytes, atomic_write_json


def add_schedule_args(
    p,
    *,
    epochs: int = 1,
    lr: float = 0.02,
    optimizer: str = "sgd",
    schedule: str = "cosine",
    test_limit: Optional[int] = 2000,
    arch: Optional[str] = "resnet20",
) -> None:
    if arch is not None:
        p.add_argument("--arch", default=arch, choices=ARCHS.names(), help=f"architecture (default {arch})")
    g = p.add_argument_group("training schedule (short by default; see `sc-viz train -h`)")
    g.add_argument("--epochs", type=int, default=epochs, help=f"default {epochs}")
    g.add_argument("--batch-size", type=int, default=128, help="default 128")
    g.add_argument("--optimizer", choices=["sgd", "adam"], default=optimizer, help=f"default {optimizer}")
    g.add_argument("--lr", type=float, default=lr, help=f"(peak) learning rate (default {lr})")
    g.add_argument(
        "--schedule", choices=["constant", "cosine", "onecycle"], default=schedule, help=f"default {schedule}"
    )
    g.add_argument("--weight-decay", type=float, default=5e-4, help="default 5e-4")
    g.add_argument("--seed", type=int, default=0, help="default 0")
    g.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    g.add_argument("--train-limit", type=int, help="train on a seeded subset of this many images")
    g.add_argument(
        "--test-limit",
        type=int,
        default=test_limit,
        help=f"score on a seeded test subset (default {test_limit}; 0 = all)",
    )
    g.add_argument(
        "--epoch-eval-limit", type=int, default=500, help="test images scored after each epoch (default 500)"
    )
    p.add_argument("--data-root", help="data folder (default: $SC_VIZ_DATA)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep runs already complete in --out and go on from the last epoch",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def schedule_values(args) -> dict:
    """TrainConfig keyword arguments from the shared flags."""
    return {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "schedule": args.schedule,
        "weight_decay": args.weight_decay,
        "seed": args.seed,
        "precision": args.precision,
        "train_limit": args.train_limit,
        "test_limit": args.test_limit or None,
        "epoch_eval_limit": args.epoch_eval_limit,
        "epoch_pgd_limit": min(100, args.epoch_eval_limit),
    }


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def write_result(out: Path, name: str, result: dict, markdown: str) -> None:
    """<out>/<name>.json (every number + settings + versions) and <out>/<name>.md."""
    from sc_viz.evaluate.common import versions

    result = {
        **result,
        "created": now(),
        "environment": versions(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }
    atomic_write_json(Path(out) / f"{name}.json", result)
    atomic_write_bytes(Path(out) / f"{name}.md", markdown.encode())
    print(f"{name}: {Path(out) / (name + '.md')} ({Path(out) / (name + '.json')})")
