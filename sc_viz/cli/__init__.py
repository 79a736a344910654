"""`sc-viz` command line: one subcommand per job, choices from the registries."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from sc_viz.data import DATASETS
from sc_viz.models import ARCHS
from sc_viz.paper import LEVEL_IDS, PERTURBATIONS
from sc_viz.registry import UnknownName
from sc_viz.variants import VARIANTS

EPILOG_TRAIN = """examples:
  sc-viz train --dataset cifar10 --arch resnet20 --variant standard --optimizer sgd \\
      --lr 0.1 --schedule onecycle --epochs 30 --out checkpoints/cifar10-resnet20
  sc-viz train --variant advc --init checkpoints/cifar10-resnet20/standard.safetensors \\
      --epochs 5 --out checkpoints/cifar10-resnet20
  sc-viz train --preset demo --variant c --out checkpoints/cifar10-resnet20 --resume
  torchrun --nproc_per_node=4 -m sc_viz train ...   (DistributedDataParallel)

Flags left out take the preset's value, else the paper's default (docs/method.md).
Ctrl-C or a crash loses at most the current epoch: run the same command with --resume."""


def _float_or_fraction(text: str) -> float:
    """Accepts 0.0314 or 8/255."""
    if "/" in text:
        a, b = text.split("/", 1)
        return float(a) / float(b)
    return float(text)


def add_train_parser(sub):
    from sc_viz.training.trainer import TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train one model variant into a checkpoint pack",
        description="Train one model variant (the paper's standard, c, adv, advc or the "
        "related spat, sns, gsct) and save it into a pack folder "
        "(manifest.json + <variant>.safetensors).",
        epilog=EPILOG_TRAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_train_target_args(p, d)
    _add_optimisation_args(p, d)
    _add_continuity_args(p, d)
    _add_attack_args(p)
    _add_related_args(p)
    _add_data_size_args(p)
    _add_run_args(p)
    p.set_defaults(func=cmd_train)


def _add_train_target_args(p, d) -> None:
    """What is trained and where: preset, data set, architecture, variant, pack, init."""
    p.add_argument(
        "--preset",
        choices=["demo"],
        help="named recipe (sc_viz/training/presets.py); explicit flags still override it",
    )
    p.add_argument("--dataset", choices=DATASETS.names(), help=f"data set (default {d.dataset})")
    p.add_argument("--arch", choices=ARCHS.names(), help=f"architecture (default {d.arch})")
    p.add_argument(
        "--variant",
        choices=VARIANTS.names(),
        required=True,
        help="; ".join(f"{k}: {v.description}" for k, v in VARIANTS.items()).replace("%", "%%"),
    )
    p.add_argument("--out", required=True, help="pack folder, e.g. checkpoints/cifar10-resnet20")
    p.add_argument("--data-root", help="data folder (default: $SC_VIZ_DATA, else ~/.cache/sc_viz/data)")
    p.add_argument(
        "--init", help="start from these weights (a .safetensors of the same arch); default: from scratch"
    )


def _add_optimisation_args(p, d) -> None:
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, help=f"epochs (default {d.epochs})")
    g.add_argument("--batch-size", type=int, help=f"batch size per process (default {d.batch_size})")
    g.add_argument("--optimizer", choices=["adam", "sgd"], help=f"default {d.optimizer} (paper)")
    g.add_argument("--lr", type=float, help=f"(peak) learning rate (default {d.lr}, paper)")
    g.add_argument("--momentum", type=float, help=f"SGD momentum (default {d.momentum})")
    g.add_argument("--weight-decay", type=float, help=f"default {d.weight_decay}")
    g.add_argument(
        "--schedule",
        choices=["constant", "cosine", "onecycle"],
        help=f"learning-rate schedule (default {d.schedule})",
    )
    g.add_argument("--seed", type=int, help=f"seed for init, order, augmentation, attacks (default {d.seed})")
    g.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        help="autocast: auto = bf16 on GPUs and on CPUs with native bf16, else fp32",
    )
    g.add_argument(
        "--no-augment", dest="augment", action="store_false", default=None, help="disable random crop + flip"
    )


def _add_continuity_args(p, d) -> None:
    c = p.add_argument_group("semantic continuity (docs/method.md#continuity-loss)")
    c.add_argument(
        "--lam",
        "--lambda",
        dest="lam",
        type=float,
        help=f"weight of the continuity loss (default {d.lam}; the paper's value is lost)",
    )
    c.add_argument(
        "--perturbations",
        nargs="+",
        choices=PERTURBATIONS,
        help="photometric perturbations T drawn per sample (default: all four)",
    )
    c.add_argument(
        "--levels",
        nargs="+",
        type=int,
        choices=LEVEL_IDS,
        help="Table-1 levels drawn per sample (default: 1 2 3 4)",
    )


def _add_attack_args(p) -> None:
    a = p.add_argument_group(
        "PGD (L-inf, pixel space [0,1]); defaults: CIFAR 8/255, 2/255; "
        "ImageNet-size inputs 4/255, 1/255; 10 steps, random start"
    )
    a.add_argument("--attack-eps", type=_float_or_fraction, help="training attack radius (e.g. 8/255)")
    a.add_argument("--attack-step", type=_float_or_fraction, help="training attack step size")
    a.add_argument("--attack-steps", type=int, help="training attack iterations (1 = FGSM-RS)")
    a.add_argument("--no-random-start", dest="attack_random_start", action="store_false", default=None)
    a.add_argument("--eval-eps", type=_float_or_fraction, help="evaluation PGD radius")
    a.add_argument("--eval-step", type=_float_or_fraction, help="evaluation PGD step size")
    a.add_argument("--eval-steps", type=int, help="evaluation PGD iterations (default 10)")


def _add_related_args(p) -> None:
    """One flag per field of each related method's settings (sc_viz/training/related.py)."""
    from sc_viz.cli._dataclass_args import add_dataclass_arguments
    from sc_viz.training.settings import settings_groups
    from sc_viz.training.trainer import TrainConfig

    rel = p.add_argument_group("related methods, the project's reading (docs/related_methods.md)")
    for group, settings_cls in settings_groups(TrainConfig).items():
        add_dataclass_arguments(rel, settings_cls, group)


