"""The Sanity page on screen: its widget groups (each a function returning the values it
offers), the Compute gate, the checks under a progress bar, the verdict boxes and each
method's figures. The computation is sanity_view's; this module only draws, so the page
stays a short script of calls (app_pages/6_Sanity.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from sc_viz.app import deck_view, loaders, sidebar, state, style, takeaways
from sc_viz.app import sanity_view as san
from sc_viz.app.views import GALLERY
from sc_viz.explain import METHODS
from sc_viz.explain.base import budgeted
from sc_viz.explain.grid import ordered_methods
from sc_viz.explain.sanity import SIMILARITIES, SIMILARITY_TITLES
from sc_viz.figures import method_legend

FIGURES_NOTE = (
    "Strips: each map on its own colour scale, titled with the block re-initialised at that "
    "step and its similarity to the trained model's map. ROAD: the probability of the "
    "explained class as the most (MoRF, solid) or least (LeRF, dashed) relevant pixels are "
    "removed and filled by noisy linear imputation; a larger LeRF - MoRF gap is more faithful."
)


def title(method: str) -> str:
    return method_legend(method).title


def method_picker() -> list[str]:
    every = ordered_methods(METHODS.names())
    chosen = st.multiselect(
        "Methods",
        every,
        format_func=title,
        key=state.bind("san_methods", every, what="method"),
        help="The cheap methods by default; LIME is slow here (its samples run on every randomised model).",
    )
    return ordered_methods(chosen)


@dataclass
class CheckControls:
    mode: str  # the class explained (sanity_view.TARGET_MODES)
    order: str  # cascading | independent
    measure: str  # the similarity drawn under the maps
    threshold: float  # the flag's threshold on |map| Spearman after the cascade
    budgets: dict[str, int]  # method -> its budget (IG steps, LIME samples ...)


def check_controls(ctx) -> CheckControls:
    """The checks' settings, in the page's bar of controls."""
    with sidebar.controls(ctx):
        o1, o2, o3, o4 = st.columns(4)
        mode = o1.selectbox(
            "Explain",
            list(san.TARGET_MODES),
            format_func=san.TARGET_MODES.get,
            key=state.bind("san_target", list(san.TARGET_MODES), what="target mode"),
        )
        order = o1.radio(
            "Randomisation",
            list(san.ORDERS),
            format_func=san.ORDER_TITLES.get,
            key=state.bind("san_order", list(san.ORDERS), what="order"),
            help="Cascading: one more block re-initialised per step, from the logits down "
            "(the flag needs it). Our reading: blocks are the backbone's children, a "
            "ResNet stage opened into its residual blocks.",
        )
        measure = o2.selectbox(
            "Similarity under the maps",
            list(SIMILARITIES),
            format_func=SIMILARITY_TITLES.get,
            key=state.bind("san_measure", list(SIMILARITIES), what="similarity"),
            help="Each map after a step compared with the trained model's map "
            "(both scaled by their largest |value|).",
        )
        threshold = o2.slider(
            "Flag threshold",
            0.0,
            1.0,
            step=0.05,
            key=state.bind("san_threshold"),
            help="Our reading: a method is flagged when its |map| Spearman to the trained "
            "model's map is still at least this after the whole cascade.",
        )
        budgets = {
            m: (o3, o4)[i % 2].slider(
                b.title,
                *b.sanity_slider[:2],
                step=b.sanity_slider[2],
                key=state.bind(san.budget_key(m)),
                help=f"Only used when {title(m)} is chosen; few keep the cascade fast "
                f"(the eval suite uses {b.defaults['sanity']}).",
            )
            for i, (m, b) in enumerate(budgeted().items())
        }
    return CheckControls(mode, order, measure, threshold, budgets)


def cost_notes(ctx, methods: Sequence[str], budgets: dict[str, int]) -> None:
    if not ctx.present:
        st.caption(
            "Saliency, Grad-CAM and IG (few steps) are offered by default: the check explains the "
            "image once per randomisation step and variant. LIME can be added but is slow here."
        )
    for m in [m for m in methods if m in san.SLOW_METHODS]:
        st.warning(
            f"{title(m)} runs {budgets[m]} model passes per map, for every "
            "randomisation step and variant: expect about a minute per variant on a CPU."
        )


def asked(pack, image, variants: Sequence[str], methods: Sequence[str], c: CheckControls) -> bool:
    """The Compute gate: True once these checks were asked for in the session (or a
    prepared deck holds every unit); else the button and what it will run."""
    request = san.request_key(
        loaders.pack_key(pack), image.key, variants, methods, order=c.order, mode=c.mode, budgets=c.budgets
    )
    done = st.session_state.setdefault(san.ASKED, set())
    models = {v: pack.models[v] for v in variants}
    settings = dict(order=c.order, mode=c.mode, budgets=c.budgets)
    if request not in done and deck_view.holds(
        pack, image, lambda: san.check_works(models, image.x, image.label, methods, settings)
    ):
        done.add(request)  # a prepared deck holds every unit: shown without a click
    st.button(
        "Compute",
        key="sanity-compute",
        type="primary",
        icon=":material/play_arrow:",
        on_click=done.add,
        args=(request,),
        help="Randomisation cascade and ROAD curves of every chosen method and variant.",
    )
    if request not in done:
        st.info(
            f"Press **Compute** to run the checks: {len(methods)} method(s) x {len(variants)} variant(s), "
            "each map once per randomisation step, then its ROAD curves. Results are kept for this "
            "session."
        )
    return request in done


def run_checks(pack, image, variants: Sequence[str], methods: Sequence[str], c: CheckControls) -> san.Checks:
    """Every unit under a progress bar, each from the prepared deck when it holds it."""
    bar = st.progress(0.0, text="Sanity checks...")
    checks = san.compute_checks(
        {v: pack.models[v] for v in variants},
        loaders.pack_key(pack),
        image.key,
        image.x,
        image.label,
        methods,
        order=c.order,
        mode=c.mode,
        budgets=c.budgets,
        fetch=deck_view.fetcher(pack, image, cache=False),
        progress=lambda done, text: bar.progress(done, text=text),
        title=title,
    )
    bar.empty()
    return checks


def verdicts(ctx, checks: san.Checks, methods: Sequence[str], c: CheckControls, classes) -> tuple[dict, dict]:
    """The takeaway and a box per flag and per map that cannot be judged; returns
    ({method: flagged variants}, {method: why its maps cannot be judged})."""
    res = checks.result
    flags = {m: san.flagged_variants(res, m, c.threshold) for m in methods}
    unjudged = {
        m: san.unjudged_messages(title(m), san.verdicts(res, m, c.threshold), classes, res.targets)
        for m in methods
    }
    if c.order == "cascading":
        titles = {m: title(m) for m in methods}
        sidebar.takeaway(ctx, takeaways.sanity_takeaway(flags, titles, [m for m in methods if unjudged[m]]))
    for m in methods:
        if flags[m]:
            st.error(san.flag_message(title(m), flags[m], c.threshold), icon=":material/flag:")
        for line in unjudged[m]:
            st.warning(line, icon=":material/help:")
    if c.order == "cascading" and not any(flags.values()):
        if any(unjudged.values()):
            st.info(
                "No method is flagged among the maps that could be judged; the maps above cannot be "
                "judged, so they are neither flagged nor passed."
            )
        else:
            st.success(
                f"No method is flagged: every map changes under randomisation (|map| Spearman below "
                f"{c.threshold:.2f} after the whole cascade)."
            )
    return flags, unjudged


def method_sections(ctx, checks: san.Checks, variants, methods, measure: str, flags, unjudged) -> dict:
    """Per method: its strips (one per variant), similarity curves and ROAD curves.
    Returns every figure by its heading (for the export bundle)."""
    per_method = san.figures(checks.result, checks.curves, measure, title=title)
    figures = {}
    for m in methods:
        notes = [n for n, found in (("flagged", flags[m]), ("cannot judge", unjudged[m])) if found]
        st.subheader(title(m) + (f" ({', '.join(notes)})" if notes else ""))
        *strips, similarity, road = per_method[m].values()
        for v, fig in zip(variants, strips):
            st.plotly_chart(style.scale_fonts(fig, ctx.present), key=f"strip-{m}-{v}")
        sidebar.figure(ctx, similarity, f"similarity-{m}")
        st.columns([3, 2])[0].plotly_chart(style.scale_fonts(road, ctx.present), key=f"road-{m}")
        figures.update(per_method[m])
    if not ctx.present:
        st.caption(FIGURES_NOTE)
    return figures


def export_settings(pack, image, variants, methods, checks: san.Checks, c: CheckControls) -> dict:
    """Every setting of the page, for the bundle's settings.json."""
    return {
        "page": "sanity",
        "pack": str(pack.path),
        "image": image.key,
        "variants": variants,
        "methods": methods,
        "targets": checks.targets,
        "target_mode": c.mode,
        "order": c.order,
        "similarity_shown": c.measure,
        "flag_threshold": c.threshold,
        "method_options": checks.options,
        "source": image.caption if state.value("img_source") == GALLERY else "upload",
    }
