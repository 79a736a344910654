"""Sanity: can these maps be trusted? For the chosen image, each method's map
through the model-parameter randomisation cascade with its similarity to the trained
model's map (a flag where it barely changes), and the ROAD curves per variant; computed on
demand, one (variant, method) unit at a time, cached. Drawn by sanity_screen."""

import streamlit as st

from sc_viz.app import sanity_screen as screen
from sc_viz.app import sanity_view as san
from sc_viz.app import sidebar

ctx = sidebar.context()
pack = sidebar.require_pack(ctx)
image = sidebar.require_image(ctx)
st.title("Sanity checks")
with sidebar.page_controls(ctx):
    variants = sidebar.variant_picker(pack)
methods = screen.method_picker()
controls = screen.check_controls(ctx)
if not variants or not methods:
    st.info("Choose at least one variant and one method.")
    st.stop()
screen.cost_notes(ctx, methods, controls.budgets)
if not screen.asked(pack, image, variants, methods, controls):
    st.stop()

checks = screen.run_checks(pack, image, variants, methods, controls)
flags, unjudged = screen.verdicts(ctx, checks, methods, controls, pack.classes)
st.dataframe(
    san.summary_rows(checks.result, checks.curves, controls.threshold, pack.classes),
    hide_index=True,
    key="sanity-summary",
)
figures = screen.method_sections(ctx, checks, variants, methods, controls.measure, flags, unjudged)

settings = screen.export_settings(pack, image, variants, methods, checks, controls)
st.download_button(
    "Export bundle (zip)",
    lambda: san.bundle(
        image.x, checks.result, checks.curves, figures, settings, controls.threshold, pack.classes
    ),
    "sc-viz-sanity.zip",
    "application/zip",
    on_click="ignore",
)
