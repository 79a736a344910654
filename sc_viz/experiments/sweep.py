"""The lambda sweep's numbers (Fig. 5, and the saliency maps of its models): for every
model `c` trained at one lambda with one seed,

- test accuracy and the per-image sum of the four level-1 DS on a fixed test sample (the
  continuity suite's `per_image_ds`, seeded by 0 so every seed and lambda share images);
- the saliency suite's measures (`evaluate.saliency.run`: total variation, Gini, centre
  share, deletion/insertion AUC, for each explanation method) on the saliency suite's own
  images (the same seeded sample of the whole test split as `sc-viz eval --suite saliency`
  with the same seed and `explain_limit`), so the sweep's smoothness lines up with the
  report's standard and c.

Per lambda the seeds are summarised by `experiments.seeds.summary` (spread over seeds,
bootstrap interval over images), and the trend "smaller DS, smoother maps" is checked as
the paired claim "measure at the largest lambda < at the smallest lambda"
(`experiments.seeds.compare`), with the Spearman correlation of the per-lambda means as a
description.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import torch

from sc_viz.data import Split, seeded_subset
from sc_viz.evaluate.render import Chart, Panel, table
from sc_viz.evaluate.stats import decode_values, encode_values
from sc_viz.experiments.seeds import compare, fmt_interval, fmt_spread, summary
from sc_viz.packs import Pack, atomic_write_json

SCORES_JSON = "sweep_scores.json"
SMOOTHNESS = "total_variation"  # the measure the trend verdict is about (lower = smoother)
# per measure: the direction the paper's "smoother, more object-focused" maps would move
# as lambda grows (DS falls)
EXPECTED = {
    "total_variation": "lower",
    "gini": "higher",
    "centre_share": "higher",
    "deletion_auc": "lower",
    "insertion_auc": "higher",
}


def score_model(
    pack: Pack,
    test: Split,
    saliency_test: Optional[Split],
    *,
    saliency_images: int,
    saliency_seed: int,
    methods: Optional[Sequence[str]] = None,
    progress: bool = False,
) -> dict:
    """Per-image scores of the pack's models (the sweep packs hold one, `c`): clean
    correctness and level-1 DS per perturbation on `test`, and the saliency suite's
    per-image measures on `saliency_test` (None: no saliency)."""
    from sc_viz.evaluate import saliency
    from sc_viz.evaluate.common import EvalContext
    from sc_viz.evaluate.continuity import per_image_ds

    t0 = time.time()
    ctx = EvalContext(pack, test, seed=0, progress=progress)
    logits, ds, labels = per_image_ds(ctx)
    (variant,) = list(pack.models)[:1]
    correct = (logits[variant].argmax(1) == labels).float()
    level1 = {p: d for (p, lv), d in ds[variant].items() if lv == 1}  # {pert: (N,)}
    out = {
        "n": len(test),
        "correct": encode_values(correct.tolist()),
        "level1_ds": {p: encode_values(d.tolist()) for p, d in level1.items()},
        "level1_ds_sum": encode_values(torch.stack(list(level1.values())).sum(0).tolist()),
        "seconds": {"ds": time.time() - t0},
    }
    if saliency_test is not None:
        t0 = time.time()
        options = {"explain_limit": saliency_images}
        if methods:
            options["methods"] = list(methods)
        sctx = EvalContext(pack, saliency_test, seed=saliency_seed, options=options, progress=progress)
        result = saliency.run(sctx)
        out["saliency"] = {
            "n": result["n"],
            "seed": saliency_seed,
            "methods": result["methods"],
            "per_image": result["per_image"][variant],
        }
        out["seconds"]["saliency"] = time.time() - t0
    return out


def cached_scores(run_dir: Path, key: dict, compute) -> dict:
    """<run_dir>/sweep_scores.json when it was made with the same `key` (settings), else
    compute() and store it: a resumed sweep does not explain its models again."""
    path = Path(run_dir) / SCORES_JSON
    if path.exists():
        try:
            stored = json.loads(path.read_text())
            if stored.get("key") == key:
                return stored["scores"]
        except (ValueError, KeyError):  # half-written or odd: computed again
            pass
    scores = compute()
    atomic_write_json(path, {"key": key, "scores": scores})
    return scores


def saliency_sample_indices(n_test: int, n: int, seed: int) -> list[int]:
    """Which test images the saliency suite explains (`EvalContext.sample` of the whole
    test split): recorded in the result so the images can be checked against a report."""
    numbered = Split(torch.arange(n_test), [], images=torch.zeros(n_test, 1, 1, 1, dtype=torch.uint8))
    return seeded_subset(numbered, n, seed).labels.tolist()  # each "label" is its image's index


def summarise(scores: dict, lambdas: Sequence[float], seed: int = 0) -> dict:
    """scores: {lam_key: {seed: score_model(...)}} -> per lambda the accuracy, level-1 DS
    sum and every saliency measure summarised over seeds (`seeds.summary`), plus the trend
    claims between the smallest and the largest lambda."""
    keys = [lam_key(lam) for lam in lambdas]
    rows = {}
    for key, lam in zip(keys, lambdas):
        per_seed = [s for _, s in sorted(scores[key].items())]
        row = {
            "lam": lam,
            "seeds": sorted(scores[key]),
            "n": per_seed[0]["n"],
            "accuracy": summary([decode_values(s["correct"]) for s in per_seed], seed),
            "level1_ds_sum": summary([decode_values(s["level1_ds_sum"]) for s in per_seed], seed),
            "level1_ds": {
                p: summary([decode_values(s["level1_ds"][p]) for s in per_seed], seed)["mean"]
                for p in per_seed[0]["level1_ds"]
            },
        }
        if all("saliency" in s for s in per_seed):
            sal = per_seed[0]["saliency"]
            row["saliency"] = {
                m: {
                    k: summary([decode_values(s["saliency"]["per_image"][m][k]) for s in per_seed], seed)
                    for k in sal["per_image"][m]
                }
                for m in sal["methods"]
            }
            row["saliency_n"] = sal["n"]
        rows[key] = row
    trend = {}
    if len(keys) >= 2:
        lo, hi = keys[0], keys[-1]
        a, b = scores[hi], scores[lo]
        common = sorted(set(a) & set(b))
        trend["level1_ds_sum"] = compare(
            [decode_values(a[s]["level1_ds_sum"]) for s in common],
            [decode_values(b[s]["level1_ds_sum"]) for s in common],
            "lower",
            seed,
        )
        if "saliency" in rows[lo] and "saliency" in rows[hi]:
            for m, measures in rows[lo]["saliency"].items():
                for k in measures:
                    if k not in EXPECTED:
                        continue
                    claim = compare(
                        [decode_values(a[s]["saliency"]["per_image"][m][k]) for s in common],
                        [decode_values(b[s]["saliency"]["per_image"][m][k]) for s in common],
                        EXPECTED[k],
                        seed,
                    )
                    claim["spearman_with_ds"] = spearman(
                        [rows[key]["level1_ds_sum"]["mean"] for key in keys],
                        [rows[key]["saliency"][m][k]["mean"] for key in keys],
                    )
                    trend.setdefault(m, {})[k] = claim
    return {"lambdas": rows, "trend": trend, "trend_between": [keys[0], keys[-1]] if len(keys) >= 2 else None}


def spearman(x: Sequence[Optional[float]], y: Sequence[Optional[float]]) -> Optional[float]:
    """Spearman rank correlation of the per-lambda means (descriptive: a handful of
    points), None when undefined."""
    import math

    from scipy.stats import spearmanr

    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None]
    if len(pairs) < 3:
        return None
    rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
    return float(rho) if math.isfinite(rho) else None


def lam_key(lam: float) -> str:
    return f"{lam:g}"


MEASURE_LABELS = {
    "total_variation": "TV (lower = smoother)",
    "gini": "Gini (higher = sparser)",
    "centre_share": "centre share",
    "deletion_auc": "deletion AUC (lower = more faithful)",
    "insertion_auc": "insertion AUC (higher = more faithful)",
}


def charts(result: dict) -> list:
    """Fig. 5 (accuracy, level-1 DS sum) and smoothness vs lambda per explanation method,
    as report Charts with 95% image intervals as error bars."""

    rows = result["lambdas"]
    x = [key for key in rows]

    def panel(title, getter, ylab):
        return Panel(
            title,
            x,
            {"c": [getter(r)["mean"] for r in rows.values()]},
            "lambda",
            ylab,
            errors={"c": [getter(r)["ci"] for r in rows.values()]},
        )

    out = [
        Chart(
            "fig5_lambda",
            "Accuracy and continuity vs lambda (Fig. 5), mean over seeds, 95% intervals",
            [
                panel("test accuracy", lambda r: r["accuracy"], "accuracy"),
                panel("sum of level-1 mean DS", lambda r: r["level1_ds_sum"], "DS sum"),
            ],
        )
    ]
    first = next(iter(rows.values()))
    if "saliency" in first:
        for k in (SMOOTHNESS, "gini"):
            out.append(
                Chart(
                    f"saliency_{k}_lambda",
                    f"Saliency {MEASURE_LABELS[k]} vs lambda, mean over seeds, 95% intervals",
                    [
                        panel(m, lambda r, m=m, k=k: r["saliency"][m][k], MEASURE_LABELS[k].split(" (")[0])
                        for m in first["saliency"]
                        if k in first["saliency"][m]
                    ],
                )
            )
    return out


def markdown(result: dict) -> str:
    """sweep_lambda.md from sweep_lambda.json (format 2)."""
    first = next(iter(result["lambdas"].values()))
    lines = fig5_section(result)
    if "saliency" in first:
        lines += saliency_section(result)
    if result.get("trend"):
        lines += trend_section(result)
    if result.get("timing", {}):
        lines.append(timing_note(result["timing"]))
    return "\n".join(lines)


def fig5_section(result: dict) -> list[str]:
    """The title, the runs and the accuracy and level-1 DS sum per lambda (Fig. 5)."""
    s, rows = result["settings"], result["lambdas"]
    first = next(iter(rows.values()))
    init = s.get("init")
    return [
        f"# lambda sweep (Fig. 5): {result['dataset']} / {result['arch']}\n",
        f"Variant c trained {s['epochs']} epoch(s) per lambda "
        f"({'fine-tuned from ' + init if init else 'from scratch'}), training seeds "
        f"{', '.join(map(str, result['seeds']))}; accuracy and DS on n = {first['n']:,} test images "
        "(the same for every run). Values: mean over seeds (min, max); 95% interval: bootstrap over "
        "the images of the seed-averaged per-image values. The paper shows accuracy falling slightly "
        "and the level-1 DS sum falling sharply as lambda grows.\n",
        table(
            ["lambda", "accuracy", "95% interval", "sum of level-1 DS", "95% interval"],
            [
                [
                    k,
                    fmt_spread(r["accuracy"], percent=True),
                    fmt_interval(r["accuracy"]["ci"], percent=True),
                    fmt_spread(r["level1_ds_sum"]),
                    fmt_interval(r["level1_ds_sum"]["ci"]),
                ]
                for k, r in rows.items()
            ],
        ),
        "![Fig. 5](fig5_lambda.png)\n",
    ]


def saliency_section(result: dict) -> list[str]:
    """The saliency suite's measures per lambda, one table per explanation method."""
    rows = result["lambdas"]
    first, sal = next(iter(rows.values())), result["saliency_images"]
    lines = [
        "## Saliency smoothness vs lambda\n\nThe saliency suite's measures of each model's maps "
        f"(its own predicted class), on the saliency suite's images: n = {first['saliency_n']} "
        f"test images drawn with seed {sal['seed']} from the whole test split, the sample "
        f"`sc-viz eval --suite saliency --seed {sal['seed']}` explains. Does the map get smoother "
        "as DS falls?\n"
    ]
    measures = [k for k in MEASURE_LABELS if k in next(iter(first["saliency"].values()))]
    for m in first["saliency"]:
        lines.append(f"### {m}\n")
        lines.append(
            table(
                ["lambda"] + [MEASURE_LABELS[k] for k in measures],
                [
                    [k]
                    + [
                        f"{fmt_spread(r['saliency'][m][q])} {fmt_interval(r['saliency'][m][q]['ci'])}"
                        for q in measures
                    ]
                    for k, r in rows.items()
                ],
            )
        )
    lines.append("![TV vs lambda](saliency_total_variation_lambda.png)\n")
    return lines


