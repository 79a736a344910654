"""Can these maps be trusted? Two standard checks per variant x method over a seeded test
sample (`sc-viz eval --suite sanity`):

- model parameter randomisation (Adebayo et al. 2018; sc_viz/explain/sanity.py): the
  similarity of each map to the trained model's map after each cascading (and, when
  asked, independent) re-initialisation step, mean and std over the images; a method whose
  |map| Spearman after the whole cascade stays >= `sanity_flag_threshold` is flagged;
- ROAD (Rong et al. 2022; sc_viz/explain/road.py): the target's probability as the most
  (MoRF) / least (LeRF) relevant pixels are removed by noisy linear imputation, and the
  area gap LeRF - MoRF.

Each map explains the variant's own predicted class. Options (ctx.options): sanity_limit
(images; default 100 on the whole test set, --limit N / 50 (>= 5) on a quick run),
methods, method_options, sanity_orders, sanity_flag_threshold, road_noise.
Under torchrun each rank checks every world-th image (ROAD's noise is seeded by the image's
place in the sample) and the per-image values are gathered in sample order.

A map whose similarity cannot be computed (a flat map: constant, e.g. a Grad-CAM that its
ReLU leaves all zero) cannot be judged: that image is left out of the means and counted in
`cannot_judge`, with the step its map is flat after; a variant x method none of whose images
can be judged has no final similarity and no flag (never a pass).

report.json ("sanity"; lists run over the steps / fractions):
    steps        {order: ["original", top block, ...]}
    similarity   {order: {variant: {method: {similarity: {mean: [..], std: [..]}}}}}
    similarities, methods, orders: [...];  n: int
    flag_similarity: "spearman_abs", flag_threshold: float      (with the cascading order:)
    final_similarity {variant: {method: float | None}}  (mean over the images it can judge)
    flagged      {variant: {method: bool | None}}  (None: no image could be judged)
    cannot_judge {variant: {method: {n: images, flat_after: {step: images}, relu: images}}}
                 (relu: of those, the maps the method's ReLU left all zero)
    road         {fractions: [..], morf / lerf: {variant: {method: {mean: [..], std: [..]}}},
                  gap: {variant: {method: {mean, std}}}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch

from sc_viz.evaluate.common import SUITES, EvalContext, Suite
from sc_viz.evaluate.distributed import Shard
from sc_viz.evaluate.render import Chart, Panel, num, table
from sc_viz.evaluate.saliency import mean_std, method_names, method_options, predicted
from sc_viz.explain import METHODS
from sc_viz.explain.base import budget_options
from sc_viz.explain.road import DEFAULT_FRACTIONS, DEFAULT_NOISE, road_curves_of_maps
from sc_viz.explain.sanity import (
    CANNOT_JUDGE,
    DEFAULT_FLAG_THRESHOLD,
    FLAG_SIMILARITY,
    ORDERS,
    SIMILARITIES,
    SIMILARITY_TITLES,
    RandomisedTwin,
    flagged,
    randomisation_test,
)

DEFAULT_METHODS = [m for m in METHODS.names() if METHODS[m].cheap]  # saliency, gradcam, ig
DEFAULT_SANITY_LIMIT = 100  # images on the full test set; with --limit N: N / 50 (>= 5)
SANITY_PER = 50
# The 10-minute budget for 100 images (benchmarks/sanity.py) sets these defaults: the
# cascade only (independent randomisation doubles the cost: --sanity-orders adds it), and
# each method's "sanity" budget (IG with 8 steps: the saliency suite's 32 x 13 cascade
# steps would dominate the run; the check compares maps of one model before and after
# randomisation, both with 8 steps).
DEFAULT_ORDERS = ["cascading"]


def sample_size(ctx: EvalContext) -> int:
    return ctx.explanation_sample_size("sanity_limit", DEFAULT_SANITY_LIMIT, SANITY_PER)


def _options(ctx: EvalContext, method: str) -> dict:
    opts = {**method_options(ctx, method), **budget_options(method, "sanity")}
    return {**opts, **(ctx.options.get("method_options") or {}).get(method, {})}


def _settings(ctx: EvalContext) -> dict:

    for o in ctx.options.get("sanity_orders") or []:
        if o not in ORDERS:
            raise ValueError(f"sanity_orders: {o!r} is not one of {ORDERS}")

    methods = method_names(ctx, DEFAULT_METHODS)
    return {
        "sanity_limit": sample_size(ctx),
        "methods": methods,
        "method_options": {m: _options(ctx, m) for m in methods},
        "orders": list(ctx.options.get("sanity_orders") or DEFAULT_ORDERS),
        "granularity": "block",
        "flag_threshold": float(ctx.options.get("sanity_flag_threshold", DEFAULT_FLAG_THRESHOLD)),
        "road_fractions": list(DEFAULT_FRACTIONS),
        "road_noise": float(ctx.options.get("road_noise", DEFAULT_NOISE)),
    }


@dataclass
class PerImage:
    """What the images checked so far gave, one list item per image (in sample order once
    gathered); `steps`: each order's step names (the same for every image)."""

    # order -> variant -> method -> similarity -> [[value per step] per image]
    sims: dict
    # morf | lerf | gap -> variant -> method -> [curve (a gap: one number) per image]
    road: dict
    # variant -> method -> [per image: None (judged), else (flat after step, ReLU-zeroed)]
    unjudged: dict
    steps: dict = field(default_factory=dict)

    @classmethod
    def empty(cls, variants: list[str], methods: list[str], orders: list[str]) -> PerImage:
        return cls(
            {o: {v: {m: {s: [] for s in SIMILARITIES} for m in methods} for v in variants} for o in orders},
            {k: {v: {m: [] for m in methods} for v in variants} for k in ("morf", "lerf", "gap")},
            {v: {m: [] for m in methods} for v in variants},
        )

    def gathered(self, shard: Shard, count: int) -> PerImage:
        """Every rank's per-image values, in sample order."""
        sims, road, unjudged = shard.gather_tree((self.sims, self.road, self.unjudged), count)
        steps = next((st for st in shard.all_gather(self.steps) if st), self.steps)
        return PerImage(sims, road, unjudged, steps)


