"""Continuity: DS of each variant under the four photometric perturbations at levels 1-4
for the chosen image, the test-set means from the pack's stored report, and the perturbed
images themselves."""

import streamlit as st

from sc_viz.app import deck_view, export, loaders, report_view, sidebar, single_image, takeaways
from sc_viz.figures import ds_lines
from sc_viz.perturb import LEVELS


@st.cache_data(max_entries=32, show_spinner=False)
def strip_pngs(image_key: str, _x):
    return {
        (p, lv): export.png_bytes(img, upscale=3)
        for p, levels in single_image.perturbed_strip(_x).items()
        for lv, img in levels.items()
    }


ctx = sidebar.context()
pack = sidebar.require_pack(ctx)
image = sidebar.require_image(ctx)
st.title("Continuity under perturbation")
with sidebar.page_controls(ctx):
    variants = sidebar.variant_picker(pack)
if ctx.present:  # previous/next image and the way out, with the sidebar collapsed
    sidebar.controls(ctx)
if not variants:
    st.info("Choose at least one variant.")
    st.stop()

fetch = deck_view.fetcher(pack, image, {"continuity.ds": "Computing distance scores..."})  # or the deck's
table = {v: single_image.ds_of(pack, image.x, v, fetch) for v in variants}
report = loaders.get_stored_report(pack)
test_table = report_view.continuity_means(report, variants)
line = takeaways.continuity_takeaway(test_table, "test-set mean DS") if test_table else None
sidebar.takeaway(ctx, line or takeaways.continuity_takeaway(table, "mean DS on this image"))
sidebar.figure(ctx, ds_lines(table, f"This image ({image.caption})"), "ds-image")
rows = single_image.ds_rows(table)

if test_table:
    ds_ci = report_view.continuity_intervals(report, variants)
    fig = ds_lines(
        test_table,
        f"Test-set mean, {report.sample_label('continuity')} (stored report, paper Fig. 4)"
        + (", 95% intervals" if ds_ci else ""),
        intervals=ds_ci,
    )
    sidebar.figure(ctx, fig, "ds-test")
    rows += single_image.ds_rows(test_table, source="test-set mean")
    rates = report_view.continuity_means(report, variants, key="violation_rate")
    if rates:
        rate_ci = report_view.continuity_intervals(report, variants, key="violation_rate")
        fig = ds_lines(
            rates,
            "Continuity violations: share of same-class test images "
            "closer than the perturbed copy (paper Fig. 1)" + (", 95% intervals" if rate_ci else ""),
            y_title="violation rate",
            percent=True,
            intervals=rate_ci,
        )
        sidebar.figure(ctx, fig, "violations-test")
if report.message and not ctx.present:
    st.caption(report.message)

st.subheader("Perturbed images")
pngs = strip_pngs(image.key, image.x)
for name in LEVELS:
    cols = st.columns(len(LEVELS[name]) + 1)
    cols[0].markdown(f"**{name}**")
    for col, lv in zip(cols[1:], LEVELS[name]):
        col.image(pngs[(name, lv)], caption=f"level {lv}", width=192 if ctx.present else 96)

st.download_button(
    "Download numbers (CSV)", export.rows_to_csv(rows), "continuity.csv", "text/csv", on_click="ignore"
)
