"""The Saliency page's grid on screen: drawn empty first (headers with each method's colour
bar, the input column with the row labels, the last maps dimmed), then filled unit by unit,
cheapest method first and one variant at a time where the method allows, each unit from
the prepared deck when it holds it (sc_viz.deck), else computed and cached here.

Normal mode draws Streamlit images in columns; presentation mode one HTML block sized by
the viewport (sc_viz.app.present). The page only calls `grid_controls`, `GridScreen` and `fill`."""

from __future__ import annotations

import json
from collections.abc import Sequence

import streamlit as st

from sc_viz.app import deck_view, maps, present, sidebar, state
from sc_viz.app import saliency_view as sv
from sc_viz.deck import slide_units
from sc_viz.explain import METHODS, Explanation, predict_top
from sc_viz.explain.base import budgeted
from sc_viz.explain.grid import explain_unit, ordered_methods
from sc_viz.explain.measures import measure_map
from sc_viz.explain.settings import ExplainSettings, grid_target
from sc_viz.figures import to_html

LAST_CELLS = (
    "_sc_saliency_cells"  # (variant, method) -> the GridCell last drawn, dimmed while new ones compute
)


@st.cache_data(max_entries=256, show_spinner=False)
def unit_for(pack_key, image_key, unit, method, options_json, target, _models, _x):
    """One unit's maps (one variant, or all for LIME): keyed by what they depend on only,
    so adding a variant computes just its own cells."""
    return explain_unit({v: _models[v] for v in unit}, _x, method, target, json.loads(options_json))


@st.cache_data(max_entries=64, show_spinner=False)
def predictions_for(pack_key, image_key, variants, _models, _x):
    return predict_top({v: _models[v] for v in variants}, _x, k=3)


@st.cache_data(max_entries=256, show_spinner=False)
def measures_for(pack_key, image_key, variant, method, settings_json, _model, _x, _exp):
    return measure_map(_model, _x, _exp.map, _exp.target)


@st.cache_data(max_entries=16, show_spinner=False)
def renders_for(pack_key, image_key, settings_json, size, _grid, _x, _classes, opacity):
    """The grid's PNG and interactive HTML at the screen's cell size: drawn once per view,
    not on every rerun (the HTML inlines plotly.js). The keys fix every cell of the grid."""
    return (
        sv.grid_png(_x, _grid, _classes, opacity, size),
        to_html(sv.grid_figure(_x, _grid, _classes, opacity, size)),
    )


def _show_cell(slot, cell, dim: bool = False) -> None:
    slot.image(
        sv.dimmed(cell.image) if dim else cell.image,
        caption=" ".join(cell.caption),
        width=cell.image.shape[1],
        output_format="PNG",
    )


class GridScreen:
    """The grid as drawn: created empty (with the last maps dimmed), then `draw` per cell."""

    def __init__(
        self, present_mode: bool, pack, image, variants: Sequence[str], methods: Sequence[str], predictions
    ):
        self.present, self.pack, self.image = present_mode, pack, image
        self.variants, self.methods, self.predictions = list(variants), list(methods), predictions
        self.shown = st.session_state.setdefault(LAST_CELLS, {})
        self.size = sv.screen_cell_px(len(methods) + 1, present_mode)
        self.slots: dict = {}
        if present_mode:
            self.size = present.cell_cap_px(pack.input_size)  # drawn at most this large; CSS fits the screen
            self._present_empty()
        else:
            self._columns_empty()

    def _present_empty(self) -> None:
        size, shown = self.size, self.shown
        self.heads = [present.image_header()] + [present.method_header(m, size) for m in self.methods]
        self.rows = {
            v: present.Row(
                v,
                present.row_lines(self.predictions[v], self.pack.classes, None),
                sv.input_cell(self.image.x, size),
                [shown[(v, m)].image if (v, m) in shown else None for m in self.methods],
                ["" for _ in self.methods],
                [(v, m) in shown for m in self.methods],
            )
            for v in self.variants
        }
        self.block = st.empty()
        self.flush()

    def _columns_empty(self) -> None:
        size, methods = self.size, self.methods
        header = st.columns(len(methods) + 1)
        header[0].markdown("**image**")
        for col, m, (title, tip) in zip(header[1:], methods, sv.column_headers(methods)):
            col.markdown(f"**{title}**", help=tip)
            col.image(sv.legend_image(m, size), width=size, output_format="PNG")
        st.caption(present.SCALE_LINE)
        for v in self.variants:
            row = st.columns(len(methods) + 1)
            row[0].image(
                sv.input_cell(self.image.x, size),
                caption=sv.row_caption(v, self.predictions[v], self.pack.classes),
                width=size,
                output_format="PNG",
            )
            for col, m in zip(row[1:], methods):
                self.slots[(v, m)] = col.empty()
                if (v, m) in self.shown:
                    _show_cell(self.slots[(v, m)], self.shown[(v, m)], dim=True)

    def draw(self, variant: str, method: str, exp: Explanation, opacity: float) -> None:
        cell = self.shown[(variant, method)] = sv.cell(
            self.image.x, exp, self.pack.classes, opacity, size=self.size
        )
        if not self.present:
            _show_cell(self.slots[(variant, method)], cell)
            return
        row, at = self.rows[variant], self.methods.index(method)
        row.cells[at], row.dim[at] = cell.image, False
        row.notes[at] = cell.caption[0] if cell.blank else ""
        row.lines = present.row_lines(self.predictions[variant], self.pack.classes, exp.target)

    def warn(self, method: str, why: str) -> None:
        for where in [self.slots[(v, method)] for v in self.variants] if not self.present else [st]:
            where.warning(why)

    def flush(self) -> None:
        """Presentation mode: redraw the HTML block (normal mode draws cell by cell)."""
        if self.present:
            self.block.html(present.grid_html(self.heads, list(self.rows.values()), self.size))


