"""Neuron sensitivity per variant (Zhang et al. 2021; docs/related_methods.md, "Neuron sensitivity"): for a
seeded test sample, each variant's own PGD x' of every image (the pack's evaluation attack,
as in the robustness suite), then per layer (the stem conv and every residual block) the
per-channel sensitivity sigma_l and its mean and top-10% mean.

The paper's claim checked: "adversarial training lowers neuron sensitivity", layer by
layer, `adv` and `advc` against `standard`. Each variant is attacked with the same budget;
the relative column (sigma over the layer's mean |F(x)|, *our reading*) guards against a
model whose features are merely smaller.
Under torchrun it runs on rank 0 alone (a 1000-image sample; the others wait).

report.json `suites.neurons` (the schema of the other suites is in evaluate/__init__.py):
    {variants: {variant: {layers: {layer: {mean, top, relative, channels}},
                          sigma: {layer: [per channel]}, clean_acc, pgd_acc, eps, step_size, steps}},
     layers: [...], n, top_fraction,
     claim: {mean|top|relative: {adv|advc: {lower: {layer: bool}, holds, layers}}}}
"""

from __future__ import annotations

import torch

from sc_viz.evaluate.common import SUITES, EvalContext, Suite
from sc_viz.evaluate.render import Chart, Panel, num, pct, table
from sc_viz.evaluate.robustness import eval_attack
from sc_viz.figures.neurons import short_layer
from sc_viz.inside.probe import TOP_FRACTION, probe_batches, resolve_layers

DEFAULT_NEURONS_LIMIT = 1000  # images (at most the test sample)
ROBUST = ("adv", "advc")  # the variants the claim is about, each against BASELINE
BASELINE = "standard"


def sample_size(ctx: EvalContext) -> int:
    n = ctx.options.get("neurons_limit") or DEFAULT_NEURONS_LIMIT
    return min(int(n), len(ctx.test))


def top_fraction(ctx: EvalContext) -> float:
    """The top share of channels (pixels, for consensus) *(our reading: 10%)*."""
    fraction = float(ctx.options.get("top_fraction") or TOP_FRACTION)
    if not 0 < fraction <= 1:
        raise ValueError(f"top_fraction must lie in (0, 1], got {fraction}")
    return fraction


def layers_of(ctx: EvalContext) -> list[str]:
    """The chosen layers (option "layers"), else those of the first variant (every variant
    of a pack has the same architecture)."""
    first = next(iter(ctx.models.values()))
    return resolve_layers(first, ctx.options.get("layers"))


def claim(per_variant: dict, measure: str) -> dict:
    """For each robust variant present with the baseline: per layer, whether its `measure`
    is below the baseline's, and how many layers hold."""
    out = {}
    if BASELINE not in per_variant:
        return out
    base = per_variant[BASELINE]["layers"]
    for v in ROBUST:
        if v not in per_variant:
            continue
        lower = {layer: per_variant[v]["layers"][layer][measure] < s[measure] for layer, s in base.items()}
        out[v] = {"lower": lower, "holds": sum(lower.values()), "layers": len(lower)}
    return out


def run(ctx: EvalContext) -> dict:
    sample = ctx.sample(sample_size(ctx))
    layers = layers_of(ctx)
    fraction = top_fraction(ctx)
    results = {v: r for v, r in ctx.previous.get("variants", {}).items() if v in ctx.models}
    todo = [v for v in ctx.models if v not in results]
    bar = ctx.bar(len(sample) * len(todo), "neurons (PGD + hooked pass)")
    for v in todo:
        attack = eval_attack(ctx, v)
        probe = probe_batches(
            ctx.models[v],
            ctx.batches(sample),
            attack,
            layers=layers,
            generator=torch.Generator().manual_seed(ctx.seed),
            progress=bar.update,
        )
        results[v] = {
            "layers": probe.summary(fraction),
            "sigma": {layer: [round(float(s), 6) for s in probe.sigma(layer)] for layer in layers},
            "clean_acc": probe.clean_correct.float().mean().item(),
            "pgd_acc": probe.adversarial_correct.float().mean().item(),
            "eps": attack.eps,
            "step_size": attack.step_size,
            "steps": attack.steps,
        }
        ctx.checkpoint({"variants": dict(results)})
    bar.close()
    variants = {v: results[v] for v in ctx.models}  # pack order
    return {
        "variants": variants,
        "layers": layers,
        "n": len(sample),
        "top_fraction": fraction,
        "claim": {m: claim(variants, m) for m in ("mean", "top", "relative")},
    }


