"""Robustness: the chosen image under PGD for each variant: adversarial image, the
perturbation (amplified), prediction before/after with a verdict judged against the true
class (robustness_view.verdict), and saliency of clean vs adversarial; optionally SPAT's
shared-pixel mask and perturbation beside PGD's; below, the test-set clean and PGD accuracy
from the pack's stored report (Table 2), with 95% intervals. The gallery starts from the
report's story images (sidebar.STORY_PAGES)."""

import streamlit as st

from sc_viz.app import deck_view, export, robustness_screen, robustness_view, sidebar, state, takeaways
from sc_viz.app.views import EPS_CHOICES
from sc_viz.explain import METHODS
from sc_viz.figures import SCALE_NOTE, method_legend

SPINNERS = {
    "robustness.pgd": "Running PGD...",
    "robustness.maps": "Explaining...",
    "robustness.spat": "Running SPAT's shared-pixel PGD...",
}


ctx = sidebar.context()
pack = sidebar.require_pack(ctx)
image = sidebar.require_image(ctx)
st.title("Robustness under PGD")
with sidebar.page_controls(ctx):
    variants = sidebar.variant_picker(pack)
c1, c2, c3 = (sidebar.controls(ctx) if ctx.present else st.container()).columns(3)
eps255 = c1.select_slider("eps (x/255, L-inf)", EPS_CHOICES, key=state.bind("eps", EPS_CHOICES, what="eps"))
steps = c2.slider("PGD steps", 1, 20, key=state.bind("pgd_steps"))
adv_methods = [robustness_view.NO_METHOD, *METHODS.names()]
method = c3.selectbox(
    "Saliency method",
    adv_methods,
    format_func=lambda m: m if m == robustness_view.NO_METHOD else method_legend(m).title,
    key=state.bind("adv_method", adv_methods, what="method"),
    help="Map of each image for the class the model predicts on it.",
)
show_spat = sidebar.page_controls(ctx).toggle(
    "Show SPAT's shared-pixel attack beside PGD",
    key=state.bind("spat"),
    help="Where SPAT's perturbation falls compared with plain PGD's (the point of the method).",
)
if not variants:
    st.info("Choose at least one variant.")
    st.stop()

fetch = deck_view.fetcher(pack, image, SPINNERS)  # from the prepared deck when it holds them
results = {v: robustness_view.pgd_of(pack, image.x, image.label, v, eps255, steps, fetch) for v in variants}
classes = pack.classes
rows = robustness_view.verdict_rows(results, classes, eps255 / 255, image.label)
sidebar.takeaway(ctx, takeaways.robustness_takeaway({r["variant"]: r["verdict"] for r in rows}, eps255))
if not ctx.present:
    st.caption(
        "PGD pushes away from the true class (gallery) or from each model's own "
        "prediction (upload); step eps/4, random start, seed 0. "
        + robustness_view.judged_against_note(image.label, classes)
    )
    if ctx.story is not None and image.index is not None:
        st.caption(
            ctx.story.caption()
            + (f" Test image {image.index} is one of them." if image.index in ctx.story.all else "")
        )
    if method != "none":
        st.caption(f"Saliency panels: the map of each image for the class predicted on it. {SCALE_NOTE}")
px = 256 if ctx.present else 128  # the images' side on screen
robustness_screen.variant_rows(pack, image, variants, results, eps255, steps, method, px, fetch)
if show_spat:
    robustness_screen.spat_section(pack, image, variants, results, eps255, steps, px, fetch)
robustness_screen.test_set_table(ctx, pack, variants)
st.download_button(
    "Download numbers (CSV)", export.rows_to_csv(rows), "robustness.csv", "text/csv", on_click="ignore"
)
