"""What the Saliency page needs beyond the explanation engine: the page's settings as an
ExplainSettings (so the export bundle regenerates the same grid with `sc-viz explain
--settings`), its default budgets, the grid's cells, headers and renders, and the measures
as rows. What every page draws a map with is in sc_viz.app.maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

import torch
import torch.nn as nn

from sc_viz import figures
from sc_viz.explain import Explanation
from sc_viz.explain.base import SMALL_INPUT_MAX, budgeted
from sc_viz.explain.grid import Grid
from sc_viz.explain.settings import (  # noqa: F401  (the target modes: for the pages)
    TARGET_CLASS,
    TARGET_LABEL,
    TARGET_PREDICTED,
    ExplainSettings,
    grid_target,
)
from sc_viz.figures import (  # noqa: F401  (dimmed, input_cell, legend_image, row_label: for the page)
    CELL_PX,
    SCALE_NOTE,
    GridCell,
    cell_image,
    dimmed,
    grid_cell,
    input_cell,
    is_blank,
    legend_image,
    method_legend,
    row_label,
)
from sc_viz.importing import RESHAPE_NOTES

DEFAULT_METHODS = ("ig", "gradcam", "lime")
BUNDLE_README = """sc-viz export bundle
grid.png       the variants x methods grid as shown in the app (same cells, order, scaling)
grid.html      the same grid, interactive (hover for map values); opens offline
measures.csv   the per-map measures (when computed)
settings.json  every setting and seed of the grid

Regenerate the grid without the app (run inside this folder; the pack path in
settings.json must exist on this machine):
    sc-viz explain --settings settings.json --out grid.png
"""


# IG steps and LIME samples by input size: every step and sample is a model pass, and a
# 224-px pass costs ~50x a 32-px one, so large inputs get fewer (the values `sc-viz bench
# panel --size 224 --ig-steps 16 --lime-samples 200` measured, README "Use your own model").
def default_budgets(input_size: Optional[int] = None) -> dict[str, int]:
    """method -> the budget a pack of this input size starts with (None: no pack): each
    method's interactive default, fewer above SMALL_INPUT_MAX px."""
    return {m: b.default("interactive", input_size) for m, b in budgeted().items()}


def defaults_note(input_size: int, methods: Sequence[str]) -> Optional[str]:
    """The page's line on why a large-input pack starts with fewer steps and samples (for
    the chosen methods whose default is smaller there)."""
    if input_size <= SMALL_INPUT_MAX:
        return None
    budgets = budgeted()
    fewer = [
        f"{b.title} {b.defaults['interactive_large']} (not {b.defaults['interactive']})"
        for m, b in budgets.items()
        if m in methods and b.defaults["interactive_large"] < b.defaults["interactive"]
    ]
    if not fewer:
        return None
    return (
        f"At {input_size} px the defaults are {', '.join(fewer)}, to keep a grid under a minute "
        "on CPU; raise them for smoother maps."
    )


def gradcam_layer_text(manifest: Mapping, model: nn.Module) -> str:
    """Which layer Grad-CAM reads, and where that choice comes from: "Grad-CAM layer:
    layer4 (recorded in the pack)" or "(the architecture's default)"."""
    layer = str(getattr(model, "gradcam_layer", "") or "").removeprefix("net.") or "?"
    recorded = manifest.get("gradcam_layer")
    origin = "recorded in the pack" if recorded and recorded == layer else "the architecture's default"
    reshape = RESHAPE_NOTES.get(getattr(model, "gradcam_reshape", None) or "", "")
    return f"Grad-CAM layer: {layer} ({origin}{reshape})"


def page_settings(
    pack: str,
    *,
    image_index: Optional[int],
    image_file: str,
    variants: Sequence[str],
    methods: Sequence[str],
    target_mode: str,
    target_class: Optional[int],
    budgets: Mapping[str, int],
    opacity: float,
    seed: int = 0,
) -> ExplainSettings:
    """The settings of the page's grid. A gallery image is named by its test index; an
    upload by `image_file`, the name it gets in the export bundle."""
    image = {"dataset_split": "test", "index": int(image_index)} if image_index is not None else image_file
    return ExplainSettings(
        pack=pack,
        image=image,
        variants=list(variants),
        methods=list(methods),
        target_mode=target_mode,
        target_class=target_class if target_mode == TARGET_CLASS else None,
        budgets=dict(budgets),
        seed=seed,
        opacity=opacity,
    )


def column_headers(methods: Sequence[str]) -> list[tuple[str, str]]:
    """(plain name, tooltip) per method column, in the given order: the tooltip says what
    the map shows, what its colours mean and that each map is scaled on its own."""
    out = []
    for m in methods:
        leg = method_legend(m)
        out.append((leg.title, f"{leg.help} Colours: {leg.meaning}. {SCALE_NOTE}"))
    return out


