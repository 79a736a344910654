"""`sc-viz transfer` (Sec. 4.6): fine-tune every variant of a pack on another data set and
report the target's test accuracy. The paper fine-tunes CIFAR-100 models on CIFAR-10,
SVHN and MNIST; here any registered data set can be the target (CIFAR-10 -> Fashion-MNIST
on this machine).

Fine-tuning is plain cross-entropy (TrainConfig variant `standard`) from the source
weights: every tensor whose shape fits is copied, the classifier head is re-initialised
when the class counts differ, and the input normalisation is the target data set's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from sc_viz.cli._schedule import add_schedule_args, schedule_values, write_result
from sc_viz.data import DATASETS, data_root, load_split
from sc_viz.evaluate.report import pct, table
from sc_viz.models import build_model
from sc_viz.packs import load_pack, model_facts, new_manifest, save_weights
from sc_viz.paper import PAPER_RESULTS

EPILOG = """examples:
  sc-viz transfer --pack checkpoints/cifar10-resnet20 --target fashion-mnist --out runs/transfer
  sc-viz transfer --pack P --target fashion-mnist --train-limit 2000 --epochs 1 --out /tmp/t

Each variant is fine-tuned into <out>/<variant>/ (a pack holding one `standard` model);
--resume skips finished ones. Results: <out>/transfer.json and transfer.md."""


def register(sub) -> None:
    p = sub.add_parser(
        "transfer",
        help="fine-tune each variant on another data set (Sec. 4.6)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--pack", required=True, help="source pack folder")
    p.add_argument(
        "--target",
        default="fashion-mnist",
        choices=DATASETS.names(),
        help="target data set (default fashion-mnist)",
    )
    p.add_argument("--out", required=True, help="folder for the fine-tuned models and result")
    p.add_argument("--variants", nargs="+", help="variants to transfer (default: all)")
    add_schedule_args(p, lr=0.01, arch=None)
    p.set_defaults(func=cmd_transfer)


def init_weights(
    source: torch.nn.Module, manifest: dict, num_classes: int, seed: int, path: Path
) -> list[str]:
    """Write the fine-tuning start point: the source's weights in a model built for the
    target (its class count and normalisation). Returns the names left at their fresh
    initialisation."""
    torch.manual_seed(seed)
    model = build_model(manifest["arch"], num_classes, manifest["mean"], manifest["std"])
    state, src = model.state_dict(), source.state_dict()
    fresh = []
    for name, tensor in state.items():
        if name.startswith("normalize.") or name not in src or src[name].shape != tensor.shape:
            fresh.append(name)
        else:
            state[name] = src[name].detach().cpu().clone()
    model.load_state_dict(state)
    save_weights(path, model, model_facts(manifest), {"note": "transfer start point"})
    return [n for n in fresh if not n.startswith("normalize.")]


def cmd_transfer(args) -> int:
    from sc_viz.training.trainer import TrainConfig, train

    pack = load_pack(args.pack, device="cpu")
    variants = args.variants or list(pack.models)
    missing = [v for v in variants if v not in pack.models]
    if missing:
        raise ValueError(f"{args.pack}: no loadable variant(s) {missing}; loaded: {list(pack.models)}")
    out = Path(args.out)
    spec = DATASETS[args.target]
    size = pack.input_size  # keep the source's resolution; the target is resized to it
    classes = load_split(args.target, "test", data_root(args.data_root), size).classes
    target_manifest = new_manifest(args.target, pack.arch, classes, size, spec.mean, spec.std)
    rows = {}
    for v in variants:
        start = out / "init" / f"{v}.safetensors"
        fresh = init_weights(pack.models[v], target_manifest, len(classes), args.seed, start)
        cfg = TrainConfig(
            dataset=args.target,
            arch=pack.arch,
            variant="standard",
            init=str(start),
            input_size=size,
            **schedule_values(args),
        )
        metrics = train(cfg, out / v, root=args.data_root, resume=args.resume, progress=not args.no_progress)
        if not metrics:  # resumed run that was already complete
            metrics = load_pack(out / v, device="cpu").metrics("standard")
        rows[v] = {
            "accuracy": metrics["clean_acc"],
            "pgd_acc": metrics.get("pgd_acc"),
            "n": metrics["test_n"],
            "reinitialised": fresh,
            "pack": str(out / v),
        }
    result = {
        "experiment": "transfer",
        "source": {"pack": str(pack.path), "dataset": pack.dataset, "arch": pack.arch},
        "target": args.target,
        "settings": schedule_values(args),
        "variants": rows,
        "paper": PAPER_RESULTS["transfer"],
    }
    paper = PAPER_RESULTS["transfer"]
    md = (
        f"# Transfer (Sec. 4.6): {pack.dataset} -> {args.target}, {pack.arch}\n\nEach variant "
        f"of `{pack.path}` fine-tuned {args.epochs} epoch(s) on {args.target} (cross-entropy, "
        f"all layers); test accuracy on n = {next(iter(rows.values()))['n']} images. Paper: "
        f"ResNet18 CIFAR-100 -> {' / '.join(paper['targets'])}.\n\n"
        + table(
            ["variant", f"accuracy on {args.target}", "paper " + " / ".join(paper["targets"])],
            [[v, pct(r["accuracy"]), " / ".join(pct(a) for a in paper.get(v, []))] for v, r in rows.items()],
        )
    )
    write_result(out, "transfer", result, md)
    return 0