def fill(
    screen: GridScreen, pack_key: str, settings: ExplainSettings, opacity: float
) -> dict[tuple[str, str], Explanation]:
    """Compute (or read from the deck) every unit of the grid, cheapest first, drawing each
    as it arrives with a progress bar. A method that fails says why in its cells and is
    skipped. Returns {(variant, method): Explanation}; the share served from the deck goes
    to the session (deck_view.SERVED)."""
    image, models = screen.image, screen.pack.models
    bar = st.progress(0.0, text="Explaining...")
    deck, _ = deck_view.current_deck()
    units = list(slide_units(screen.pack, image.x, settings, image.label, keyed=deck is not None))
    options, target = settings.method_options(), grid_target(settings, image.label)
    cells, served, failed = {}, 0, set()
    for i, u in enumerate(units):
        if u.method in failed:
            continue
        bar.progress(i / len(units), text=f"{sv.method_legend(u.method).title} ({i + 1}/{len(units)})")
        done = deck_view.read_unit(deck, u.key) if deck is not None else None
        served += done is not None
        try:
            if done is None:
                opts = json.dumps(options.get(u.method, {}), sort_keys=True)
                done = unit_for(pack_key, image.key, u.variants, u.method, opts, target, models, image.x)
        except (ValueError, RuntimeError) as err:  # e.g. a method that cannot handle this model
            failed.add(u.method)
            screen.warn(u.method, f"{u.method}: {str(err).splitlines()[0][:150]}")
            continue
        for v in u.variants:
            cells[(v, u.method)] = done[v]
            screen.draw(v, u.method, done[v], opacity)
        screen.flush()
    bar.empty()
    st.session_state[deck_view.SERVED] = (served, len(units))
    return cells


def measure_rows(pack_key: str, image, models, cells: dict, settings_json: str) -> list[dict]:
    """The per-map measures as table rows (sv.measure_rows), each map's measures cached."""
    measures = {
        key: measures_for(pack_key, image.key, key[0], key[1], settings_json, models[key[0]], image.x, exp)
        for key, exp in cells.items()
    }
    return sv.measure_rows(measures, cells)


# ---------------------------------------------------------------- the grid's widgets
def grid_controls(ctx, pack) -> dict:
    """The grid's widgets (the variants and methods pickers, then the options), in the page
    or, in presentation mode, in the thin bar's Settings; returns their values."""
    all_methods = ordered_methods(METHODS.names())
    c1, c2 = (sidebar.controls(ctx) if ctx.present else st.container()).columns([1, 1])
    with c1:
        variants = sidebar.variant_picker(pack)
    with c2:  # columns follow the chips' order
        methods = list(
            st.multiselect(
                "Methods",
                all_methods,
                format_func=lambda m: sv.method_legend(m).title,
                key=state.bind("methods", all_methods, what="method"),
            )
        )
    with sidebar.controls(ctx):
        o1, o2, o3, o4 = st.columns(4)
        modes = {
            sv.TARGET_LABEL: "true class (else prediction)",
            sv.TARGET_PREDICTED: "each model's prediction",
            sv.TARGET_CLASS: "a chosen class",
        }
        mode = o1.selectbox(
            "Explain",
            list(modes),
            format_func=modes.get,
            key=state.bind("target_mode", list(modes), what="target mode"),
        )
        target = None
        if mode == sv.TARGET_CLASS:
            classes = range(len(pack.classes))
            target = o1.selectbox(
                "Target class",
                classes,
                format_func=lambda i: maps.class_label(pack.classes, i),
                key=state.bind("target_class", classes, what="class"),
                help="Type to search the class names.",
            )
        defaults = sv.default_budgets(pack.input_size)
        budgets = {  # one slider per method with a cost knob (explain.base.Budget)
            m: (o2, o3)[i % 2].slider(
                b.title, *b.slider[:2], step=b.slider[2], key=state.bind(b.key, default=defaults[m])
            )
            for i, (m, b) in enumerate(budgeted().items())
        }
        opacity = o4.slider("Overlay opacity", 0.0, 1.0, step=0.05, key=state.bind("opacity"))
        with_measures = o4.toggle(
            "Measures",
            key=state.bind("with_measures"),
            help="Per-map measures under the grid (not shown in presentation mode).",
        )
    return dict(
        variants=variants,
        methods=methods,
        mode=mode,
        target=target,
        budgets=budgets,
        opacity=opacity,
        with_measures=with_measures,
    )
