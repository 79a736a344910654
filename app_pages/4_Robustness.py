"""Robustness: the chosen image under PGD for each variant: adversarial image, the
perturbation (amplified), prediction before/after with a verdict judged against the true
class (robustness_view.verdict), and saliency of clean vs adversarial; optionally SPAT's
shared-pixel mask and perturbation beside PGD's; below, the test-set clean and PGD accuracy
from the pack's stored report (Table 2), with 95% intervals. The gallery starts from the
report's story images (sidebar.STORY_PAGES)."""

import streamlit as st

from sc_viz.app import (
    deck_view,
    export,
    loaders,
    report_view,
    robustness_view,
    sidebar,
    single_image,
    state,
    takeaways,
)
from sc_viz.app import saliency_view as sv
from sc_viz.app.views import EPS_CHOICES
from sc_viz.explain import METHODS
from sc_viz.figures import SCALE_NOTE
from sc_viz.figures.budgets import stored_budget_figure

SPINNERS = {
    "robustness.pgd": "Running PGD...",
    "robustness.maps": "Explaining...",
    "robustness.spat": "Running SPAT's shared-pixel PGD...",
}


def spat_section(pack, image, variants, results, eps255: float, steps: int, px: int, fetch) -> None:
    """Per variant: SPAT's shared mask, its perturbation and PGD's, and where each falls."""
    st.subheader("SPAT's shared-pixel attack beside PGD (our reading)")
    spat = {v: robustness_view.spat_of(pack, image.x, v, results[v], eps255, steps, fetch) for v in variants}
    st.caption(
        "SPAT scales each PGD step by gamma + (1 - gamma) M, M the mask of pixels shared "
        "among the top-10 classes (white = shared), gamma 0.1, same budget and start as PGD. "
        "'On shared pixels': the share of the perturbation's mass on the mask's top fifth "
        "(20% if it fell evenly). The method is the project's reading of the SPAT abstract "
        "(docs/related_methods.md)."
    )
    heads = ["shared mask M", "SPAT perturbation", "PGD perturbation", "result"]
    for col, h in zip(st.columns([1, 1, 1, 1.4]), heads):
        col.markdown(f"**{h}**")
    up = max(1, px // pack.input_size)
    for v in variants:
        r = spat[v]
        cols = st.columns([1, 1, 1, 1.4])
        cols[0].image(export.png_bytes(r.mask.expand(-1, 3, -1, -1), upscale=up), width=px)
        cols[1].image(export.png_bytes(single_image.amplify(r.delta, eps255 / 255), upscale=up), width=px)
        cols[2].image(
            export.png_bytes(single_image.amplify(results[v].delta, eps255 / 255), upscale=up), width=px
        )
        a, pa = r.after[0]
        cols[3].markdown(
            f"### {v}\nafter SPAT: **{pack.classes[a]}** {pa:.0%}  \n"
            f"on shared pixels: SPAT {r.spat_share:.0%}, PGD {r.pgd_share:.0%}"
        )


def test_set_table(ctx, pack, variants) -> None:
    """Table 2 of the stored report for the chosen variants (or why there is none)."""
    present = ctx.present
    report = loaders.get_stored_report(pack)
    table = report_view.robustness_rows(report, variants)
    if table:
        st.subheader("Test set (paper Table 2)")
        if present:  # a static table reads from afar
            st.table(table)
        else:
            st.dataframe(table, hide_index=True, key="table2")
        figure = robustness_view.test_set_figure(report, variants)
        if figure is not None:
            sidebar.figure(ctx, figure, "table2_chart")
        if not present:
            st.caption(report_view.robustness_caption(report))
    sweep = stored_budget_figure(report, variants)  # only when the report has robustness-budgets
    if sweep is not None:
        sidebar.figure(ctx, sweep[0], "budgets_chart")
        if not present:
            st.caption(sweep[1])
    if report.message and not present:
        st.caption(report.message)


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
    format_func=lambda m: m if m == robustness_view.NO_METHOD else sv.method_legend(m).title,
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
heads = ["clean", "adversarial", "perturbation (amplified)"]
title = sv.method_legend(method).title if method != "none" else ""
heads += [f"{title}: clean", f"{title}: adversarial"] if method != "none" else []
px = 256 if ctx.present else 128  # the images' side on screen
top = st.columns([1] * len(heads) + [1.4])
for col, h in zip(top, heads + ["prediction"]):
    col.markdown(f"**{h}**")
for v in variants:
    r = results[v]
    pics = [image.x, r.x_adv, single_image.amplify(r.delta, eps255 / 255)]
    cols = st.columns([1] * len(heads) + [1.4])
    for col, pic in zip(cols, pics):
        col.image(export.png_bytes(pic, upscale=max(1, px // pack.input_size)), width=px)
    if method != "none":
        clean_map, adv_map = robustness_view.maps_of(pack, image.x, v, r, eps255, steps, method, fetch)
        cols[3].image(sv.overlay(image.x, clean_map, 0.5, size=px), width=px, output_format="PNG")
        cols[4].image(sv.overlay(r.x_adv, adv_map, 0.5, size=px), width=px, output_format="PNG")
    (b, pb), (a, pa) = r.before[0], r.after[0]
    with cols[-1]:
        st.markdown(f"### {v}\nbefore: **{classes[b]}** {pb:.0%}  \nafter: **{classes[a]}** {pa:.0%}")
        verdict = robustness_view.verdict_of(r, image.label, classes)
        getattr(st, verdict.tone)(verdict.text)
if show_spat:
    spat_section(pack, image, variants, results, eps255, steps, px, fetch)
test_set_table(ctx, pack, variants)
st.download_button(
    "Download numbers (CSV)", export.rows_to_csv(rows), "robustness.csv", "text/csv", on_click="ignore"
)
