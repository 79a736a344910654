"""Saliency measures (Sec. 4.5, Fig. 12-14, measured rather than only pictured): for a
seeded sample of test images, every variant x explanation method gets a map of its own
predicted class, and `sc_viz.explain.measures.measure_map` scores it (smoothness, sparsity,
deletion/insertion AUC, centre share); the suite reports the mean and std per measure.

Explanations are per image, so the sample is small by default (`explain_limit`: 50, or
--limit / 25 for a quick run); LIME uses fewer samples than its interactive default to
fit the time budget.
Each measure is kept per image (`per_image`, in sample order, NaN where a measure is
undefined), with a percentile-bootstrap 95% interval of its mean (`ci`, `evaluate.stats`);
the same images serve every variant, so variants compare image by image.
Under torchrun each rank explains every world-th image of the sample and the per-image
values are gathered in sample order, so every number equals the one-process one.
"""

from __future__ import annotations

import math

import torch

from sc_viz.evaluate.common import SUITES, EvalContext, Suite
from sc_viz.evaluate.render import ci_note, num, table, with_ci
from sc_viz.evaluate.stats import bootstrap_interval, encode_values
from sc_viz.explain import METHODS
from sc_viz.explain.base import budget_options
from sc_viz.explain.measures import measure_map
from sc_viz.precision import autocast_dtype, precision_name

DEFAULT_EXPLAIN_LIMIT = 50  # images on the full test set; with --limit N: N / 25 (>= 5)
EXPLAIN_PER = 25


def method_names(ctx: EvalContext, default=None) -> list[str]:

    names = ctx.options.get("methods") or default or METHODS.names()
    for n in names:
        METHODS[n]
    return list(names)


def method_options(ctx: EvalContext, method: str) -> dict:
    """The method's options in the evaluation suites: its evaluation budget (recorded only
    where it differs from the method's own default), LIME's seed and resolved precision,
    then what the run asked for."""
    opts = budget_options(method, "evaluation")
    if method == "lime":  # its sample scores' arithmetic depends on the device: recorded
        opts["seed"] = ctx.seed
        # the arithmetic LIME scores in on this device, resolved so the report records it
        opts["precision"] = precision_name(autocast_dtype("auto", ctx.device))
    return {**opts, **(ctx.options.get("method_options") or {}).get(method, {})}


def predicted(models: dict, x: torch.Tensor) -> dict[str, int]:
    """Each variant's predicted class of x (1, 3, H, W): the class its map explains."""
    with torch.inference_mode():
        return {v: int(m(x.to(next(m.parameters()).device)).argmax(1).item()) for v, m in models.items()}


def mean_std(values: list[float]) -> tuple:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None, None
    t = torch.tensor(finite, dtype=torch.float64)
    return t.mean().item(), t.std(unbiased=False).item()


def interval_bounds(values: list, seed: int) -> list | None:
    """[low, high] of the bootstrap 95% interval of the values' mean (None if undefined)."""
    interval = bootstrap_interval(values, seed=seed)
    return interval.as_list() if interval is not None else None


def sample_size(ctx: EvalContext) -> int:
    return ctx.explanation_sample_size("explain_limit", DEFAULT_EXPLAIN_LIMIT, EXPLAIN_PER)


def run(ctx: EvalContext) -> dict:

    sample = ctx.sample(sample_size(ctx))
    methods = method_names(ctx)
    records = []  # per image of this rank: {variant: {method: {measure: float}}}
    mine = ctx.shard.units(len(sample))
    bar = ctx.bar(len(mine) * len(methods), "saliency", unit="map set")
    for i in mine:
        x = sample.get(i)[None].to(ctx.device)  # (1, 3, H, W)
        targets = predicted(ctx.models, x)
        record = {v: {} for v in ctx.models}
        for m in methods:
            exps = METHODS[m].explain_many(ctx.models, x, targets, **method_options(ctx, m))
            for v, exp in exps.items():
                record[v][m] = {
                    k: float(val)
                    for k, val in measure_map(ctx.models[v], x, exp.map, targets[v]).items()
                    if isinstance(val, (int, float)) and not isinstance(val, bool)
                }
            bar.update(1)
        records.append(record)
    bar.close()
    values = {v: {m: {} for m in methods} for v in ctx.models}  # -> {measure: [float]}
    for i, record in enumerate(ctx.shard.gather(records, len(sample))):  # sample order
        for v, per_method in record.items():
            for m, measured in per_method.items():
                for k, val in measured.items():
                    values[v][m].setdefault(k, [math.nan] * i).append(val)
                for per in values[v][m].values():  # a measure this map lacked: NaN
                    per.extend([math.nan] * (i + 1 - len(per)))
    means = {
        v: {m: {k: mean_std(vals)[0] for k, vals in per.items()} for m, per in pm.items()}
        for v, pm in values.items()
    }
    stds = {
        v: {m: {k: mean_std(vals)[1] for k, vals in per.items()} for m, per in pm.items()}
        for v, pm in values.items()
    }
    ci = {
        v: {m: {k: interval_bounds(vals, ctx.seed) for k, vals in per.items()} for m, per in pm.items()}
        for v, pm in values.items()
    }
    per_image = {
        v: {m: {k: encode_values(vals) for k, vals in per.items()} for m, per in pm.items()}
        for v, pm in values.items()
    }
    return {
        "measures": means,
        "std": stds,
        "n": len(sample),
        "methods": methods,
        "ci": ci,
        "per_image": per_image,
    }


def _settings(ctx: EvalContext) -> dict:
    methods = method_names(ctx)
    return {
        "explain_limit": sample_size(ctx),
        "methods": methods,
        "method_options": {m: method_options(ctx, m) for m in methods},
    }


# ---------------------------------------------------------------- report section
def markdown(s: dict, settings: dict) -> str:
    md = [
        f"## Explanation measures (Sec. 4.5, measured)\n\nMean over n = {s['n']} test images; "
        "each map explains the variant's own predicted class. " + ci_note(s)
    ]
    ci = s.get("ci", {})
    for m in s["methods"]:
        keys = sorted({k for v in s["measures"] for k in s["measures"][v][m]})
        rows = [
            [v]
            + [
                with_ci(num(s["measures"][v][m].get(k), 4), ci.get(v, {}).get(m, {}).get(k), digits=4)
                for k in keys
            ]
            for v in s["measures"]
        ]
        md.append(f"### {m}\n")
        md.append(table(["variant"] + keys, rows))
    return "\n".join(md)


SUITES.add(
    "saliency",
    Suite(
        run,
        "explanation measures (smoothness, deletion/insertion AUC, centre share) per "
        "variant x method, mean over a test sample",
        settings=_settings,
        sharded=True,
        markdown=markdown,
    ),
)
