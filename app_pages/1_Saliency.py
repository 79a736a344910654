"""Saliency: the variants x methods grid for the chosen image, each model's top-3
predictions, the per-map measures, and downloads (grid PNG, measures CSV, export bundle)."""

import json

import streamlit as st

from sc_viz.app import deck_view, export, loaders, present, sidebar, state, takeaways
from sc_viz.app import saliency_view as sv
from sc_viz.app import sanity_view as san
from sc_viz.deck import slide_units
from sc_viz.explain import METHODS, predict_top
from sc_viz.explain.grid import explain_unit, ordered_methods
from sc_viz.explain.settings import grid_target

UPLOAD_NAME = "image.png"  # the uploaded image's name inside the export bundle
LAST_CELLS = "_sc_saliency_cells"  # the cells last drawn, shown dimmed while new ones compute


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
    from sc_viz.explain.measures import measure_map

    return measure_map(_model, _x, _exp.map, _exp.target)


@st.cache_data(max_entries=16, show_spinner=False)
def renders_for(pack_key, image_key, settings_json, size, _grid, _x, _classes, opacity):
    """The grid's PNG and interactive HTML at the screen's cell size: drawn once per view,
    not on every rerun (the HTML inlines plotly.js). The keys fix every cell of the grid."""
    return (
        sv.grid_png(_x, _grid, _classes, opacity, size),
        export.figure_html(sv.grid_figure(_x, _grid, _classes, opacity, size)),
    )


def show_cell(slot, c, dim: bool = False) -> None:
    slot.image(
        sv.dimmed(c.image) if dim else c.image,
        caption=" ".join(c.caption),
        width=c.image.shape[1],
        output_format="PNG",
    )


ctx = sidebar.context()
pack = sidebar.require_pack(ctx)
image = sidebar.require_image(ctx)
if not ctx.present:  # presentation mode: the grid has the screen (the bar names the page)
    st.title("Saliency")

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
            format_func=lambda i: sv.class_label(pack.classes, i),
            key=state.bind("target_class", classes, what="class"),
            help="Type to search the class names.",
        )
    ig_steps = o2.slider(
        "IG steps", 8, 128, step=8, key=state.bind("ig_steps", default=sv.default_ig_steps(pack.input_size))
    )
    lime_samples = o3.slider(
        "LIME samples",
        100,
        2000,
        step=100,
        key=state.bind("lime_samples", default=sv.default_lime_samples(pack.input_size)),
    )
    opacity = o4.slider("Overlay opacity", 0.0, 1.0, step=0.05, key=state.bind("opacity"))
    with_measures = o4.toggle(
        "Measures",
        key=state.bind("with_measures"),
        help="Per-map measures under the grid (not shown in presentation mode).",
    )
if not variants or not methods:
    st.info("Choose at least one variant and one method.")
    st.stop()
notes = [sv.defaults_note(pack.input_size) if {"ig", "lime"} & set(methods) else None]
if "gradcam" in methods:
    notes.append(sv.gradcam_layer_text(pack.manifest, pack.models[variants[0]]))
if not ctx.present and any(notes):
    st.caption(" ".join(n + ("" if n.endswith(".") else ".") for n in notes if n))

settings = sv.page_settings(
    str(pack.path.resolve()),
    image_index=image.index,
    image_file=UPLOAD_NAME,
    variants=variants,
    methods=methods,
    target_mode=mode,
    target_class=target,
    ig_steps=ig_steps,
    lime_samples=lime_samples,
    opacity=opacity,
)
settings_json = settings.to_json()
pk, models = loaders.pack_key(pack), pack.models
predictions = predictions_for(pk, image.key, tuple(variants), models, image.x)
sidebar.takeaway(ctx, takeaways.saliency_takeaway(predictions, pack.classes, image.label))
size = sv.screen_cell_px(len(methods) + 1, ctx.present)
shown = st.session_state.setdefault(LAST_CELLS, {})  # (variant, method) -> last GridCell drawn
if ctx.present:
    size = present.cell_cap_px(pack.input_size)  # drawn at most this large; CSS fits the screen
    heads = [present.image_header()] + [present.method_header(m, size) for m in methods]
    grid_rows = {
        v: present.Row(
            v,
            present.row_lines(predictions[v], pack.classes, None),
            sv.input_cell(image.x, size),
            [shown[(v, m)].image if (v, m) in shown else None for m in methods],
            ["" for _ in methods],
            [(v, m) in shown for m in methods],
        )
        for v in variants
    }
    grid_slot = st.empty()
    grid_slot.html(present.grid_html(heads, list(grid_rows.values()), size))

