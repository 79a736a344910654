"""The Sanity page's computation (issue 16): for the chosen image, each method's map through
the model-parameter randomisation cascade (Adebayo et al. 2018; sc_viz/explain/sanity.py)
and the ROAD curves of its map on the trained model (Rong et al. 2022; sc_viz/explain/road.py),
per variant; the flags; and the export bundle.

The page computes one (variant, method) unit at a time (`check_one`), which it caches and
counts on its progress bar, and joins the units with `merge`. Everything the page shows
comes from here; the page only lays it out."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Optional, Union

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from sc_viz.explain import METHODS
from sc_viz.explain.base import Explanation
from sc_viz.explain.grid import resolve_targets
from sc_viz.explain.road import road_many
from sc_viz.explain.sanity import (
    DEFAULT_FLAG_THRESHOLD,
    FLAG_SIMILARITY,
    ORDERS,
    SIMILARITY_TITLES,
    Progress,
    RandomisationResult,
    flagged,
    randomisation_test,
)

# LIME costs about a minute per image at 300 samples through the cascade: opt-in only.
CHEAP_METHODS = ("saliency", "gradcam", "ig")
SLOW_METHODS = ("lime",)
DEFAULT_IG_STEPS = 8  # as `sc-viz eval --suite sanity` (sc_viz/evaluate/sanity.py)
DEFAULT_LIME_SAMPLES = 100
TARGET_PREDICTED, TARGET_LABEL = "predicted", "label"
TARGET_MODES = {
    TARGET_PREDICTED: "each model's prediction",  # as `sc-viz eval --suite sanity`
    TARGET_LABEL: "true class (else prediction)",
}
ORDER_TITLES = {"cascading": "cascading (from the logits down)", "independent": "one block at a time"}
STRIP_CELL_PX = 64  # a map's side in the exported strip PNGs
BUNDLE_README = """sc-viz sanity bundle (issue 16)
figures.html   every figure of the page, interactive (opens offline)
sanity.json    randomisation: steps, targets, similarity per method/variant/measure/step, flags
road.json      ROAD curves per method and variant (MoRF/LeRF probability per fraction, areas, gap)
numbers.csv    one row per method and variant: final similarities, flag, ROAD areas and gap
strips/        each method's map per variant through the randomisation steps (PNG, one map per step)
settings.json  every setting of the page
"""


def default_methods() -> tuple[str, ...]:
    return tuple(m for m in CHEAP_METHODS if m in METHODS.names())


def method_options(method: str, ig_steps: int, lime_samples: int, seed: int = 0) -> dict:
    """Keyword options of `method` on this page (IG steps, LIME samples and seed)."""
    return {"ig": {"n_steps": int(ig_steps)}, "lime": {"n_samples": int(lime_samples), "seed": seed}}.get(
        method, {}
    )


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
        for part in ("similarity", "maps", "originals"):
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


def _number(value: float) -> Optional[float]:
    return float(value) if value is not None and math.isfinite(value) else None


def summary_rows(
    result: RandomisationResult,
    curves: Mapping[str, Mapping[str, dict]],
    threshold: float = DEFAULT_FLAG_THRESHOLD,
) -> list[dict]:
    """One row per method and variant: the final similarity by each measure, the flag
    (cascading order), the ROAD areas and gap; `curves` is method -> variant -> road curves."""
    rows = []
    for m, per_variant in result.similarity.items():
        for v, sims in per_variant.items():
            row = {"method": m, "variant": v, "target": result.targets[v], "order": result.order}
            row.update({f"final {SIMILARITY_TITLES[s]}": _number(values[-1]) for s, values in sims.items()})
            if result.order == "cascading":
                row["flagged"] = flagged(result.final(m, v), threshold)
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
    from sc_viz.figures import cell_image

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


def bundle(
    x: torch.Tensor,
    result: RandomisationResult,
    curves: Mapping[str, Mapping[str, dict]],
    figures: Mapping[str, object],
    settings: Mapping,
    threshold: float,
) -> bytes:
    """The page's export bundle (zip): figures.html, sanity.json (`result.summary`),
    road.json, numbers.csv, strips/<method>-<variant>.png, README.txt and settings.json."""
    from sc_viz.app.export import bundle_zip, figures_page, rows_to_csv

    files: dict[str, Union[bytes, str]] = {
        "README.txt": BUNDLE_README,
        "figures.html": figures_page(figures, "sc-viz: sanity checks"),
        "sanity.json": json.dumps(result.summary(threshold), indent=2) + "\n",
        "road.json": json.dumps(curves, indent=2) + "\n",
        "numbers.csv": rows_to_csv(summary_rows(result, curves, threshold)),
    }
    for m, per_variant in result.maps.items():
        for v in per_variant:
            files[f"strips/{m}-{v}.png"] = strip_png(x, result, m, v)
    return bundle_zip(files, dict(settings))


__all__ = [
    "CHEAP_METHODS",
    "DEFAULT_FLAG_THRESHOLD",
    "FLAG_SIMILARITY",
    "ORDERS",
    "ORDER_TITLES",
    "SLOW_METHODS",
    "TARGET_MODES",
    "bundle",
    "check_one",
    "flag_message",
    "flagged_variants",
    "merge",
    "method_options",
    "strip_png",
    "summary_rows",
    "targets_of",
]
