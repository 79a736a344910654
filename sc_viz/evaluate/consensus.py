"""Saliency consensus per variant (docs/related_methods.md, "Saliency consensus as a measure"): for a seeded
sample of test images, each variant x explanation method gets the map of x and the map of
x' for x' = the variant's own PGD of x (the pack's evaluation attack) and each photometric
perturbation at a chosen level; the pair is scored by cosine, Spearman and top-k% IoU
(`sc_viz.inside.consensus`, whose docstring gives our reading of the details).

The claim checked (seed 003's premise, Adv-GSCT's claim): robust models' saliency agrees
more, i.e. `adv` and `advc` above `standard`, per method, perturbation and measure.
Per-image values are stored too, so the app can place one image among the sample.
Under torchrun it runs on rank 0 alone (a 25-image sample; the others wait).

report.json `suites.consensus`:
    {means:  {variant: {method: {kind: {cosine, spearman, iou}}}}  (mean over the images; null
              when undefined for all), values: same shape with a list per image,
     claim: {adv|advc: {higher: {method: {kind: {measure: bool|null}}}, holds, comparisons}},
     methods, kinds: ["pgd", "brightness", ...], measures, level, top_fraction, n}
"""

from __future__ import annotations

import math

import torch

from sc_viz.evaluate.common import SUITES, EvalContext, Suite
from sc_viz.evaluate.neurons import BASELINE, ROBUST, top_fraction, verdict
from sc_viz.evaluate.render import Chart, Panel, num, table
from sc_viz.evaluate.robustness import eval_attack
from sc_viz.evaluate.saliency import method_names, method_options, predicted
from sc_viz.inside.consensus import (
    MEASURES,
    PGD_KIND,
    finite_mean,
    method_consensus,
    perturbed_views,
)
from sc_viz.paper import SUMMARY_LEVEL
from sc_viz.perturb import LEVELS

DEFAULT_CONSENSUS_LIMIT = 25  # images on the full test set; with --limit N: N / 50 (>= 5)
CONSENSUS_PER = 50
DEFAULT_LEVEL = SUMMARY_LEVEL
KINDS = [PGD_KIND, *LEVELS]  # x' of each pair: PGD, then the photometric perturbations


def sample_size(ctx: EvalContext) -> int:
    return ctx.explanation_sample_size("consensus_limit", DEFAULT_CONSENSUS_LIMIT, CONSENSUS_PER)


def settings_of(ctx: EvalContext) -> tuple[list[str], int, float]:
    return (method_names(ctx), int(ctx.options.get("consensus_level") or DEFAULT_LEVEL), top_fraction(ctx))


def claim(means: dict) -> dict:
    """For each robust variant present with the baseline: per method, kind and measure,
    whether its mean agreement is above the baseline's; and how many of them hold."""
    out = {}
    if BASELINE not in means:
        return out
    base = means[BASELINE]
    for v in ROBUST:
        if v not in means:
            continue
        higher = {
            m: {
                k: {
                    s: (
                        None
                        if means[v][m][k][s] is None or base[m][k][s] is None
                        else means[v][m][k][s] > base[m][k][s]
                    )
                    for s in MEASURES
                }
                for k in base[m]
            }
            for m in base
        }
        flat = [h for km in higher.values() for sm in km.values() for h in sm.values() if h is not None]
        out[v] = {"higher": higher, "holds": sum(flat), "comparisons": len(flat)}
    return out


