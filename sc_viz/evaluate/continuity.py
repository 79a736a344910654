"""Continuity under photometric perturbation (Sec. 4.2, Fig. 4) and continuity
violations (Sec. 3.2, Fig. 1); docs/method.md#experiments, items 1-2.

For every test image x, variant, perturbation T of Table 1 and level k:
  DS(x, T_k(x)) = ||f(x) - f(T_k(x))||_2 (f = logits), averaged into `mean_ds`;
  a *violation* is a same-class test image x_j (j != i) with DS(x, x_j) < DS(x, T_k(x)):
  the perturbed copy, semantically identical to x, is farther from x than another image
  of the class. `violation_rate` is the mean fraction of same-class images closer than
  the perturbed copy; `violated_share` the fraction of images with at least one.
Uncertainty (`evaluate.stats`): `ci` holds a 95% interval per cell, percentile bootstrap
over images for mean DS and violation rate, Wilson for the violated share; `per_image`
keeps each image's DS and violation fraction at the summary level (level 2, the README's
and the claims' level), so two variants can be compared on the same images.
Under torchrun each rank computes the DS and logits of its batches; every rank gathers all
of them in sample order before the violations (which compare images across batches).
"""

from __future__ import annotations

import torch

from sc_viz.evaluate.common import SUITES, EvalContext, Suite, level_key
from sc_viz.evaluate.render import Chart, Panel, ci_note, num, pct, table, with_ci
from sc_viz.evaluate.stats import NOT_COMPUTABLE, bootstrap_interval, encode_values, wilson_interval
from sc_viz.losses import distance_score
from sc_viz.paper import LEVEL_IDS, PERTURBATIONS, SUMMARY_LEVEL
from sc_viz.perturb import LEVELS, photometric


def perturbed_levels(x: torch.Tensor, name: str) -> dict[int, torch.Tensor]:
    """{level: photometric(x, name, level)} for levels 1-4, x (B, 3, H, W).

    Same values as `photometric`; for hue the RGB -> HSV conversion (60% of its cost) is
    done once for the four levels instead of four times."""
    if name != "hue":
        return {lv: photometric(x, name, lv) for lv in LEVEL_IDS}
    try:
        from torchvision.transforms.v2.functional._color import _hsv_to_rgb, _rgb_to_hsv
    except ImportError:  # private helpers moved: fall back to the public path
        return {lv: photometric(x, name, lv) for lv in LEVEL_IDS}
    h, s, v = _rgb_to_hsv(x.float()).unbind(dim=-3)  # each (B, H, W)
    return {
        lv: _hsv_to_rgb(torch.stack(((h + LEVELS[name][lv]).remainder(1.0), s, v), dim=-3))
        .to(x.dtype)
        .clamp(0.0, 1.0)
        for lv in LEVEL_IDS
    }


def per_image_ds(ctx: EvalContext) -> tuple[dict, dict, torch.Tensor]:
    """({variant: clean logits (N, C)}, {variant: {(pert, level): DS (N,)}}, labels (N,)).

    Each perturbed batch is computed once and fed to every variant (the perturbation, hue
    above all, costs about as much as a ResNet-20 forward on a CPU). Under torchrun each
    rank computes its batches and every rank gets all of them, in sample order."""
    chunks = []  # per batch of this rank: (clean logits, DS, labels)
    bar = ctx.bar(len(ctx.shard.split(ctx.test, ctx.batch_size)), "continuity")
    with torch.inference_mode():
        for x, y in ctx.shard_batches():  # x: (B, 3, H, W)
            clean = {v: m(x).float() for v, m in ctx.models.items()}  # (B, C) each
            ds = {v: {} for v in ctx.models}
            for p in LEVELS:
                for lv, xp in perturbed_levels(x, p).items():  # xp: (B, 3, H, W)
                    for v, m in ctx.models.items():
                        ds[v][(p, lv)] = distance_score(clean[v], m(xp).float()).cpu()
            chunks.append(({v: c.cpu() for v, c in clean.items()}, ds, y.cpu()))
            bar.update(len(y))
    bar.close()
    chunks = ctx.shard.gather(chunks, ctx.n_batches())
    cat = {v: torch.cat([c[0][v] for c in chunks]) for v in ctx.models}
    ds_cat = {v: {k: torch.cat([c[1][v][k] for c in chunks]) for k in chunks[0][1][v]} for v in ctx.models}
    return cat, ds_cat, torch.cat([c[2] for c in chunks])


