"""`sc-viz eval`: the paper's experiments on a pack -> report.json + report.md + figures."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

EPILOG = """examples:
  sc-viz eval --pack checkpoints/cifar10-resnet20 --suite all --out reports/cifar10-resnet20
  sc-viz eval --pack checkpoints/cifar10-resnet20 --suite continuity robustness --limit 500
  sc-viz eval --pack ... --out ... --resume      (after Ctrl-C: keep what was finished)
  torchrun --nproc_per_node=4 -m sc_viz eval --pack ... --suite all   (images split among 4 GPUs)
  sc-viz eval --pack ... --suite sanity --processes 2   (on a 2-core CPU: about half the time)

report.json is rewritten after every suite (and every variant of robustness); the suites
not run this time keep their earlier results when the weights are the same."""


def register(sub) -> None:
    from sc_viz.evaluate import SUITES

    p = sub.add_parser(
        "eval",
        help="evaluate a pack: the paper's experiments -> report",
        description="Run evaluation suites on every variant of a pack and write "
        "report.json, report.md and figures. Suites: "
        + "; ".join(f"{k}: {v.description}" for k, v in SUITES.items()),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_args(p)
    g = p.add_argument_group("suite options")
    _add_robustness_args(g)
    _add_explanation_args(g)
    _add_embedding_args(g)
    _add_method_budget_args(g)
    _add_neurons_consensus_args(g)
    _add_sanity_args(g)
    _add_output_args(p)
    p.set_defaults(func=cmd_eval)


def _add_run_args(p) -> None:
    """What to evaluate, on what and how (the parser's own options, before the group)."""
    from sc_viz.evaluate import SUITES

    p.add_argument("--pack", required=True, help="pack folder (manifest.json + weights)")
    p.add_argument(
        "--suite",
        nargs="+",
        default=["all"],
        choices=["all"] + SUITES.names(),
        help="suites to run (default: all)",
    )
    p.add_argument("--out", help="report folder (default: reports/<pack name>)")
    p.add_argument(
        "--limit",
        type=int,
        help="evaluate on a seeded subset of this many test images (default: the whole test set)",
    )
    p.add_argument("--seed", type=int, default=0, help="subset, random starts, noise (default 0)")
    p.add_argument("--batch-size", type=int, default=256, help="images per batch (default 256)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep suites already complete with the same settings and weights",
    )
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    p.add_argument("--data-root", help="data folder (default: $SC_VIZ_DATA)")
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: torch's choice; 1 can be faster when other jobs share the CPU)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        help="CPU: split the test images of the sharded suites among this many local processes "
        "(torchrun underneath, one thread each unless --threads; the report is the same as "
        "one process's). Small models explain one image at a time, which one thread runs "
        "about as fast as several, so on an N-core CPU N processes take about 1/N of the "
        "time (default 1)",
    )


def _add_robustness_args(g) -> None:
    """Suite options: robustness and robustness-budgets (PGD)."""
    from sc_viz.evaluate import budgets

    g.add_argument(
        "--pgd-steps",
        type=int,
        help="robustness: PGD iterations (default: the pack's eval_steps, else the paper's 10); "
        "robustness-budgets: PGD iterations at every budget (default 10)",
    )
    g.add_argument(
        "--budgets",
        nargs="+",
        type=float,
        metavar="EPS",
        help="robustness-budgets: L-inf budgets in /255 (default 1 2 4 8); PGD with step eps/4 "
        "and random start at each",
    )
    g.add_argument(
        "--budgets-limit",
        type=int,
        help="robustness-budgets: images of the seeded sample that every budget and variant "
        f"shares (default {budgets.DEFAULT_LIMIT}; at most the test sample)",
    )
    g.add_argument(
        "--budgets-check",
        choices=budgets.CHECK_ATTACKS,
        help="robustness-budgets: a second attack as a check at one budget: foolbox's L-inf PGD "
        "(default; skipped with a note when foolbox is not installed) or none",
    )
    g.add_argument(
        "--budgets-check-eps",
        type=float,
        metavar="EPS",
        help="robustness-budgets: the check attack's budget in /255, one of --budgets (default the largest)",
    )


def _add_explanation_args(g) -> None:
    """Suite options: saliency, explanation-stability, and the methods they explain with."""
    from sc_viz.evaluate import stability
    from sc_viz.evaluate.saliency import DEFAULT_EXPLAIN_LIMIT, EXPLAIN_PER
    from sc_viz.evaluate.stability import DEFAULT_STABILITY_LIMIT, STABILITY_PER
    from sc_viz.paper import LEVEL_IDS

    g.add_argument(
        "--explain-limit",
        type=int,
        help=f"saliency: images explained (default {DEFAULT_EXPLAIN_LIMIT}; with "
        f"--limit N: N/{EXPLAIN_PER}, at least 5)",
    )
    g.add_argument(
        "--stability-limit",
        type=int,
        help=f"explanation-stability: images (default {DEFAULT_STABILITY_LIMIT}; "
        f"with --limit N: N/{STABILITY_PER}, at least 5)",
    )
    g.add_argument(
        "--stability-level",
        type=int,
        default=stability.DEFAULT_LEVEL,
        choices=LEVEL_IDS,
        help=f"explanation-stability: Table-1 level of T (default {stability.DEFAULT_LEVEL})",
    )
    g.add_argument(
        "--methods",
        nargs="+",
        help="explanation methods (default: all for saliency and consensus; ig gradcam lime for stability)",
    )