def run(ctx: EvalContext) -> dict:
    methods, level, fraction = settings_of(ctx)
    sample = ctx.sample(sample_size(ctx))
    generator = torch.Generator().manual_seed(ctx.seed)
    attacks = {v: eval_attack(ctx, v) for v in ctx.models}
    values = {v: {m: {k: {s: [] for s in MEASURES} for k in KINDS} for m in methods} for v in ctx.models}
    bar = ctx.bar(len(sample), "consensus", unit="img")
    for i in range(len(sample)):
        x, y = sample.get(i)[None].to(ctx.device), int(sample.labels[i])  # (1, 3, H, W)
        targets = predicted(ctx.models, x)
        views = perturbed_views(
            ctx.models,
            x,
            kinds=KINDS,
            level=level,
            attacks=attacks,
            labels={v: y for v in ctx.models},
            generator=generator,
        )
        for m in methods:
            pairs = method_consensus(
                m, ctx.models, x, views, targets, fraction=fraction, options=method_options(ctx, m)
            )
            for v, per_kind in pairs.items():
                for k, pair in per_kind.items():
                    for s in MEASURES:
                        value = pair.measures[s]  # NaN (undefined) -> null: report.json stays JSON
                        values[v][m][k][s].append(round(value, 5) if math.isfinite(value) else None)
        bar.update(1)
    bar.close()
    means = {
        v: {
            m: {k: {s: finite_mean(vals) for s, vals in sm.items()} for k, sm in km.items()}
            for m, km in mm.items()
        }
        for v, mm in values.items()
    }
    return {
        "means": means,
        "values": values,
        "claim": claim(means),
        "methods": methods,
        "kinds": KINDS,
        "measures": list(MEASURES),
        "level": level,
        "top_fraction": fraction,
        "n": len(sample),
    }


def _settings(ctx: EvalContext) -> dict:
    methods, level, fraction = settings_of(ctx)
    return {
        "consensus_limit": sample_size(ctx),
        "level": level,
        "top_fraction": fraction,
        "methods": methods,
        "method_options": {m: method_options(ctx, m) for m in methods},
        "pgd_steps": ctx.options.get("pgd_steps"),
    }


# ---------------------------------------------------------------- report section and chart
def charts(result: dict) -> list[Chart]:

    means = result["means"]
    return [
        Chart(
            "saliency_consensus",
            f"Saliency consensus (Spearman rho, map of x vs map of x'; photometric level {result['level']})",
            [
                Panel(
                    m,
                    result["kinds"],
                    {v: [means[v][m][k]["spearman"] for k in result["kinds"]] for v in means},
                    "x'",
                    "Spearman rho",
                    kind="bar",
                )
                for m in result["methods"]
            ],
        )
    ]


def markdown(r: dict, settings: dict) -> str:

    means = r["means"]
    md = [
        f"## Saliency consensus (new; Adv-GSCT's measure)\n\nAgreement between a variant's map "
        f"of x and its map of x', x' = the variant's own PGD of x or a level-{r['level']} "
        f"photometric perturbation, both maps for the class predicted on x. Cells: cosine / "
        f"Spearman / top-{r['top_fraction']:.0%} IoU, mean over n = {r['n']} test images "
        "(1 = the map did not move).\n"
    ]
    for m in r["methods"]:
        rows = [
            [v] + [" / ".join(num(means[v][m][k][s]) for s in r["measures"]) for k in r["kinds"]]
            for v in means
        ]
        md.append(f"### {m}\n")
        md.append(table(["variant"] + r["kinds"], rows))
    md.append(
        f'\nThe claim "robust models\' saliency agrees more" ({" and ".join(ROBUST)} above '
        f"{BASELINE}, per method x perturbation x measure):\n"
    )
    for v, c in r["claim"].items():
        under_pgd = [h for km in c["higher"].values() for h in km[PGD_KIND].values() if h is not None]
        md.append(
            f"- {v}: higher in {c['holds']} of {c['comparisons']} comparisons "
            f"({verdict(c['holds'], c['comparisons'])}); under PGD {sum(under_pgd)} of "
            f"{len(under_pgd)} ({verdict(sum(under_pgd), len(under_pgd))})"
        )
    if not r["claim"]:
        md.append(f"- not checked: the pack lacks {BASELINE} or {' / '.join(ROBUST)}")
    md.append("\n![saliency consensus](figures/saliency_consensus.png)\n")
    return "\n".join(md)


SUITES.add(
    "consensus",
    Suite(
        run,
        "saliency consensus: cosine, Spearman and top-10% IoU between a variant's map of x "
        "and of x' (its PGD, each photometric perturbation), per variant x method",
        settings=_settings,
        markdown=markdown,
        charts=charts,
    ),
)
