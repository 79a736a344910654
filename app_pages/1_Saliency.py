"""Saliency: the variants x methods grid for the chosen image, each model's top-3
predictions, the per-map measures, and downloads (grid PNG, measures CSV, export bundle).
The grid's drawing and computing: sc_viz/app/saliency_grid.py."""

import streamlit as st

from sc_viz.app import deck_view, export, loaders, sidebar, state, takeaways
from sc_viz.app import saliency_grid as grid_screen
from sc_viz.app import saliency_view as sv
from sc_viz.app import sanity_view as san
from sc_viz.explain import METHODS
from sc_viz.explain.base import budgeted
from sc_viz.explain.grid import ordered_methods

UPLOAD_NAME = "image.png"  # the uploaded image's name inside the export bundle


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
                format_func=lambda i: sv.class_label(pack.classes, i),
                key=state.bind("target_class", classes, what="class"),
                help="Type to search the class names.",
            )
        budgets = {  # one slider per method with a cost knob (explain.base.Budget)
            m: (o2, o3)[i % 2].slider(
                b.title,
                *b.slider[:2],
                step=b.slider[2],
                key=state.bind(b.key, default=b.default("interactive", pack.input_size)),
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


ctx = sidebar.context()
pack = sidebar.require_pack(ctx)
image = sidebar.require_image(ctx)
if not ctx.present:  # presentation mode: the grid has the screen (the bar names the page)
    st.title("Saliency")
chosen = grid_controls(ctx, pack)
variants, methods, opacity = chosen["variants"], chosen["methods"], chosen["opacity"]
if not variants or not methods:
    st.info("Choose at least one variant and one method.")
    st.stop()
notes = [sv.defaults_note(pack.input_size, methods)]
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
    target_mode=chosen["mode"],
    target_class=chosen["target"],
    budgets=chosen["budgets"],
    opacity=opacity,
)
settings_json = settings.to_json()
pk, models = loaders.pack_key(pack), pack.models
predictions = grid_screen.predictions_for(pk, image.key, tuple(variants), models, image.x)
sidebar.takeaway(ctx, takeaways.saliency_takeaway(predictions, pack.classes, image.label))
screen = grid_screen.GridScreen(ctx.present, pack, image, variants, methods, predictions)
cells = grid_screen.fill(screen, pk, settings, opacity)
deck_view.offer_settings(settings)

rows = grid_screen.measure_rows(pk, image, models, cells, settings_json) if chosen["with_measures"] else []
if rows and not ctx.present:  # a table is unreadable from the back of a room; the CSV has it
    st.subheader("Measures")
    st.dataframe(rows, hide_index=True, height=min(40 + 35 * len(rows), 800))


grid = sv.as_grid(cells, variants, methods, predictions)
grid_png, grid_html = grid_screen.renders_for(
    pk, image.key, settings_json, screen.size, grid, image.x, pack.classes, opacity
)
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
