"""Adversarial robustness (Sec. 4.4, Table 2): clean and PGD accuracy per variant.

The attack is the variant's evaluation PGD from the pack manifest (`eval_eps`,
`eval_step`, `eval_steps` in its training config) when present, else the paper's
default for the input size (`sc_viz.paper`, docs/method.md#pgd: CIFAR 8/255, 2/255;
ImageNet size 4/255, 1/255; 10 steps, random start). Random starts are seeded, so the
same seed gives the same numbers.
Results are saved after each variant: an interrupted run resumes at the next one.
Under torchrun each rank attacks its batches (`correct_per_image`), with the random starts
of a one-process run, and the per-image answers are gathered: the same numbers.
Each variant also keeps which images it got right (`per_image`, "1 0 1 ..." in test-sample
order), so two variants' accuracies can be compared image by image (paired bootstrap,
`evaluate.stats`); the report's intervals of single accuracies are Wilson intervals.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Optional

import torch

from sc_viz import paper
from sc_viz.attacks import PGDConfig, paper_pgd, pgd
from sc_viz.data import Split, iterate_batches
from sc_viz.evaluate.common import SUITES, EvalContext, Suite
from sc_viz.evaluate.distributed import ONE_PROCESS, Shard, batch_shapes, skip_draws
from sc_viz.evaluate.render import Chart, Panel, acc_ci, bounds, pct, table
from sc_viz.evaluate.stats import accuracy_interval, encode_values
from sc_viz.model_run import model_device, using_model


def eval_attack(ctx: EvalContext, variant: str) -> PGDConfig:
    cfg = ctx.pack.manifest["variants"].get(variant, {}).get("config") or {}
    default = paper_pgd(ctx.pack.input_size)
    steps = ctx.options.get("pgd_steps") or cfg.get("eval_steps") or default.steps
    return PGDConfig(
        eps=float(cfg.get("eval_eps") or default.eps),
        step_size=float(cfg.get("eval_step") or default.step_size),
        steps=int(steps),
        random_start=True,
    )


def correct_per_image(
    model: torch.nn.Module,
    split: Split,
    *,
    batch_size: int,
    attack: Optional[PGDConfig] = None,
    seed: int = 0,
    progress: Optional[Callable[[int], None]] = None,
    shard: Shard = ONE_PROCESS,
) -> list[int]:
    """1 where the model classifies the image right (under `attack` when given), else 0,
    in the split's order; the same draws as `metrics.accuracy`, so the mean equals it.

    Under torchrun (`shard`) each rank attacks its batches and skips the random starts of
    the others' (PGD with no steps draws just that), so every batch gets the random start
    it gets in one process; the ranks' answers are gathered in split order."""
    g = torch.Generator().manual_seed(seed)
    shapes = batch_shapes(split, batch_size) if shard.active else []
    draw = partial(_random_start_only, attack=attack, generator=g)
    done = 0  # batches of the split passed so far
    correct = []  # per batch of this rank: [0/1 per image]
    with using_model(model):
        for b, (x, y) in zip(
            shard.units(len(shapes)) if shard.active else itertools.count(),
            iterate_batches(
                shard.split(split, batch_size),
                batch_size,
                shuffle=False,
                augment=False,
                device=model_device(model),
            ),
        ):  # x: (B, 3, H, W)
            if attack is not None:
                skip_draws(draw, shapes[done:b])  # the other ranks' batches before this one
                x = pgd(model, x, y, attack, generator=g)
            done = b + 1
            with torch.inference_mode():
                correct.append((model(x).argmax(1) == y).int().tolist())
            if progress:
                progress(len(y))
    batches = shard.gather(correct, len(shapes)) if shard.active else correct
    return [c for batch in batches for c in batch]


