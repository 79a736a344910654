"""Explanation stability (new, not in the paper): semantic continuity of the explanations
themselves. For each sampled image x, variant, method and photometric perturbation T at
level k, the map of x and the map of T_k(x) (both for the class predicted on x) are
compared by Spearman rank correlation and SSIM; 1 means the explanation did not move.
Per image values (`per_image`, NaN where rho is undefined) and percentile-bootstrap 95%
intervals of the means (`ci`, `evaluate.stats`) are kept beside the means.
Under torchrun each rank takes every world-th image; the values are gathered in sample order.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sc_viz.evaluate.common import SUITES, EvalContext, Suite
from sc_viz.evaluate.render import Chart, Panel, ci_note, num, table, with_ci
from sc_viz.evaluate.saliency import interval_bounds, mean_std, method_names, method_options, predicted
from sc_viz.evaluate.stats import encode_values
from sc_viz.explain import METHODS
from sc_viz.paper import PERTURBATIONS, SUMMARY_LEVEL
from sc_viz.perturb import LEVELS, photometric

DEFAULT_METHODS = ["ig", "gradcam", "lime"]
DEFAULT_STABILITY_LIMIT = 25  # images on the full test set; with --limit N: N / 50 (>= 5)
STABILITY_PER = 50
DEFAULT_LEVEL = SUMMARY_LEVEL


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rho of two maps (H, W); NaN when either map is constant."""
    from scipy.stats import spearmanr

    a, b = a.flatten().double().numpy(), b.flatten().double().numpy()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def map_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """SSIM of two maps (H, W) on their joint value range (maps have no fixed scale)."""
    from skimage.metrics import structural_similarity

    a, b = a.double().numpy(), b.double().numpy()
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    if hi == lo:
        return 1.0  # two identical constant maps
    win = min(7, *a.shape) | 1  # odd window no larger than the map
    return float(structural_similarity(a, b, data_range=hi - lo, win_size=win))


def sample_size(ctx: EvalContext) -> int:
    return ctx.explanation_sample_size("stability_limit", DEFAULT_STABILITY_LIMIT, STABILITY_PER)


def run(ctx: EvalContext) -> dict:

    level = int(ctx.options.get("stability_level", DEFAULT_LEVEL))
    sample = ctx.sample(sample_size(ctx))
    methods = method_names(ctx, DEFAULT_METHODS)
    rho = {v: {m: {p: [] for p in LEVELS} for m in methods} for v in ctx.models}
    ssim = {v: {m: {p: [] for p in LEVELS} for m in methods} for v in ctx.models}
    mine = ctx.shard.units(len(sample))  # under torchrun: every world-th image
    bar = ctx.bar(len(mine) * len(methods), "explanation-stability", unit="map set")
    for i in mine:
        x = sample.get(i)[None].to(ctx.device)  # (1, 3, H, W)
        targets = predicted(ctx.models, x)
        for m in methods:
            opts = method_options(ctx, m)
            base = METHODS[m].explain_many(ctx.models, x, targets, **opts)
            for p in LEVELS:
                xp = photometric(x, p, level)  # (1, 3, H, W)
                moved = METHODS[m].explain_many(ctx.models, xp, targets, **opts)
                for v in ctx.models:
                    rho[v][m][p].append(rank_correlation(base[v].map, moved[v].map))
                    ssim[v][m][p].append(map_ssim(base[v].map, moved[v].map))
            bar.update(1)
    bar.close()
    rho, ssim = ctx.shard.gather_tree((rho, ssim), len(sample))  # lists in sample order

    def summary(table):
        return {
            v: {m: {p: mean_std(vals)[0] for p, vals in pm.items()} for m, pm in mm.items()}
            for v, mm in table.items()
        }

    undefined = {
        v: {m: sum(not math.isfinite(r) for p in LEVELS for r in rho[v][m][p]) for m in methods}
        for v in ctx.models
    }

    def intervals(table):
        return {
            v: {m: {p: interval_bounds(vals, ctx.seed) for p, vals in pm.items()} for m, pm in mm.items()}
            for v, mm in table.items()
        }

    def encoded(table):
        return {
            v: {m: {p: encode_values(vals) for p, vals in pm.items()} for m, pm in mm.items()}
            for v, mm in table.items()
        }

    return {
        "spearman": summary(rho),
        "ssim": summary(ssim),
        "spearman_undefined": undefined,
        "level": level,
        "n": len(sample),
        "methods": methods,
        "ci": {"spearman": intervals(rho), "ssim": intervals(ssim)},
        "per_image": {"spearman": encoded(rho), "ssim": encoded(ssim)},
    }


def _settings(ctx: EvalContext) -> dict:
    methods = method_names(ctx, DEFAULT_METHODS)
    return {
        "stability_limit": sample_size(ctx),
        "level": int(ctx.options.get("stability_level", DEFAULT_LEVEL)),
        "methods": methods,
        "method_options": {m: method_options(ctx, m) for m in methods},
    }


# ---------------------------------------------------------------- report section and chart
def markdown(s: dict, settings: dict) -> str:
    md = [
        f"## Explanation stability (new; not in the paper)\n\nHow much a variant's map moves "
        f"when the image gets a level-{s['level']} photometric perturbation: Spearman rank "
        f"correlation / SSIM between the map of x and the map of T(x), mean over n = {s['n']} "
        "images (1 = unchanged). " + ci_note(s)
    ]
    ci = s.get("ci", {})

    def cell(v, m, p):
        return " / ".join(
            with_ci(num(s[k][v][m][p]), ci.get(k, {}).get(v, {}).get(m, {}).get(p))
            for k in ("spearman", "ssim")
        )

    for m in s["methods"]:
        rows = [[v] + [cell(v, m, p) for p in PERTURBATIONS] for v in s["spearman"]]
        md.append(f"### {m}\n")
        md.append(table(["variant", *PERTURBATIONS], rows))
    md.append("\n![stability](figures/explanation_stability.png)\n")
    return "\n".join(md)


def charts(st: dict) -> list[Chart]:
    return [
        Chart(
            "explanation_stability",
            f"Explanation stability at level {st['level']} (Spearman rho, map of x vs map of T(x))",
            [
                Panel(
                    m,
                    PERTURBATIONS,
                    {v: [st["spearman"][v][m][p] for p in PERTURBATIONS] for v in st["spearman"]},
                    "",
                    "Spearman rho",
                    kind="bar",
                    errors={v: [st["ci"]["spearman"][v][m][p] for p in PERTURBATIONS] for v in st["spearman"]}
                    if "ci" in st
                    else {},
                )
                for m in st["methods"]
            ],
        )
    ]


SUITES.add(
    "explanation-stability",
    Suite(
        run,
        "Spearman rank correlation and SSIM between the map of x and of its level-k "
        "photometric perturbation, per variant x method",
        settings=_settings,
        sharded=True,
        markdown=markdown,
        charts=charts,
    ),
)
