"""Semantic disruption (Sec. 4.3, Tables 7/9/11): accuracy per variant when the image's
semantics are destroyed but low-level statistics survive.

- channel_shift d: R shifted d px, B 2d px to the lower right, wrapping (Table 7);
- centre_noise f: the central square of side f x side replaced by U[0,1] noise (Table 9);
- sliding_puzzle k: k x k blocks shuffled (Table 11).
The paper's strengths did not survive the text extraction; the defaults
(`paper.DISRUPTION_STRENGTHS`) are the project's.
Each disrupted batch is drawn once (seeded per transform and strength) and shared by
every variant, so the variants are compared on the same images. Under torchrun each rank
counts its batches (each generator skipping the other ranks' draws) and the counts are
summed: the accuracies equal the one-process ones.
Accuracies and n are all their Wilson 95% intervals need (`evaluate.stats`): the report
computes them, so reports stored before the intervals get them too.
"""

from __future__ import annotations

import itertools
import zlib
from functools import partial

import torch

from sc_viz.evaluate.common import SUITES, EvalContext, Suite, level_key
from sc_viz.evaluate.distributed import batch_shapes, skip_draws
from sc_viz.evaluate.render import Chart, Panel, acc_ci, bounds, table
from sc_viz.evaluate.stats import accuracy_interval
from sc_viz.paper import DISRUPTION_STRENGTHS
from sc_viz.perturb import centre_noise, channel_shift, sliding_puzzle


def _apply(name: str, x: torch.Tensor, s, g: torch.Generator) -> torch.Tensor:
    if name == "channel_shift":
        return channel_shift(x, int(s))
    if name == "centre_noise":
        return centre_noise(x, float(s), generator=g)
    return sliding_puzzle(x, int(s), generator=g)


def run(ctx: EvalContext) -> dict:
    strengths = ctx.options.get("disruption_strengths") or DISRUPTION_STRENGTHS
    # one generator per (transform, strength): the draws do not depend on suite order
    gens = {
        (t, s): torch.Generator().manual_seed(ctx.seed * 1_000_003 + zlib.crc32(f"{t}:{s}".encode()))
        for t in strengths
        for s in strengths[t]
    }
    correct = {v: {t: {s: 0 for s in strengths[t]} for t in strengths} for v in ctx.models}
    clean = {v: 0 for v in ctx.models}
    total = 0
    # under torchrun: each generator skips the draws of the other ranks' batches
    shapes = batch_shapes(ctx.test, ctx.batch_size) if ctx.shard.active else []
    done = 0  # batches of the sample passed so far
    units = ctx.shard.units(len(shapes)) if ctx.shard.active else itertools.count()
    bar = ctx.bar(len(ctx.shard.split(ctx.test, ctx.batch_size)), "disruption")
    with torch.inference_mode():
        for b, (x, y) in zip(units, ctx.shard_batches()):  # x: (B, 3, H, W)
            for t in strengths:
                for s in strengths[t]:
                    skip_draws(partial(_apply, t, s=s, g=gens[(t, s)]), shapes[done:b])
            done = b + 1
            for v, m in ctx.models.items():
                clean[v] += (m(x).argmax(1) == y).sum().item()
            for t in strengths:
                for s in strengths[t]:
                    xd = _apply(t, x, s, gens[(t, s)])  # (B, 3, H, W)
                    for v, m in ctx.models.items():
                        correct[v][t][s] += (m(xd).argmax(1) == y).sum().item()
            total += len(y)
            bar.update(len(y))
    bar.close()
    if ctx.shard.active:  # counts: exact sums over the ranks
        parts = ctx.shard.all_gather((correct, clean, total))
        correct = {
            v: {t: {s: sum(p[0][v][t][s] for p in parts) for s in per} for t, per in correct[v].items()}
            for v in correct
        }
        clean = {v: sum(p[1][v] for p in parts) for v in clean}
        total = sum(p[2] for p in parts)
    n = max(total, 1)
    return {
        "accuracy": {
            v: {t: {level_key(s): c / n for s, c in per.items()} for t, per in correct[v].items()}
            for v in ctx.models
        },
        "clean_acc": {v: c / n for v, c in clean.items()},
        "strengths": {t: list(s) for t, s in strengths.items()},
        "n": total,
    }


# ---------------------------------------------------------------- report section and chart
TITLES = {  # transform -> (section title, what it does)
    "channel_shift": (
        "RGB channel translation (Sec. 4.3.1, Table 7)",
        "R shifted d px and B 2d px to the lower right, wrapping around",
    ),
    "centre_noise": (
        "Centre randomisation (Sec. 4.3.2, Table 9)",
        "central square (fraction of the side) replaced by uniform noise",
    ),
    "sliding_puzzle": ("Sliding puzzle (Sec. 4.3.3, Table 11)", "k x k blocks shuffled"),
}
STRENGTH_LABELS = {
    "channel_shift": "shift d (px)",
    "centre_noise": "centre fraction",
    "sliding_puzzle": "blocks per side k",
}


def markdown(d: dict, settings: dict) -> str:
    md = [
        f"## Semantic disruption (Sec. 4.3)\n\nAccuracy on n = {d['n']} test images, in "
        "brackets Wilson 95% intervals. The paper "
        "reports these tables for its own models; its strengths did not survive extraction, "
        "so the strengths are the project's.\n"
    ]
    for t, strengths in d["strengths"].items():
        title, what = TITLES.get(t, (t, ""))
        md.append(f"### {title}\n\n{what}.\n")
        rows = [
            [v, acc_ci(d["clean_acc"][v], d["n"])]
            + [acc_ci(d["accuracy"][v][t][str(s)], d["n"]) for s in strengths]
            for v in d["accuracy"]
        ]
        md.append(table(["variant", "clean"] + [str(s) for s in strengths], rows))
    md.append("\n![disruption](figures/tables7_9_11_disruption.png)\n")
    return "\n".join(md)


def charts(d: dict) -> list[Chart]:
    return [
        Chart(
            "tables7_9_11_disruption",
            "Accuracy under semantic disruption, Wilson 95% intervals",
            [
                Panel(
                    t.replace("_", " "),
                    strengths,
                    {v: [d["accuracy"][v][t][str(x)] for x in strengths] for v in d["accuracy"]},
                    STRENGTH_LABELS.get(t, t),
                    "accuracy",
                    errors={
                        v: [bounds(accuracy_interval(d["accuracy"][v][t][str(x)], d["n"])) for x in strengths]
                        for v in d["accuracy"]
                    },
                )
                for t, strengths in d["strengths"].items()
            ],
        )
    ]


SUITES.add(
    "disruption",
    Suite(
        run,
        "accuracy under RGB channel shift, centre noise, sliding puzzle (Tables 7/9/11)",
        settings=lambda ctx: {"strengths": ctx.options.get("disruption_strengths") or DISRUPTION_STRENGTHS},
        sharded=True,
        markdown=markdown,
        charts=charts,
    ),
)