def cell(
    x: torch.Tensor, exp: Explanation, classes: Sequence[str], opacity: float, size: int = CELL_PX
) -> GridCell:
    """One grid cell for the page: `.image` (uint8 (S, S, 3), the pixels the exports hold),
    `.caption` (lines: "target: cat", or that the map is all zero), `.blank`."""
    return grid_cell(x, exp, classes=classes, opacity=opacity, size=size)


# Column names of the measures table: what each measures and which direction is better.
MEASURE_COLUMNS = {
    "total_variation": "Total variation (lower = smoother)",
    "gini": "Gini (higher = sparser)",
    "centre_share": "Centre share (higher = more central, 0.25 = even)",
    "deletion_auc": "Deletion AUC (lower = more faithful)",
    "insertion_auc": "Insertion AUC (higher = more faithful)",
}
BLANK_NOTE = "all-zero map: nothing to measure"


def measure_rows(
    measures: Mapping[tuple[str, str], Mapping], cells: Optional[Mapping[tuple[str, str], Explanation]] = None
) -> list[dict]:
    """{(variant, method): {measure: value}} -> rows for the table / CSV, with readable
    column names (MEASURE_COLUMNS) and the methods' plain names. A map that is all zero
    (in `cells`) gets empty values and a note instead of measures of nothing."""
    rows = []
    for (v, m), d in measures.items():
        values = {
            MEASURE_COLUMNS.get(k, k): val for k, val in d.items() if isinstance(val, (int, float, str, bool))
        }
        row = {"Variant": v, "Method": method_legend(m).title}
        if cells is not None and (v, m) in cells and is_blank(cells[(v, m)].map):
            row.update({k: None for k in values}, Note=BLANK_NOTE)
        else:
            row.update(values)
        rows.append(row)
    if any("Note" in r for r in rows):  # one set of columns for every row
        for r in rows:
            r.setdefault("Note", "")
    return rows


def as_grid(
    cells: Mapping[tuple[str, str], Explanation],
    variants: Sequence[str],
    methods: Sequence[str],
    predictions: Mapping[str, list],
) -> Grid:
    """The page's cells (filled method by method) as the engine's Grid, so the static PNG
    and the interactive HTML come from the one renderer in sc_viz.figures. Every chosen
    method keeps its column, in the chosen order; a cell that failed or is not computed
    yet shows as "not computed"."""
    targets = {
        v: next((cells[(v, m)].target for m in methods if (v, m) in cells), predictions[v][0][0])
        for v in variants
    }
    return Grid(list(variants), list(methods), targets, {v: predictions[v] for v in variants}, dict(cells))


def grid_png(
    x: torch.Tensor, grid: Grid, classes: Sequence[str], opacity: float, size: int = CELL_PX
) -> bytes:
    """The grid as one PNG: the page's cells pixel for pixel, in the page's layout."""
    return figures.grid_png(
        grid, x.reshape(-1, *x.shape[-3:])[0], classes=classes, opacity=opacity, cell_px=size
    )


def grid_figure(x: torch.Tensor, grid: Grid, classes: Sequence[str], opacity: float, size: int = CELL_PX):
    """The same grid as an interactive plotly figure (hover shows map values), for the bundle."""
    return figures.grid_figure(
        grid, x.reshape(-1, *x.shape[-3:])[0], classes=classes, opacity=opacity, cell_px=size
    )


# ---------------------------------------------------------------- screen layout
PRESENT_WIDTH_PX = 1500  # the main area of a 1600-px-wide window with the sidebar collapsed
PRESENT_MAX_CELL_PX = 416  # 13x a 32-px CIFAR image: larger only blurs
CELL_GAP_PX = 24  # Streamlit's column gap plus a margin


def screen_cell_px(columns: int, present: bool, width: int = PRESENT_WIDTH_PX) -> int:
    """A grid cell's side on screen (and in the export, which equals the screen): CELL_PX
    in normal mode; in presentation mode as large as `columns` cells side by side allow in
    `width` pixels, a multiple of 32 (whole pixels of a 32-px image), never below CELL_PX."""
    if not present:
        return CELL_PX
    fit = (width // max(columns, 1)) - CELL_GAP_PX
    return max(CELL_PX, min(PRESENT_MAX_CELL_PX, fit // 32 * 32))


def row_caption(variant: str, predictions: Sequence[tuple[int, float]], classes: Sequence[str]) -> str:
    """The input cell's caption, one line: "standard: cat 80% · dog 12% · frog 3%"."""
    name, *top = row_label(variant, predictions, classes)
    return f"{name}: {' · '.join(top)}"
