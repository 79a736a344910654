"""The Sanity page's computation: for the chosen image, each method's map through
the model-parameter randomisation cascade (Adebayo et al. 2018; sc_viz/explain/sanity.py)
and the ROAD curves of its map on the trained model (Rong et al. 2022; sc_viz/explain/road.py),
per variant; the flags; and the export bundle.

The views compute one (variant, method) unit at a time (`check_one`, cached by
`cached_check` for the session's server, so the Sanity page and the Saliency page's export
share every unit), count the units on a progress bar and join them with `merge`
(`compute_checks`). Everything the page shows comes from here; the page only lays it out.
The Saliency page's grid bundle carries the same files under sanity/ (`grid_bundle_files`)."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import streamlit as st
import torch
import torch.nn as nn
from PIL import Image

from sc_viz.app.export import bundle_zip, rows_to_csv
from sc_viz.deck.work import Fetch, Work, compute_now, result_type
from sc_viz.evaluate.render import Chart, Panel, matplotlib_png
from sc_viz.explain import METHODS
from sc_viz.explain.base import Explanation, budgeted
from sc_viz.explain.grid import resolve_targets
from sc_viz.explain.road import ORDER_TITLES as ROAD_TITLES
from sc_viz.explain.road import road_many
from sc_viz.explain.sanity import (
    CANNOT_JUDGE,
    DEFAULT_FLAG_THRESHOLD,
    FLAG_SIMILARITY,
    FLAGGED,
    ORDERS,
    PASSES,
    SIMILARITY_TITLES,
    Progress,
    RandomisationResult,
    Verdict,
    flagged,
    randomisation_test,
)
from sc_viz.explain.settings import TARGET_LABEL, TARGET_PREDICTED
from sc_viz.figures import cell_image, figures_page
from sc_viz.figures.sanity import cascade_strip_figure, road_figure, similarity_figure

# LIME costs about a minute per image at 300 samples through the cascade: opt-in only.
CHEAP_METHODS = tuple(m for m in METHODS.names() if METHODS[m].cheap)
SLOW_METHODS = tuple(m for m in METHODS.names() if not METHODS[m].cheap)
TARGET_MODES = {
    TARGET_PREDICTED: "each model's prediction",  # as `sc-viz eval --suite sanity`
    TARGET_LABEL: "true class (else prediction)",
}
ORDER_TITLES = {"cascading": "cascading (from the logits down)", "independent": "one block at a time"}
STRIP_CELL_PX = 64  # a map's side in the exported strip PNGs
BUNDLE_README = """sc-viz sanity bundle
figures.html   every figure of the page, interactive (opens offline)
sanity.json    randomisation: steps, targets, similarity per method/variant/measure/step, flags
road.json      ROAD curves per method and variant (MoRF/LeRF probability per fraction, areas, gap)
numbers.csv    one row per method and variant: final similarities, flag, ROAD areas and gap
strips/        each method's map per variant through the randomisation steps (PNG, one map per step)
road/          each method's ROAD curves, MoRF and LeRF per variant (PNG)
settings.json  every setting of the page
"""
GRID_FOLDER = "sanity"  # the sanity files' folder inside the Saliency page's grid bundle
ASKED = "_sc_sanity_asked"  # session key: the requests (`request_key`) computed in this session


def default_methods() -> tuple[str, ...]:
    return tuple(m for m in CHEAP_METHODS if m in METHODS.names())


def budget_key(method: str) -> str:
    """The Sanity page's widget (and view) key of a method's budget: "san_ig_steps"."""
    return f"san_{METHODS[method].budget.key}"


def method_options(method: str, budgets: Mapping[str, int], seed: int = 0) -> dict:
    """Keyword options of `method` on this page: its budget (default: the sanity context's)
    and, for a method that takes one, the seed."""
    budget = METHODS[method].budget
    opts = {budget.option: int(budgets.get(method, budget.defaults["sanity"]))} if budget else {}
    if "seed" in METHODS[method].settings_options:
        opts["seed"] = seed
    return opts


def targets_of(
    models: Mapping[str, nn.Module], x: torch.Tensor, mode: str, label: Optional[int]
) -> dict[str, int]:
    """The class each variant's maps explain: its own prediction, or the true class when
    `mode` is TARGET_LABEL and the image has one (an upload has none)."""
    if mode not in TARGET_MODES:
        raise ValueError(f"target mode must be one of {list(TARGET_MODES)}, got {mode!r}")
    target = label if mode == TARGET_LABEL else None
    return resolve_targets(dict(models), x, target)


def check_one(
    model: nn.Module,
    variant: str,
    x: torch.Tensor,
    method: str,
    target: int,
    *,
    order: str = "cascading",
    options: Optional[dict] = None,
    progress: Progress = None,
) -> tuple[RandomisationResult, dict]:
    """One variant and method: the randomisation test (maps kept for the strip) and the ROAD
    curves of the trained model's map. x (3, H, W) or (1, 3, H, W)."""
    result = randomisation_test(
        {variant: model},
        x,
        methods=[method],
        targets={variant: int(target)},
        order=order,
        options={method: dict(options or {})},
        progress=progress,
    )
    curves = road_many({variant: model}, x, {variant: result.maps[method][variant][0]}, result.targets)
    return result, curves[variant]


@st.cache_data(max_entries=256, show_spinner=False)
def cached_check(
    pack_key: str,
    image_key: str,
    variant: str,
    method: str,
    target: int,
    order: str,
    options_json: str,
    _model: nn.Module,
    _x: torch.Tensor,
) -> tuple[RandomisationResult, dict]:
    """`check_one`, cached by what fixes its result (the pack and image keys stand for the
    model and image)."""
    return check_one(_model, variant, _x, method, target, order=order, options=json.loads(options_json))


@dataclass
class Checks:
    """The sanity checks of one image: every chosen method and variant."""

    result: RandomisationResult  # merged over the units
    curves: dict[str, dict[str, dict]]  # method -> variant -> ROAD curves
    targets: dict[str, int]
    options: dict[str, dict]  # method -> its options


for _stored in (RandomisationResult, Explanation):  # what a deck holds for this page
    result_type(_stored)


def _unit_params(method: str, target: int, order: str, options: dict) -> dict:
    return {"method": method, "target": int(target), "order": order, "options": options}


def unit_works(
    targets: Mapping[str, int], methods: Sequence[str], options: Mapping[str, dict], order: str
) -> list[tuple[str, str, Work]]:
    """[(method, variant, its Work)] of every unit, in the order they are computed."""
    return [
        (m, v, Work("sanity.check", _unit_params(m, t, order, options[m]), (v,)))
        for m in methods
        for v, t in targets.items()
    ]


def compute_checks(
    models: Mapping[str, nn.Module],
    pack_key: str,
    image_key: str,
    x: torch.Tensor,
    label: Optional[int],
    methods: Sequence[str],
    *,
    order: str = "cascading",
    mode: str = TARGET_PREDICTED,
    budgets: Optional[Mapping[str, int]] = None,
    fetch: Fetch = compute_now,
    cache: bool = True,
    progress: Optional[Callable[[float, str], None]] = None,
    title: Callable[[str], str] = str,
) -> Checks:
    """Every (method, variant) unit, one at a time, through `fetch` (a prepared deck, when
    the page has one) and computed by `cached_check` (or by `check_one` when `cache` is
    off: a deck build); `progress(share done, text)` before each unit (`title` names a
    method there)."""
    targets = targets_of(models, x, mode, label)
    options = {m: method_options(m, budgets or {}) for m in methods}
    units = unit_works(targets, methods, options, order)
    keys = (pack_key, image_key)
    parts, curves = [], {m: {} for m in methods}
    for i, (m, v, work) in enumerate(units):
        if progress:
            progress(
                i / len(units),
                f"{title(m)} on {v} ({i + 1}/{len(units)}): randomisation cascade and ROAD",
            )
        result, road = fetch(
            work, _unit_compute(models[v], v, x, m, targets[v], order, options[m], cache, keys)
        )
        parts.append(result)
        curves[m][v] = road
    return Checks(merge(parts), curves, targets, options)


def _unit_compute(model, variant, x, method, target, order, options, cache, keys) -> Callable:
    """The computation of one unit: `cached_check` (the server's cache), or `check_one`."""
    if cache:
        opts = json.dumps(options, sort_keys=True)
        return lambda: cached_check(*keys, variant, method, target, order, opts, model, x)
    return lambda: check_one(model, variant, x, method, target, order=order, options=options)


def check_works(
    models: Mapping[str, nn.Module], x: torch.Tensor, label: Optional[int], methods, settings
) -> list:
    """The Works of a view's checks (`settings`: `view_settings`), for a deck lookup."""
    targets = targets_of(models, x, settings["mode"], label)
    options = {m: method_options(m, settings["budgets"]) for m in methods}
    return [w for _, _, w in unit_works(targets, methods, options, settings["order"])]


def request_key(
    pack_key: str,
    image_key: str,
    variants: Sequence[str],
    methods: Sequence[str],
    *,
    order: str,
    mode: str,
    budgets: Mapping[str, int],
    **_,
) -> tuple:
    """What fixes a view's checks: a member of the session's set ASKED once computed (on the
    Sanity page or for the Saliency page's bundle), so it is shown again without a click."""
    options = [method_options(m, budgets) for m in methods]
    return (pack_key, image_key, tuple(variants), tuple(methods), order, mode, repr(options))


def view_settings(value: Callable[[str], object]) -> dict:
    """The Sanity page's settings as the session holds them (`value`: a field key -> its
    value, e.g. `state.value`), so another page computes the checks the same way."""
    return {
        "order": value("san_order"),
        "mode": value("san_target"),
        "budgets": {m: int(value(budget_key(m))) for m in budgeted()},
        "measure": value("san_measure"),
        "threshold": float(value("san_threshold")),
    }


def merge(results: Sequence[RandomisationResult]) -> RandomisationResult:
    """One result of several (variant, method) results of the same order and steps."""
    if not results:
        raise ValueError("nothing to merge")
    first = results[0]
    out = RandomisationResult(first.order, list(first.steps), {})
    for r in results:
        if r.order != first.order or r.steps != first.steps:
            raise ValueError(
                "results of other orders or blocks cannot be merged "
                f"({r.order}: {r.steps} vs {first.order}: {first.steps})"
            )
        out.targets.update(r.targets)
        out.signed.update(r.signed)
        for part in ("similarity", "maps", "originals", "flat", "relu_zero"):
            for m, per_variant in getattr(r, part).items():
                getattr(out, part).setdefault(m, {}).update(per_variant)
    return out


def flagged_variants(
    result: RandomisationResult, method: str, threshold: float = DEFAULT_FLAG_THRESHOLD
) -> list[str]:
    """The variants whose `method` maps barely change under the whole cascade (none for the
    independent order, where the flag is not defined)."""
    if result.order != "cascading":
        return []
    return [v for v in result.similarity[method] if flagged(result.final(method, v), threshold)]


def flag_message(method_title: str, variants: Sequence[str], threshold: float) -> str:
    return (
        f"**{method_title} is flagged** for {', '.join(variants)}: its maps barely change when "
        f"the model's weights are randomised (|map| Spearman to the trained model's map still "
        f">= {threshold:.2f} after the whole cascade), so they show little of what the model "
        "learned."
    )


def verdicts(
    result: RandomisationResult, method: str, threshold: float = DEFAULT_FLAG_THRESHOLD
) -> dict[str, Verdict]:
    """variant -> the cascade's verdict on its `method` maps (empty for the independent
    order, which has none)."""
    if result.order != "cascading":
        return {}
    return {v: result.verdict(method, v, threshold) for v in result.similarity[method]}


def unjudged_messages(
    method_title: str, found: Mapping[str, Verdict], classes=None, targets=None
) -> list[str]:
    """One line per distinct reason the variants' maps cannot be judged (none when every
    map could be): which variants, from which step the map is flat, and the ReLU cause
    where that is why (with the explained class when `classes` and `targets` are given)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for v, d in found.items():
        if d.state == CANNOT_JUDGE:
            groups.setdefault((d.text, d.cause), []).append(v)
    lines = []
    for (text, cause), variants in groups.items():
        line = f"**{method_title} cannot be judged** for {', '.join(variants)}: {text}, so no similarity "
        line += "to the trained model's map can be computed; this is not a pass."
        if cause:
            named = ""
            if classes is not None and targets is not None:
                names = sorted({class_name(classes, targets[v]) for v in variants})
                named = f" (explaining {', '.join(names)})"
            line += f" Why{named}: {cause}"
        lines.append(line)
    return lines


def class_name(classes: Optional[Sequence[str]], index: int) -> str:
    """A class's name, or its number when the pack names none."""
    return classes[index] if classes and 0 <= index < len(classes) else str(index)


def _number(value: float) -> Optional[float]:
    return float(value) if value is not None and math.isfinite(value) else None


def summary_rows(
    result: RandomisationResult,
    curves: Mapping[str, Mapping[str, dict]],
    threshold: float = DEFAULT_FLAG_THRESHOLD,
    classes: Optional[Sequence[str]] = None,
) -> list[dict]:
    """One row per method and variant: the explained class (by name when `classes` are
    given), the final similarity by each measure, the verdict and flag (cascading order;
    the flag is empty where the maps cannot be judged), the ROAD areas and gap; `curves`
    is method -> variant -> road curves."""
    rows = []
    for m, per_variant in result.similarity.items():
        for v, sims in per_variant.items():
            target = class_name(classes, result.targets[v]) if classes else result.targets[v]
            row = {"method": m, "variant": v, "target": target}
            found = result.verdict(m, v, threshold)  # None for the independent order
            if found is not None:
                row["verdict"] = found.text
            row["order"] = result.order
            row.update({f"final {SIMILARITY_TITLES[s]}": _number(values[-1]) for s, values in sims.items()})
            if found is not None:
                row["flagged"] = None if found.state == CANNOT_JUDGE else found.state == FLAGGED
            c = curves.get(m, {}).get(v)
            if c:
                row.update(
                    {"ROAD MoRF area": c["morf_area"], "ROAD LeRF area": c["lerf_area"], "ROAD gap": c["gap"]}
                )
            rows.append(row)
    return rows


def strip_png(
    x: torch.Tensor, result: RandomisationResult, method: str, variant: str, size: int = STRIP_CELL_PX
) -> bytes:
    """The variant's maps of `method` through the steps side by side (each on its own scale,
    as the page's strip), as PNG bytes."""

    x = x[0] if x.dim() == 4 else x  # (3, H, W)
    signed = result.signed.get(method, False)
    cells = [
        cell_image(x, Explanation(method, result.targets[variant], heat, signed=signed), 1.0, size)
        for heat in result.maps[method][variant]
    ]  # each (size, size, 3)
    gap = np.full((size, 2, 3), 255, dtype=np.uint8)
    row = np.concatenate([c for cell in cells for c in (cell, gap)][:-1], axis=1)
    buf = io.BytesIO()
    Image.fromarray(row, "RGB").save(buf, format="PNG")
    return buf.getvalue()


def road_png(curves: Mapping[str, dict], method: str) -> bytes:
    """The ROAD curves of `method` (variant -> curves) as a PNG: MoRF and LeRF panels, one
    line per variant (matplotlib, as the report's figures)."""

    fractions = [round(100 * f) for f in next(iter(curves.values()))["fractions"]]
    panels = [
        Panel(
            ROAD_TITLES[o].split(" (")[0],
            fractions,
            {v: c[o] for v, c in curves.items()},
            "pixels removed (%)",
            "probability of the class",
        )
        for o in ("morf", "lerf")
    ]
    return matplotlib_png(Chart(f"road-{method}", f"ROAD: {method}", panels))


def figures(
    result: RandomisationResult,
    curves: Mapping[str, Mapping[str, dict]],
    measure: str,
    title: Callable[[str], str] = str,
) -> dict[str, dict[str, object]]:
    """method -> {heading: figure}: a strip per variant, the similarity curves, the ROAD
    curves; in the page's order."""

    out = {}
    for m, per_variant in result.similarity.items():
        t = title(m)
        figs = {
            f"{t}, {v}: maps through the randomisation": cascade_strip_figure(result, m, v, measure)
            for v in per_variant
        }
        figs[f"{t}: similarity"] = similarity_figure(result, m)
        figs[f"{t}: ROAD"] = road_figure(curves[m], t)
        out[m] = figs
    return out


def bundle_files(
    x: torch.Tensor,
    result: RandomisationResult,
    curves: Mapping[str, Mapping[str, dict]],
    figures: Mapping[str, object],
    threshold: float,
    classes: Optional[Sequence[str]] = None,
) -> dict[str, Union[bytes, str]]:
    """The sanity bundle's files but settings.json: README.txt, figures.html, sanity.json
    (`result.summary`), road.json, numbers.csv (targets named by `classes` when given),
    strips/<method>-<variant>.png and road/<method>.png. `figures`: heading -> plotly figure."""
    files: dict[str, Union[bytes, str]] = {
        "README.txt": BUNDLE_README,
        "figures.html": figures_page(figures, "sc-viz: sanity checks"),
        "sanity.json": json.dumps(result.summary(threshold), indent=2) + "\n",
        "road.json": json.dumps(curves, indent=2) + "\n",
        "numbers.csv": rows_to_csv(summary_rows(result, curves, threshold, classes)),
    }
    for m, per_variant in result.maps.items():
        for v in per_variant:
            files[f"strips/{m}-{v}.png"] = strip_png(x, result, m, v)
    for m, per_variant in curves.items():
        files[f"road/{m}.png"] = road_png(per_variant, m)
    return files


def bundle(
    x: torch.Tensor,
    result: RandomisationResult,
    curves: Mapping[str, Mapping[str, dict]],
    figures: Mapping[str, object],
    settings: Mapping,
    threshold: float,
    classes: Optional[Sequence[str]] = None,
) -> bytes:
    """The page's export bundle (zip): `bundle_files` and settings.json."""
    return bundle_zip(bundle_files(x, result, curves, figures, threshold, classes), dict(settings))


@dataclass
class GridChecks:
    """The sanity checks of a Saliency grid's image, variants and methods, and what its
    bundle files need; `files()` draws them (on a download only)."""

    x: torch.Tensor
    checks: Checks
    settings: dict
    title: Callable[[str], str] = str

    def files(self) -> dict[str, Union[bytes, str]]:
        return grid_bundle_files(self.x, self.checks, self.settings, self.title)


def grid_checks(
    models: Mapping[str, nn.Module],
    pack_key: str,
    image_key: str,
    x: torch.Tensor,
    label: Optional[int],
    methods: Sequence[str],
    value: Callable[[str], object],
    *,
    progress: Optional[Callable[[float, str], None]] = None,
    title: Callable[[str], str] = str,
) -> GridChecks:
    """`compute_checks` with the Sanity page's settings as the session holds them
    (`view_settings(value)`), so each unit is the Sanity page's cached one."""
    settings = view_settings(value)
    checks = compute_checks(
        models,
        pack_key,
        image_key,
        x,
        label,
        methods,
        order=settings["order"],
        mode=settings["mode"],
        budgets=settings["budgets"],
        progress=progress,
        title=title,
    )
    return GridChecks(x, checks, {"image": image_key, "variants": list(models), **settings}, title)


def grid_bundle_files(
    x: torch.Tensor, checks: Checks, settings: Mapping, title: Callable[[str], str] = str
) -> dict[str, Union[bytes, str]]:
    """The sanity files for the Saliency page's grid bundle: `bundle_files` of `checks`
    (figures drawn with `settings["measure"]`) and their settings.json, under sanity/."""
    figs = figures(checks.result, checks.curves, settings["measure"], title)
    every = {heading: fig for per_method in figs.values() for heading, fig in per_method.items()}
    files = bundle_files(x, checks.result, checks.curves, every, settings["threshold"])
    sanity_settings = {
        **settings,
        "targets": checks.targets,
        "methods": list(checks.options),
        "method_options": checks.options,
    }
    files["settings.json"] = json.dumps(sanity_settings, indent=2, default=str) + "\n"
    return {f"{GRID_FOLDER}/{name}": data for name, data in files.items()}


__all__ = [
    "CHEAP_METHODS",
    "DEFAULT_FLAG_THRESHOLD",
    "FLAG_SIMILARITY",
    "ORDERS",
    "ASKED",
    "ORDER_TITLES",
    "SLOW_METHODS",
    "TARGET_MODES",
    "Checks",
    "CANNOT_JUDGE",
    "FLAGGED",
    "PASSES",
    "bundle",
    "bundle_files",
    "cached_check",
    "check_one",
    "budget_key",
    "compute_checks",
    "figures",
    "GridChecks",
    "grid_bundle_files",
    "grid_checks",
    "flag_message",
    "flagged_variants",
    "merge",
    "request_key",
    "method_options",
    "road_png",
    "strip_png",
    "summary_rows",
    "targets_of",
    "unjudged_messages",
    "verdicts",
    "view_settings",
]


# ---------------------------------------------------------------- the Saliency grid's bundle
GRID_SANITY_HELP = (
    "Adds the sanity checks of this image, these variants and methods under sanity/: "
    "randomisation strips, similarity and ROAD curves (PNG, HTML, JSON), with the Sanity "
    "page's settings. Computed once with a progress bar, then cached and shared with the "
    "Sanity page (LIME is slow here)."
)


def sanity_request(pack_key: str, image_key: str, variants, methods, value) -> tuple:
    """The Saliency grid's sanity request (`request_key` with the Sanity page's settings,
    `value`: a field key -> the session's value); once in the session's ASKED set (a click
    on the Saliency page, or the same checks computed on the Sanity page) the grid bundle
    carries the checks."""
    return request_key(pack_key, image_key, variants, methods, **view_settings(value))


def grid_sanity(models: Mapping[str, nn.Module], pack_key: str, image, methods, value, **kwargs):
    """The sanity checks of the Saliency grid's `image` (the sidebar's chosen image: key, x,
    label), variants (`models`) and methods, with the Sanity page's settings (`value`) ->
    `GridChecks`; `files()` gives the grid bundle's sanity/ files. kwargs: progress, title
    (as `compute_checks`)."""
    return grid_checks(models, pack_key, image.key, image.x, image.label, methods, value, **kwargs)


def grid_sanity_flow(slot, models: Mapping[str, nn.Module], pack_key: str, image, methods, value, title):
    """The Saliency page's "Add sanity checks to the bundle": a button in `slot` until asked
    (or computed on the Sanity page), then the checks with a progress bar. Returns the
    GridChecks to bundle, or None (not asked, or failed: said in one line)."""
    asked = st.session_state.setdefault(ASKED, set())
    request = sanity_request(pack_key, image.key, list(models), methods, value)
    if request not in asked:
        slot.button(
            "Add sanity checks to the bundle",
            key="saliency-sanity",
            icon=":material/fact_check:",
            on_click=asked.add,
            args=(request,),
            help=GRID_SANITY_HELP,
        )
        return None
    bar = st.progress(0.0, text="Sanity checks...")
    checks = None
    try:
        checks = grid_sanity(
            models,
            pack_key,
            image,
            methods,
            value,
            progress=lambda done, text: bar.progress(done, text=text),
            title=title,
        )
    except (ValueError, RuntimeError) as err:  # e.g. a method that cannot handle this model
        st.warning(f"Sanity checks left out: {str(err).splitlines()[0][:150]}")
    bar.empty()
    if checks:
        slot.caption("The bundle carries the sanity checks (sanity/).")
    return checks