def _add_embedding_args(g) -> None:
    """Suite options: embeddings."""
    from sc_viz.evaluate import embeddings as emb
    from sc_viz.paper import LEVEL_IDS

    g.add_argument(
        "--embed-images",
        type=int,
        default=emb.DEFAULT_IMAGES,
        help=f"embeddings: images to project, each of another class (default {emb.DEFAULT_IMAGES})",
    )
    g.add_argument(
        "--embed-count",
        type=int,
        default=emb.DEFAULT_COUNT,
        help=f"embeddings: same-class images per image (default {emb.DEFAULT_COUNT})",
    )
    g.add_argument(
        "--embed-level",
        type=int,
        default=emb.DEFAULT_LEVEL,
        choices=LEVEL_IDS,
        help=f"embeddings: Table-1 level of the perturbations (default {emb.DEFAULT_LEVEL})",
    )


def _add_method_budget_args(g) -> None:
    """Suite options: each method's cost knob (generated from the registry) and LIME's precision."""
    from sc_viz.explain.base import budget_flag, budgeted

    for b in budgeted().values():  # each method's cost knob (explain.base.Budget)
        g.add_argument(
            budget_flag(b),
            type=int,
            dest=b.key,
            help=f"{b.help} per map (default {b.defaults['evaluation']}; the sanity suite: "
            f"{b.defaults['sanity']})",
        )
    g.add_argument(
        "--lime-precision",
        choices=["auto", "fp32", "bf16"],
        help="LIME scores its samples under bf16 autocast where the device runs it natively "
        "(auto, the default); fp32 reproduces a report made on a machine without it",
    )


def _add_neurons_consensus_args(g) -> None:
    """Suite options: neurons and consensus."""
    from sc_viz.evaluate import consensus, neurons
    from sc_viz.paper import LEVEL_IDS

    g.add_argument(
        "--neurons-limit",
        type=int,
        help=f"neurons: images (default {neurons.DEFAULT_NEURONS_LIMIT}, at most the test sample)",
    )
    g.add_argument(
        "--layers",
        nargs="+",
        help="neurons: module names to probe (default: the stem conv and every residual block)",
    )
    g.add_argument(
        "--consensus-limit",
        type=int,
        help="consensus: images (default "
        f"{consensus.DEFAULT_CONSENSUS_LIMIT}; with --limit N: N/{consensus.CONSENSUS_PER}, "
        "at least 5)",
    )
    g.add_argument(
        "--consensus-level",
        type=int,
        default=consensus.DEFAULT_LEVEL,
        choices=LEVEL_IDS,
        help=f"consensus: Table-1 level of the photometric x' (default {consensus.DEFAULT_LEVEL})",
    )
    g.add_argument(
        "--top-fraction",
        type=float,
        help="neurons and consensus: the top share of "
        "channels / pixels (top-10%% sensitivity, top-k%% IoU; default 0.1; our reading)",
    )


def _add_sanity_args(g) -> None:
    """Suite options: sanity (model parameter randomisation)."""
    from sc_viz.evaluate import sanity

    g.add_argument(
        "--sanity-limit",
        type=int,
        help="sanity: images (default "
        f"{sanity.DEFAULT_SANITY_LIMIT}; with --limit N: N/{sanity.SANITY_PER}, at least 5)",
    )
    g.add_argument(
        "--sanity-orders",
        nargs="+",
        choices=["cascading", "independent"],
        help="sanity: randomisation orders (default: cascading)",
    )
    g.add_argument(
        "--sanity-flag-threshold",
        type=float,
        help="sanity: flag a method whose |map| "
        "Spearman after the whole cascade is >= this (default 0.5; our reading)",
    )


def _add_output_args(p) -> None:
    """Which variants to update, and what to leave out of the output (after the group, so
    that they come last in the usage line, as before)."""
    p.add_argument(
        "--variants",
        nargs="+",
        metavar="VARIANT",
        help="update the report at --out for these variants only (after retraining them): "
        "the suites run on them and their results replace the old ones; every other "
        "variant's weights must be those the report was made from, and the flags those of "
        "the report's run (evaluate/update.py)",
    )
    p.add_argument("--no-figures", action="store_true", help="skip PNG/HTML figures")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