def _random_start_only(x: torch.Tensor, *, attack: Optional[PGDConfig], generator: torch.Generator) -> None:
    """The random draws PGD makes for a batch like x (its random start), and nothing else."""
    if attack is not None and attack.random_start:
        # no steps: no model runs, so a stand-in serves
        pgd(
            torch.nn.Identity(),
            x,
            torch.zeros(len(x), dtype=torch.long),
            replace(attack, steps=0),
            generator=generator,
        )


def result_row(clean, robust, attack: PGDConfig, n: int) -> dict:
    """One variant's result at one budget: accuracies over `n` images, the attack, and the
    per-image answers (1 right, 0 wrong) that paired intervals need."""
    return {
        "clean_acc": sum(clean) / max(n, 1),
        "pgd_acc": sum(robust) / max(n, 1),
        "n": n,
        "eps": attack.eps,
        "step_size": attack.step_size,
        "steps": attack.steps,
        "random_start": attack.random_start,
        "norm": "Linf",
        "per_image": {"clean_correct": encode_values(clean), "pgd_correct": encode_values(robust)},
    }


def run(ctx: EvalContext) -> dict:
    results = {v: r for v, r in ctx.previous.items() if v in ctx.models and "pgd_acc" in r}
    todo = [v for v in ctx.models if v not in results]
    bar = ctx.bar(len(ctx.shard.split(ctx.test, ctx.batch_size)) * len(todo), "robustness (clean + PGD)")
    for v in todo:
        model, attack = ctx.models[v], eval_attack(ctx, v)
        clean = correct_per_image(model, ctx.test, batch_size=ctx.batch_size, shard=ctx.shard)
        robust = correct_per_image(
            model,
            ctx.test,
            batch_size=ctx.batch_size,
            attack=attack,
            seed=ctx.seed,
            progress=bar.update,
            shard=ctx.shard,
        )
        results[v] = result_row(clean, robust, attack, len(ctx.test))
        ctx.checkpoint(dict(results))
    bar.close()
    return {v: results[v] for v in ctx.models}  # pack order


# ---------------------------------------------------------------- report section and chart
def markdown(r: dict, settings: dict) -> str:
    anchors = paper.PAPER_RESULTS["table2"]
    any_v = next(iter(r.values()))
    md = [
        f"## Adversarial robustness (Sec. 4.4, Table 2)\n\nPGD-{any_v['steps']}, L-inf eps "
        f"{any_v['eps'] * 255:.1f}/255, step {any_v['step_size'] * 255:.1f}/255, random start; "
        f"n = {any_v['n']}; in brackets Wilson 95% intervals. Paper columns: the paper's own "
        "models (other data sets).\n"
    ]
    header = ["variant", "clean", "PGD"] + [f"paper {k} clean / PGD" for k in anchors]
    rows = [
        [v, acc_ci(x["clean_acc"], x.get("n")), acc_ci(x["pgd_acc"], x.get("n"))]
        + [" / ".join(pct(a) for a in anchors[k][v]) if v in anchors[k] else "-" for k in anchors]
        for v, x in r.items()
    ]
    md.append(table(header, rows))
    md.append("\n![Table 2](figures/table2_robustness.png)\n")
    return "\n".join(md)


def charts(r: dict) -> list[Chart]:
    return [
        Chart(
            "table2_robustness",
            "Clean and PGD accuracy (Table 2), Wilson 95% intervals",
            [
                Panel(
                    "accuracy",
                    ["clean", "PGD"],
                    {v: [r[v]["clean_acc"], r[v]["pgd_acc"]] for v in r},
                    "",
                    "accuracy",
                    kind="bar",
                    errors={
                        v: [
                            bounds(accuracy_interval(r[v][k], r[v].get("n")))
                            for k in ("clean_acc", "pgd_acc")
                        ]
                        for v in r
                    },
                )
            ],
        )
    ]


SUITES.add(
    "robustness",
    Suite(
        run,
        "clean and PGD-10 accuracy per variant (Table 2)",
        settings=lambda ctx: {"pgd_steps": ctx.options.get("pgd_steps")},
        sharded=True,
        markdown=markdown,
        charts=charts,
    ),
)