def run(ctx: EvalContext) -> dict:
    settings = _settings(ctx)
    sample = ctx.sample(sample_size(ctx))
    found = PerImage.empty(list(ctx.models), settings["methods"], settings["orders"])
    mine = ctx.shard.units(len(sample))  # under torchrun: every world-th image
    bar = ctx.bar(len(mine), "sanity")
    twins = None  # one private copy per variant, re-randomised for every image
    for i in mine:
        x = sample.get(i)[None].to(ctx.device)  # (1, 3, H, W)
        twins = twins or {v: RandomisedTwin(m, x) for v, m in ctx.models.items()}
        targets = predicted(ctx.models, x)
        originals = randomise(ctx, x, targets, twins, settings, found)
        road_curves(ctx, x, i, targets, originals, settings, found)
        bar.update(1)
    bar.close()
    if ctx.shard.active:
        found = found.gathered(ctx.shard, len(sample))
    variants = list(ctx.models)
    return {
        **randomisation_result(found, settings, variants, len(sample)),
        "road": road_result(found, settings, variants),
    }


def randomise(
    ctx: EvalContext, x: torch.Tensor, targets: dict, twins: dict, settings: dict, found: PerImage
) -> dict:
    """One image's model parameter randomisation in every order, into `found`; -> the
    trained models' maps ({method: {variant: map}}), computed once for all orders."""
    methods, threshold = settings["methods"], settings["flag_threshold"]
    originals = None
    for o in settings["orders"]:
        res = randomisation_test(
            ctx.models,
            x,
            methods=methods,
            targets=targets,
            order=o,
            seed=ctx.seed,
            options=settings["method_options"],
            keep_maps=False,
            originals=originals,
            twins=twins,
        )
        originals, found.steps[o] = res.originals, res.steps
        for v in ctx.models:
            for m in methods:
                for s in SIMILARITIES:
                    found.sims[o][v][m][s].append(res.similarity[m][v][s])
                if o == "cascading":
                    verdict = res.verdict(m, v, threshold)
                    step = res.steps[verdict.flat_step] if verdict.flat_step is not None else None
                    found.unjudged[v][m].append(
                        (step, bool(verdict.cause)) if verdict.state == CANNOT_JUDGE else None
                    )
    return originals


def road_curves(
    ctx: EvalContext, x: torch.Tensor, i: int, targets: dict, originals: dict, settings: dict, found: PerImage
) -> None:
    """One image's ROAD curves of the trained models' maps, into `found`; the imputation
    noise seeded by the image's place in the sample (the same under torchrun)."""
    methods = settings["methods"]
    for v in ctx.models:  # every method's curves in shared passes of the model
        per_method = road_curves_of_maps(
            ctx.models[v],
            x,
            {m: originals[m][v].map for m in methods},
            targets[v],
            fractions=settings["road_fractions"],
            noise=settings["road_noise"],
            seed=ctx.seed + i,
        )
        for m, curves in per_method.items():
            for k in found.road:
                found.road[k][v][m].append(curves[k])