IMAGE_COUNT_FLAGS = (
    "limit",
    "embed_images",
    "embed_count",
    "explain_limit",
    "stability_limit",
    "neurons_limit",
    "consensus_limit",
    "sanity_limit",
    "budgets_limit",
)
PASSED_IF_SET = (  # unset: suite defaults
    "sanity_limit",
    "sanity_orders",
    "sanity_flag_threshold",
    "budgets",
    "budgets_limit",
    "budgets_check",
    "budgets_check_eps",
)


def cmd_eval(args) -> int:
    if args.processes < 1:
        raise ValueError("--processes must be at least 1")
    if args.processes > 1 and "WORLD_SIZE" not in os.environ:
        return _launch_processes(args)
    _check_image_counts(args)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else Path("reports") / Path(args.pack).resolve().name
    options = _suite_options(args)
    if args.variants:
        return _update_variants(args, out, options)
    return _run_suites(args, out, options)


def _launch_processes(args) -> int:
    """--processes N: the same eval in N local CPU processes (torchrun underneath)."""
    from sc_viz.evaluate.distributed import launch_local

    if args.device and args.device != "cpu":
        raise ValueError(
            "--processes starts CPU processes; "
            "for GPUs use torchrun --nproc_per_node=<GPUs> -m sc_viz eval ..."
        )
    from sc_viz.packs import read_manifest

    read_manifest(Path(args.pack))  # a wrong path: one error line here, not one per process
    return launch_local(args.processes, ["eval", *_device_cpu(_without_processes(args.argv))])


def _check_image_counts(args) -> None:
    for flag in IMAGE_COUNT_FLAGS:
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be a positive number of images")


def _suite_options(args) -> dict:
    """The suites' options from the flags (those left unset: the suites' defaults)."""
    options = {
        "explain_limit": args.explain_limit,
        "stability_limit": args.stability_limit,
        "stability_level": args.stability_level,
        "embed_images": args.embed_images,
        "embed_count": args.embed_count,
        "embed_level": args.embed_level,
        "neurons_limit": args.neurons_limit,
        "consensus_limit": args.consensus_limit,
        "consensus_level": args.consensus_level,
        "layers": args.layers,
        "top_fraction": args.top_fraction,
    }
    if args.budgets is not None and min(args.budgets) <= 0:
        raise ValueError("--budgets must be positive eps values in /255")
    for flag in PASSED_IF_SET:
        if getattr(args, flag, None) is not None:
            options[flag] = getattr(args, flag)
    if args.pgd_steps:
        options["pgd_steps"] = args.pgd_steps
    if args.methods:
        options["methods"] = args.methods
    given = _method_options(args)
    if given:
        options["method_options"] = given
    return options


def _method_options(args) -> dict[str, dict]:
    """method -> its options given on the command line (budgets, LIME's precision)."""
    from sc_viz.explain.base import budgeted

    given: dict[str, dict] = {}
    for m, b in budgeted().items():
        if getattr(args, b.key) is not None:
            given[m] = {b.option: getattr(args, b.key)}
    if args.lime_precision is not None:
        given.setdefault("lime", {})["precision"] = args.lime_precision
    return given


def _run_suites(args, out: Path, options: dict) -> int:
    from sc_viz.evaluate import run_suites
    from sc_viz.evaluate.distributed import from_environment

    # under torchrun: join the process group, one device per rank (evaluate/distributed.py)
    shard, device = from_environment(args.device)
    try:
        report = run_suites(
            args.pack,
            args.suite,
            limit=args.limit,
            seed=args.seed,
            out=out,
            progress=not args.no_progress,
            resume=args.resume,
            batch_size=args.batch_size,
            options=options,
            root=args.data_root,
            device=device,
            figures=not args.no_figures,
            shard=shard,
        )
    finally:
        if shard.active:
            import torch.distributed as dist

            dist.destroy_process_group()
    if shard.is_main:
        print(f"report: {out / 'report.md'} ({out / 'report.json'})")
    return 1 if report["failed"] else 0


def _without_processes(argv: list[str]) -> list[str]:
    """The eval arguments (after `eval`) less --processes and its value."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--processes":
            skip = True
        elif not a.startswith("--processes="):
            out.append(a)
    return out


def _device_cpu(argv: list[str]) -> list[str]:
    """The local processes evaluate on the CPU, also where CUDA is present (torchrun would
    put each on a GPU of its own)."""
    return (
        argv
        if any(a == "--device" or a.startswith("--device=") for a in argv)
        else [*argv, "--device", "cpu"]
    )


def _update_variants(args, out: Path, options: dict) -> int:
    from sc_viz.evaluate.update import update_variants

    report = update_variants(
        args.pack,
        args.variants,
        args.suite,
        out=out,
        device=args.device,
        figures=not args.no_figures,
        limit=args.limit,
        seed=args.seed,
        progress=not args.no_progress,
        batch_size=args.batch_size,
        options=options,
        root=args.data_root,
    )
    if report:
        print(f"report: {out / 'report.md'} updated for {', '.join(args.variants)}")
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    return 0