# The empty grid first (headers with each method's colour bar, the input column with the
# row labels, the last maps drawn dimmed), then filled method by method, cheapest first.
slots = {}
if not ctx.present:
    header = st.columns(len(methods) + 1)
    header[0].markdown("**image**")
    for col, m, (title, tip) in zip(header[1:], methods, sv.column_headers(methods)):
        col.markdown(f"**{title}**", help=tip)
        col.image(sv.legend_image(m, size), width=size, output_format="PNG")
    st.caption(present.SCALE_LINE)
for v in variants if not ctx.present else ():
    row = st.columns(len(methods) + 1)
    row[0].image(
        sv.input_cell(image.x, size),
        caption=sv.row_caption(v, predictions[v], pack.classes),
        width=size,
        output_format="PNG",
    )
    for col, m in zip(row[1:], methods):
        slots[(v, m)] = col.empty()
        if (v, m) in shown:
            show_cell(slots[(v, m)], shown[(v, m)], dim=True)
bar = st.progress(0.0, text="Explaining...")
cells = {}
deck, _ = deck_view.current_deck()
units = list(slide_units(pack, image.x, settings, image.label))  # cheapest method first
options, target = settings.method_options(), grid_target(settings, image.label)
served = 0  # units shown from the deck
failed = set()
for i, u in enumerate(units):
    if u.method in failed:
        continue
    bar.progress(i / len(units), text=f"{sv.method_legend(u.method).title} ({i + 1}/{len(units)})")
    done = deck.get(u.key) if deck is not None else None
    served += done is not None
    try:
        if done is None:
            opts = json.dumps(options.get(u.method, {}), sort_keys=True)
            done = unit_for(pk, image.key, u.variants, u.method, opts, target, models, image.x)
    except (ValueError, RuntimeError) as err:  # e.g. a method that cannot handle this model
        failed.add(u.method)
        why = f"{u.method}: {str(err).splitlines()[0][:150]}"
        for where in [slots[(v, u.method)] for v in variants] if not ctx.present else [st]:
            where.warning(why)
        continue
    for v in u.variants:
        m = u.method
        cells[(v, m)] = done[v]
        shown[(v, m)] = sv.cell(image.x, done[v], pack.classes, opacity, size=size)
        if ctx.present:
            row, at = grid_rows[v], methods.index(m)
            row.cells[at], row.dim[at] = shown[(v, m)].image, False
            row.notes[at] = shown[(v, m)].caption[0] if shown[(v, m)].blank else ""
            row.lines = present.row_lines(predictions[v], pack.classes, done[v].target)
        else:
            show_cell(slots[(v, m)], shown[(v, m)])
    if ctx.present:
        grid_slot.html(present.grid_html(heads, list(grid_rows.values()), size))
st.session_state[deck_view.SERVED] = (served, len(units))
deck_view.offer_settings(settings)
bar.empty()

rows = []
if with_measures and cells:
    try:
        measures = {
            key: measures_for(pk, image.key, key[0], key[1], settings_json, models[key[0]], image.x, exp)
            for key, exp in cells.items()
        }
        rows = sv.measure_rows(measures, cells)
        if not ctx.present:  # a table is unreadable from the back of a room; the CSV has it
            st.subheader("Measures")
            st.dataframe(rows, hide_index=True, height=min(40 + 35 * len(rows), 800))
    except ImportError:
        st.caption("Per-map measures are not available in this installation.")

grid = sv.as_grid(cells, variants, methods, predictions)
grid_png, grid_html = renders_for(pk, image.key, settings_json, size, grid, image.x, pack.classes, opacity)
d1, d2, d3 = st.columns(3)
d1.download_button("Grid (PNG)", grid_png, "grid.png", "image/png", on_click="ignore")
d2.download_button(
    "Measures (CSV)",
    export.rows_to_csv(rows),
    "measures.csv",
    "text/csv",
    on_click="ignore",
    disabled=not rows,
)
# the sanity checks of this grid: on a click, or as computed on the Sanity page
sanity = san.grid_sanity_flow(
    d3, {v: models[v] for v in variants}, pk, image, methods, state.value, lambda m: sv.method_legend(m).title
)


def bundle() -> bytes:  # drawn on a click only (the sanity files inline plotly.js)
    return export.saliency_bundle(
        grid_png,
        grid_html,
        rows,
        settings_json,
        upload=(UPLOAD_NAME, image.pil) if image.index is None else None,
        readme=sv.BUNDLE_README,
        sanity=sanity.files() if sanity else None,
    )


d3.download_button(
    "Export bundle (zip)",
    bundle,
    "sc-viz-saliency.zip",
    "application/zip",
    on_click="ignore",
    help="PNG + interactive HTML + settings.json; `sc-viz explain --settings "
    "settings.json` regenerates the grid.",
)