def _add_data_size_args(p) -> None:
    s = p.add_argument_group("data size")
    s.add_argument("--input-size", type=int, help="image side in pixels (default: data set's)")
    s.add_argument("--train-limit", type=int, help="train on a seeded subset of this many images")
    s.add_argument("--test-limit", type=int, help="final metrics on a seeded test subset (default: all)")
    s.add_argument("--epoch-eval-limit", type=int, help="test images scored after each epoch (default 2000)")
    s.add_argument(
        "--epoch-pgd-limit",
        type=int,
        help="of those, scored under PGD after each epoch, adversarial variants (default 500)",
    )
    s.add_argument("--num-workers", type=int, help="loader processes for large-image folders")


def _add_run_args(p) -> None:
    r = p.add_argument_group("runs")
    r.add_argument("--resume", action="store_true", help="go on from the last saved epoch")
    r.add_argument("--overwrite", action="store_true", help="train again over an existing variant")
    r.add_argument(
        "--stop-after-epochs", type=int, help="stop after this many epochs of this call (resume later)"
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")


def train_config(args):
    """The TrainConfig of `sc-viz train`: the preset's values (if any), overridden by the
    flags given; a related method's flags override single settings of its group."""
    from sc_viz.cli._dataclass_args import dataclass_values
    from sc_viz.training.presets import PRESETS
    from sc_viz.training.settings import settings_groups
    from sc_viz.training.trainer import TrainConfig

    groups = settings_groups(TrainConfig)
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - set(groups)
    values = dict(PRESETS[args.preset][args.variant]) if args.preset else {}
    values.update({k: v for k, v in vars(args).items() if k in fields and v is not None})
    for group, settings_cls in groups.items():
        given = dataclass_values(args, settings_cls, group)
        values[group] = dataclasses.replace(values.get(group) or settings_cls(), **given)
    if isinstance(values.get("init"), str):
        values["init"] = values["init"].format(out=args.out)
    return TrainConfig(**values)


def cmd_train(args) -> int:
    from sc_viz.training.trainer import train

    train(
        train_config(args),
        args.out,
        root=args.data_root,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        stop_after_epochs=args.stop_after_epochs,
    )
    return 0


def add_info_parser(sub):
    p = sub.add_parser("info", help="show a pack's variants, configs and metrics")
    p.add_argument("pack", help="pack folder")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=cmd_info)


def cmd_info(args) -> int:
    from sc_viz.packs import load_pack

    pack = load_pack(args.pack, device="cpu")
    if args.json:
        print(json.dumps(pack.manifest, indent=2))
        return 0
    print(f"{pack.path}: {pack.dataset} / {pack.arch}, {len(pack.classes)} classes, {pack.input_size} px")
    for v, entry in pack.manifest["variants"].items():
        m = entry.get("metrics", {})
        state = "loaded" if v in pack.models else f"NOT LOADED: {pack.errors.get(v)}"
        acc = (
            f"clean {m['clean_acc']:.2%}, PGD {m['pgd_acc']:.2%} (n={m['test_n']})"
            if "clean_acc" in m
            else entry.get("status", "")
        )
        print(f"  {v:9s} {acc}  [{state}]")
    return 0


# Subcommands living in their own modules: sc_viz/cli/<name>.py, each with
# `register(subparsers)` that adds its parser and sets `func`.
COMMAND_MODULES = ["explain", "deck", "bench", "eval", "sweep_lambda", "transfer", "fairness", "import_model"]


def _add_module_commands(sub) -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f".{name}", __package__).register(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sc-viz",
        description="Semantic continuity of image classifiers: train the paper's four "
        "variants and the related ones, evaluate them, explain them.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_parser(sub)
    add_info_parser(sub)
    _add_module_commands(sub)
    return parser


def main(argv=None) -> int:
    from sc_viz.data import DataNotFound
    from sc_viz.packs import PackError
    from sc_viz.training.trainer import TrainError, TrainingDiverged

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv[argv.index(args.command) + 1 :] if args.command in argv else argv  # after the command
    try:
        return args.func(args)
    except (PackError, DataNotFound, TrainError, TrainingDiverged, UnknownName, ValueError) as err:
        print(f"sc-viz {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sc-viz {args.command}: interrupted; run again with --resume to go on", file=sys.stderr)
        return 130