def violation_counts(
    logits: torch.Tensor, labels: torch.Tensor, ds: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(closer (N,), same-class others (N,)): per image, how many other images of its class
    lie closer to it in logit space than its perturbed copy, and how many there are."""
    closer = torch.zeros(len(labels), dtype=torch.long)
    others = torch.zeros(len(labels), dtype=torch.long)
    for c in labels.unique():
        idx = (labels == c).nonzero().squeeze(1)
        d = torch.cdist(logits[idx].double(), logits[idx].double())  # (n_c, n_c)
        d.fill_diagonal_(float("inf"))  # an image is not its own neighbour
        closer[idx] = (d < ds[idx, None].double()).sum(1)
        others[idx] = len(idx) - 1
    return closer, others


def _bounds(interval) -> list | None:
    return interval.as_list() if interval is not None else None


def summarise(logits: dict, ds: dict, labels: torch.Tensor, seed: int = 0) -> dict:
    mean_ds, std_ds, rate, share = {}, {}, {}, {}
    ci = {"mean_ds": {}, "violation_rate": {}, "violated_share": {}}
    per_image = {"level": SUMMARY_LEVEL, "ds": {}, "violation_fraction": {}}
    for v in logits:
        mean_ds[v], std_ds[v], rate[v], share[v] = {}, {}, {}, {}
        for cells in ci.values():
            cells[v] = {}
        per_image["ds"][v], per_image["violation_fraction"][v] = {}, {}
        for p in LEVELS:
            mean_ds[v][p], std_ds[v][p], rate[v][p], share[v][p] = {}, {}, {}, {}
            for cells in ci.values():
                cells[v][p] = {}
            for lv in LEVEL_IDS:
                d = ds[v][(p, lv)].double()
                closer, others = violation_counts(logits[v], labels, d)
                valid = others > 0  # a class with one image in the sample has no neighbours
                # per image: share of same-class images closer than the copy (NaN: no others)
                fraction = torch.where(
                    valid,
                    closer.double() / others.clamp(min=1).double(),
                    torch.tensor(float("nan"), dtype=torch.float64),
                )  # (N,)
                k = level_key(lv)
                mean_ds[v][p][k] = d.mean().item()
                std_ds[v][p][k] = d.std(unbiased=False).item()
                rate[v][p][k] = fraction[valid].mean().item() if valid.any() else None
                hit = int((closer[valid] > 0).sum())
                share[v][p][k] = hit / int(valid.sum()) if valid.any() else None
                ci["mean_ds"][v][p][k] = _bounds(bootstrap_interval(d.tolist(), seed=seed))
                ci["violation_rate"][v][p][k] = _bounds(bootstrap_interval(fraction.tolist(), seed=seed))
                ci["violated_share"][v][p][k] = _bounds(wilson_interval(hit, int(valid.sum())))
                if lv == SUMMARY_LEVEL:
                    per_image["ds"][v][p] = encode_values(d.tolist())
                    per_image["violation_fraction"][v][p] = encode_values(fraction.tolist())
    return {
        "mean_ds": mean_ds,
        "std_ds": std_ds,
        # Fig. 5's continuity measure: the sum of the four level-1 mean DS
        "level1_ds_sum": {v: sum(mean_ds[v][p]["1"] for p in LEVELS) for v in logits},
        "violation_rate": rate,
        "violated_share": share,
        "clean_acc": {v: (logits[v].argmax(1) == labels).double().mean().item() for v in logits},
        "n": len(labels),
        "ci": ci,  # 95% intervals per cell, same shape as the tables above: [low, high]
        "per_image": per_image,
    }


def run(ctx: EvalContext) -> dict:
    logits, ds, labels = per_image_ds(ctx)
    return summarise(logits, ds, labels, seed=ctx.seed)


# ---------------------------------------------------------------- report section and charts
LEVEL_KEYS = [level_key(lv) for lv in LEVEL_IDS]  # report.json's keys of the levels
LEVEL_HEADER = ["perturbation", "variant"] + [f"level {lv}" for lv in LEVEL_IDS]


def markdown(c: dict, settings: dict) -> str:
    return mean_ds_section(c) + "\n" + violations_section(c)


def mean_ds_section(c: dict) -> str:
    md = [
        f"## Continuity under perturbation (Sec. 4.2, Fig. 4)\n\nMean DS = mean of "
        f"||f(x) - f(T(x))||_2 over n = {c['n']} test images (logits; lower = more continuous).\n"
    ]
    md.append(ci_note(c))
    ci = c.get("ci", {}).get("mean_ds", {})
    rows = [
        [p, v] + [with_ci(num(c["mean_ds"][v][p][lv]), ci.get(v, {}).get(p, {}).get(lv)) for lv in LEVEL_KEYS]
        for p in PERTURBATIONS
        for v in c["mean_ds"]
    ]
    md.append(table(LEVEL_HEADER, rows))
    md.append(
        "\nSum of the four level-1 mean DS (the continuity measure of Fig. 5): "
        + ", ".join(f"{v} {num(x)}" for v, x in c["level1_ds_sum"].items())
        + "\n"
    )
    return "\n".join(md)


def violations_section(c: dict) -> str:
    ci = c.get("ci", {})
    md = [
        "\n### Continuity violations (Sec. 3.2, Fig. 1)\n\nShare of same-class test images "
        "closer to x (in logit space) than x's perturbed copy, mean over images; in "
        "brackets the share of images with at least one such neighbour"
        + (
            " (square brackets: 95% intervals, bootstrap over images for the rate, Wilson for the share).\n"
            if ci
            else f"; intervals {NOT_COMPUTABLE}.\n"
        )
    ]

    def percent(key, v, p, lv):
        return with_ci(pct(c[key][v][p][lv]), ci.get(key, {}).get(v, {}).get(p, {}).get(lv), 100, 2)

    rows = [
        [p, v]
        + [
            f"{percent('violation_rate', v, p, lv)} ({percent('violated_share', v, p, lv)})"
            for lv in LEVEL_KEYS
        ]
        for p in PERTURBATIONS
        for v in c["violation_rate"]
    ]
    md.append(table(LEVEL_HEADER, rows))
    md.append("\n![Fig. 4](figures/fig4_mean_ds.png)\n![Fig. 1](figures/fig1_violations.png)\n")
    return "\n".join(md)


def charts(c: dict) -> list[Chart]:
    return [
        level_chart(c, "mean_ds", "fig4_mean_ds", "Mean DS per perturbation level (Fig. 4)", "mean DS"),
        level_chart(
            c,
            "violation_rate",
            "fig1_violations",
            "Same-class images closer than the perturbed copy (Fig. 1)",
            "violation rate",
        ),
    ]


def level_chart(c: dict, key: str, name: str, title: str, y_label: str) -> Chart:
    """One panel per perturbation: the variants' `key` against the level."""
    ci = c.get("ci", {}).get(key)  # absent in reports stored before the intervals
    return Chart(
        name,
        title + (", 95% intervals" if ci else ""),
        [
            Panel(
                p,
                LEVEL_IDS,
                {v: [c[key][v][p][lv] for lv in LEVEL_KEYS] for v in c[key]},
                "level",
                y_label,
                errors={v: [ci[v][p][lv] for lv in LEVEL_KEYS] for v in ci} if ci else {},
            )
            for p in PERTURBATIONS
        ],
    )


SUITES.add(
    "continuity",
    Suite(
        run,
        "mean DS per variant x perturbation x level (Fig. 4) and violation rates (Fig. 1)",
        settings=lambda ctx: {"levels": {p: LEVELS[p] for p in LEVELS}},
        sharded=True,
        markdown=markdown,
        charts=charts,
    ),
)