def per_step(runs: list[list[float]]) -> dict:
    """{mean: [..], std: [..]} per step (or fraction) over the images' runs."""
    cols = list(zip(*runs))  # per step: the images' values
    stats = [mean_std(list(c)) for c in cols]
    return {"mean": [a for a, _ in stats], "std": [b for _, b in stats]}


def randomisation_result(found: PerImage, settings: dict, variants: list[str], n: int) -> dict:
    """The randomisation check's part of the result: mean curves, and with the cascading
    order the final similarity, the flags and the images that cannot be judged."""
    methods, orders, threshold = settings["methods"], settings["orders"], settings["flag_threshold"]
    similarity = {
        o: {
            v: {m: {s: per_step(found.sims[o][v][m][s]) for s in SIMILARITIES} for m in methods}
            for v in variants
        }
        for o in orders
    }
    out = {
        "steps": found.steps,
        "similarity": similarity,
        "similarities": list(SIMILARITIES),
        "n": n,
        "methods": methods,
        "orders": orders,
        "flag_similarity": FLAG_SIMILARITY,
        "flag_threshold": threshold,
    }
    if "cascading" in orders:
        final = {
            v: {m: similarity["cascading"][v][m][FLAG_SIMILARITY]["mean"][-1] for m in methods}
            for v in variants
        }
        out["final_similarity"] = final
        out["flagged"] = {
            v: {m: None if final[v][m] is None else flagged(final[v][m], threshold) for m in methods}
            for v in variants
        }
        out["cannot_judge"] = {v: {m: cannot_judge(found.unjudged[v][m]) for m in methods} for v in variants}
    return out


def road_result(found: PerImage, settings: dict, variants: list[str]) -> dict:
    """ROAD's part of the result: mean curves and area gaps."""
    methods, road = settings["methods"], found.road
    return {
        "fractions": settings["road_fractions"],
        **{k: {v: {m: per_step(road[k][v][m]) for m in methods} for v in variants} for k in ("morf", "lerf")},
        "gap": {
            v: {m: dict(zip(("mean", "std"), mean_std(road["gap"][v][m]))) for m in methods} for v in variants
        },
    }


def cannot_judge(per_image: list) -> dict:
    """{n, flat_after: {step: images}, relu: images} of one variant x method's images that
    could not be judged (`per_image`: None, or (flat after step, ReLU-zeroed) per image)."""
    found = [u for u in per_image if u is not None]
    after: dict[str, int] = {}
    for step, _ in found:
        key = step if step is not None else "(not flat: undefined)"
        after[key] = after.get(key, 0) + 1
    return {"n": len(found), "flat_after": after, "relu": sum(1 for _, relu in found if relu)}


# ---------------------------------------------------------------- report section and charts
def charts(result: dict) -> list[Chart]:
    """The suite's report figures as report.py `Chart`s: the |map| Spearman over the cascade
    per method, and the ROAD area gap per method."""

    out = []
    if "cascading" in result["orders"]:
        sim, s = result["similarity"]["cascading"], result["flag_similarity"]
        steps = result["steps"]["cascading"]
        out.append(
            Chart(
                "sanity_cascade",
                "Model parameter randomisation, cascading from the "
                f"logits ({SIMILARITY_TITLES[s]} to the trained model's map)",
                [
                    Panel(
                        m,
                        steps,
                        {v: sim[v][m][s]["mean"] for v in sim},
                        "randomised down to",
                        SIMILARITY_TITLES[s],
                    )
                    for m in result["methods"]
                ],
            )
        )
    gap = result["road"]["gap"]
    out.append(
        Chart(
            "road_gap",
            "ROAD area gap LeRF - MoRF (noisy linear imputation)",
            [
                Panel(
                    "area gap",
                    result["methods"],
                    {v: [gap[v][m]["mean"] for m in result["methods"]] for v in gap},
                    "",
                    "LeRF - MoRF",
                    kind="bar",
                )
            ],
        )
    )
    return out


