"""Saliency: the variants x methods grid for the chosen image, each model's top-3
predictions, the per-map measures, and downloads (grid PNG, measures CSV, export bundle).
The grid's drawing and computing: sc_viz/app/saliency_grid.py."""

import streamlit as st

from sc_viz.app import deck_view, export, loaders, sidebar, state, takeaways
from sc_viz.app import saliency_grid as grid_screen
from sc_viz.app import saliency_view as sv
from sc_viz.app import sanity_view as san

UPLOAD_NAME = "image.png"  # the uploaded image's name inside the export bundle


ctx = sidebar.context()
pack = sidebar.require_pack(ctx)
image = sidebar.require_image(ctx)
if not ctx.present:  # presentation mode: the grid has the screen (the bar names the page)
    st.title("Saliency")
chosen = grid_screen.grid_controls(ctx, pack)
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