def trend_section(result: dict) -> list[str]:
    """The paired claim at the largest lambda against the smallest, per measure, and the
    smoothness finding."""
    trend = result["trend"]
    lo, hi = result["trend_between"]
    lines = [
        f"## Trend: lambda {hi} against lambda {lo}\n\nPaired over the same images, seed-averaged; "
        "a verdict is kept only when every seed's own difference has its sign. Spearman: rank "
        "correlation over the lambdas of the mean DS sum and the mean measure (descriptive).\n",
        table(
            [
                "measure",
                f"expected at lambda {hi}",
                "difference [95% interval]",
                "verdict",
                "Spearman with DS",
            ],
            trend_rows(trend),
        ),
    ]
    smooth = {
        m: per[SMOOTHNESS]["verdict"]
        for m, per in trend.items()
        if m != "level1_ds_sum" and SMOOTHNESS in per
    }
    if smooth:
        lines.append(
            "Finding (TV): "
            + "; ".join(f"{m}: smoother at lambda {hi} {v}" for m, v in smooth.items())
            + ".\n"
        )
    return lines


def trend_rows(trend: dict) -> list[list[str]]:
    """The level-1 DS sum's row, then one per explanation method and measure."""
    body = []
    ds = trend.get("level1_ds_sum")
    if ds:
        body.append(["level-1 DS sum", "lower", _diff(ds), ds["verdict"], "-"])
    for m, per in trend.items():
        if m == "level1_ds_sum":
            continue
        for k, c in per.items():
            rho = c.get("spearman_with_ds")
            body.append(
                [
                    f"{m}: {MEASURE_LABELS[k]}",
                    EXPECTED[k],
                    _diff(c),
                    c["verdict"],
                    "-" if rho is None else f"{rho:+.2f}",
                ]
            )
    return body


def timing_note(t: dict) -> str:
    return (
        f"How long it took ({t.get('device', '?')}): training {t.get('train_s', 0):.0f} s, "
        f"DS and accuracy {t.get('ds_s', 0):.0f} s, saliency {t.get('saliency_s', 0):.0f} s "
        "(summed over runs; runs in "
        f"parallel processes overlap), this command {t.get('wall_s', 0):.0f} s.\n"
    )


def _diff(c: dict) -> str:
    if c.get("difference") is None:
        return "-"
    return f"{c['difference']:+.4g} {fmt_ci(c['ci'])}"


def fmt_ci(ci) -> str:
    return fmt_interval(ci, digits=3)