def verdict_cell(result: dict, variant: str, method: str, unjudged: Optional[dict]) -> str:
    """One cell of the flag table: the final similarity, **flagged**, and how many images
    cannot be judged and after which step their maps are flat (all of them: no number)."""

    final = result["final_similarity"][variant][method]
    cell = "" if final is None else num(final)
    if result["flagged"][variant][method]:
        cell += " **flagged**"
    if unjudged and unjudged.get("n"):
        steps = sorted(unjudged["flat_after"].items(), key=lambda kv: -kv[1])
        where = ", ".join(f"{step.removeprefix('net.')} ({n})" for step, n in steps)
        if len(steps) == 1 and steps[0][1] == unjudged["n"]:
            where = steps[0][0].removeprefix("net.")
        if final is None:
            cell = f"cannot judge: the map is flat after step {where} in all {unjudged['n']} images"
        else:
            cell += f" ({unjudged['n']} of {result['n']} cannot judge: flat after {where})"
    elif final is None:
        cell = "cannot judge"
    return cell.strip()


def markdown(result: dict, settings: dict) -> str:

    methods = result["methods"]
    md = [
        f"## Sanity checks of the maps (new; not in the paper)\n\nn = {result['n']} test "
        "images; each map explains the variant's own predicted class.\n",
        "### Model parameter randomisation (Adebayo et al. 2018)\n\nThe model's blocks are "
        "re-initialised from the logits down (cascading), or one at a time (independent), "
        "in a copy; each cell: the similarity of the map to the trained model's map, mean "
        "over the images (1 = unchanged). A map that does not change when the weights are "
        "random does not explain the model.\n",
    ]
    if "flagged" in result:
        s, thr = result["flag_similarity"], result["flag_threshold"]
        unjudged = result.get("cannot_judge", {})
        rows = [
            [v] + [verdict_cell(result, v, m, unjudged.get(v, {}).get(m)) for m in methods]
            for v in result["flagged"]
        ]
        md.append(
            f"{SIMILARITY_TITLES[s]} after the whole cascade, mean over the images whose maps "
            f"can be judged; flagged when >= {thr} (the map barely changes; threshold: our "
            "setting). An image whose map is flat (constant, e.g. all zero) has no similarity: "
            "it cannot be judged, is left out of the mean and counted in the cell; it is never "
            "a pass.\n"
        )
        md.append(table(["variant"] + methods, rows))
        relu = sum(u.get("relu", 0) for per in unjudged.values() for u in per.values())
        if relu:
            md.append(
                f"\n{relu} of these flat maps are all zero because of the method's ReLU (Grad-CAM): "
                "with random weights the weighted sum of the layer's channels is negative at "
                "every pixel.\n"
            )
    for o in result["orders"]:
        steps = result["steps"][o]
        for m in methods:
            md.append(f"\n#### {m}, {o}\n")
            rows = [
                [v, SIMILARITY_TITLES[s]] + [num(x) for x in result["similarity"][o][v][m][s]["mean"]]
                for v in result["similarity"][o]
                for s in result["similarities"]
            ]
            md.append(table(["variant", "similarity"] + steps, rows))
    road = result["road"]
    md.append(
        "\n### ROAD (Rong et al. 2022)\n\nProbability of the predicted class as the most "
        "(MoRF) / least (LeRF) relevant pixels are removed and filled by noisy linear "
        "imputation; mean over the images. Area gap = area(LeRF) - area(MoRF), larger = "
        "more faithful.\n"
    )
    fr = [f"{round(100 * f)}%" for f in road["fractions"]]
    for m in methods:
        md.append(f"\n#### {m}\n")
        rows = [
            [v, k.upper()]
            + [num(p) for p in road[k][v][m]["mean"]]
            + [num(road["gap"][v][m]["mean"]) if k == "lerf" else ""]
            for v in road["morf"]
            for k in ("morf", "lerf")
        ]
        md.append(table(["variant", "order"] + fr + ["area gap"], rows))
    md.append("\n![sanity](figures/sanity_cascade.png)\n![ROAD](figures/road_gap.png)\n")
    return "\n".join(md)


SUITES.add(
    "sanity",
    Suite(
        run,
        "sanity checks per variant x method: map similarity under cascading/independent "
        "model parameter randomisation (Adebayo et al. 2018, flags maps that barely change) "
        "and ROAD MoRF/LeRF curves with noisy linear imputation (Rong et al. 2022)",
        settings=_settings,
        sharded=True,
        markdown=markdown,
        charts=charts,
    ),
)
