"""The Robustness page's sections on screen: one row per variant (x, its PGD image, the
perturbation, the saliency maps of both, the predictions and the verdict box), SPAT's
shared-pixel attack beside PGD, and the stored report's test-set table and charts.

Apart from `robustness_view` because these draw with Streamlit, while `robustness_view`
only computes: `sc-viz deck build` calls its pieces of work with no Streamlit run, and the
tests patch its `attack_each`. The page keeps its widgets and passes their values in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st

from sc_viz.app import export, loaders, maps, report_view, robustness_view, sidebar, single_image
from sc_viz.app.single_image import AttackResult
from sc_viz.deck.work import Fetch
from sc_viz.figures import method_legend
from sc_viz.figures.budgets import stored_budget_figure


def variant_rows(
    pack,
    image,
    variants: Sequence[str],
    results: Mapping[str, AttackResult],
    eps255: float,
    steps: int,
    method: str,
    px: int,
    fetch: Fetch,
) -> None:
    """The column heads, then per variant: x, its PGD image and the perturbation (amplified),
    with `method` the map of each (for the class predicted on it), and its predictions
    before and after with the verdict's box. results: variant -> its PGD (`pgd_of`); px: the
    images' side on screen; fetch: where the maps come from (the prepared deck or now)."""
    heads = ["clean", "adversarial", "perturbation (amplified)"]
    title = method_legend(method).title if method != "none" else ""
    heads += [f"{title}: clean", f"{title}: adversarial"] if method != "none" else []
    classes = pack.classes
    top = st.columns([1] * len(heads) + [1.4])
    for col, h in zip(top, heads + ["prediction"]):
        col.markdown(f"**{h}**")
    for v in variants:
        r = results[v]
        pics = [image.x, r.x_adv, single_image.amplify(r.delta, eps255 / 255)]  # each (1, 3, S, S)
        cols = st.columns([1] * len(heads) + [1.4])
        for col, pic in zip(cols, pics):
            col.image(export.png_bytes(pic, upscale=max(1, px // pack.input_size)), width=px)
        if method != "none":
            clean_map, adv_map = robustness_view.maps_of(pack, image.x, v, r, eps255, steps, method, fetch)
            cols[3].image(maps.overlay(image.x, clean_map, 0.5, size=px), width=px, output_format="PNG")
            cols[4].image(maps.overlay(r.x_adv, adv_map, 0.5, size=px), width=px, output_format="PNG")
        (b, pb), (a, pa) = r.before[0], r.after[0]
        with cols[-1]:
            st.markdown(f"### {v}\nbefore: **{classes[b]}** {pb:.0%}  \nafter: **{classes[a]}** {pa:.0%}")
            verdict = robustness_view.verdict_of(r, image.label, classes)
            getattr(st, verdict.tone)(verdict.text)


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
        # the mask (1, 1, S, S) shown grey: its one channel repeated as RGB
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