def _settings(ctx: EvalContext) -> dict:
    return {
        "neurons_limit": sample_size(ctx),
        "layers": layers_of(ctx),
        "top_fraction": top_fraction(ctx),
        "pgd_steps": ctx.options.get("pgd_steps"),
    }


# ---------------------------------------------------------------- report section and chart
def chart_label(layer: str) -> str:
    """'net.layer2.1' -> '2.1', 'net.conv1' -> 'conv1': short enough for a chart's x axis."""

    return short_layer(layer).replace("layer", "")


def charts(result: dict) -> list[Chart]:

    if "layers" not in result:  # a partial run
        return []
    layers, variants = result["layers"], result["variants"]
    titles = {
        "mean": "mean over channels",
        "top": f"top-{result['top_fraction']:.0%} channels",
        "relative": "relative (our reading)",
    }
    return [
        Chart(
            "neuron_sensitivity",
            "Neuron sensitivity per layer: mean |F(x) - F(PGD(x))|",
            [
                Panel(
                    title,
                    [chart_label(n) for n in layers],
                    {v: [r["layers"][n][measure] for n in layers] for v, r in variants.items()},
                    "layer",
                    "sensitivity",
                )
                for measure, title in titles.items()
            ],
        )
    ]


def verdict(holds: int, total: int) -> str:
    return "holds" if holds == total else "does not hold" if holds == 0 else "holds in part"


def markdown(r: dict, settings: dict) -> str:

    variants, layers = r["variants"], r["layers"]
    any_v = next(iter(variants.values()))
    md = [
        f"## Neuron sensitivity (Zhang et al. 2021; new here)\n\nPer layer (the stem conv and "
        f"every residual block), the sensitivity of channel m is the mean over n = {r['n']} test "
        f"images of mean_(h,w) |F(x) - F(x')|, x' = the variant's own PGD-{any_v['steps']} "
        f"(eps {any_v['eps'] * 255:.1f}/255). Cells: mean over the channels / mean of the top "
        f"{r['top_fraction']:.0%} channels / relative = mean divided by the layer's mean |F(x)| "
        "(our reading: it discounts features that are merely smaller).\n",
        "PGD accuracy on this sample: "
        + ", ".join(f"{v} {pct(x['pgd_acc'])} (clean {pct(x['clean_acc'])})" for v, x in variants.items())
        + "\n",
    ]
    rows = [
        [n]
        + [
            f"{num(variants[v]['layers'][n]['mean'], 4)} / {num(variants[v]['layers'][n]['top'], 4)}"
            f" / {num(variants[v]['layers'][n]['relative'])}"
            for v in variants
        ]
        for n in layers
    ]
    md.append(table(["layer"] + list(variants), rows))
    md.append(
        f'\nThe paper\'s claim, "adversarial training lowers neuron sensitivity" (layer by '
        f"layer, {' and '.join(ROBUST)} below {BASELINE}):\n"
    )
    for measure, title in (
        ("mean", "mean"),
        ("top", f"top {r['top_fraction']:.0%}"),
        ("relative", "relative"),
    ):
        for v, c in r["claim"].get(measure, {}).items():
            not_lower = [n for n, low in c["lower"].items() if not low]
            md.append(
                f"- {v}, {title}: lower in {c['holds']} of {c['layers']} layers: "
                f"{verdict(c['holds'], c['layers'])}"
                + (f" (not in {', '.join(not_lower)})" if not_lower else "")
            )
    if not any(r["claim"].values()):
        md.append(f"- not checked: the pack lacks {BASELINE} or {' / '.join(ROBUST)}")
    md.append("\n![neuron sensitivity](figures/neuron_sensitivity.png)\n")
    return "\n".join(md)


SUITES.add(
    "neurons",
    Suite(
        run,
        "neuron sensitivity per layer (stem + residual blocks): mean and top-10% of "
        "mean |F(x) - F(PGD(x))| per channel, per variant",
        settings=_settings,
        markdown=markdown,
        charts=charts,
    ),
)
