"""Sanity: can these maps be trusted? For the chosen image, each method's map
through the model-parameter randomisation cascade with its similarity to the trained
model's map (a flag where it barely changes), and the ROAD curves per variant; computed on
demand, one (variant, method) unit at a time, cached."""

import streamlit as st

from sc_viz.app import deck_view, loaders, sidebar, state, style, takeaways
from sc_viz.app import saliency_view as sv
from sc_viz.app import sanity_view as san
from sc_viz.app.views import GALLERY
from sc_viz.explain import METHODS
from sc_viz.explain.base import budgeted
from sc_viz.explain.grid import ordered_methods
from sc_viz.explain.sanity import SIMILARITIES, SIMILARITY_TITLES

ctx = sidebar.context()
pack = sidebar.require_pack(ctx)
image = sidebar.require_image(ctx)
st.title("Sanity checks")
with sidebar.page_controls(ctx):
    variants = sidebar.variant_picker(pack)
all_methods = ordered_methods(METHODS.names())
methods = ordered_methods(
    st.multiselect(
        "Methods",
        all_methods,
        format_func=lambda m: sv.method_legend(m).title,
        key=state.bind("san_methods", all_methods, what="method"),
        help="The cheap methods by default; LIME is slow here (its samples run on every randomised model).",
    )
)
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
            help=f"Only used when {sv.method_legend(m).title} is chosen; few keep the cascade fast "
            f"(the eval suite uses {b.defaults['sanity']}).",
        )
        for i, (m, b) in enumerate(budgeted().items())
    }
if not variants or not methods:
    st.info("Choose at least one variant and one method.")
    st.stop()
if not ctx.present:
    st.caption(
        "Saliency, Grad-CAM and IG (few steps) are offered by default: the check explains the "
        "image once per randomisation step and variant. LIME can be added but is slow here."
    )
for m in [m for m in methods if m in san.SLOW_METHODS]:
    st.warning(
        f"{sv.method_legend(m).title} runs {budgets[m]} model passes per map, for every "
        "randomisation step and variant: expect about a minute per variant on a CPU."
    )

key = loaders.pack_key(pack)
request = san.request_key(key, image.key, variants, methods, order=order, mode=mode, budgets=budgets)
asked = st.session_state.setdefault(san.ASKED, set())
models = {v: pack.models[v] for v in variants}
check_settings = dict(order=order, mode=mode, budgets=budgets)
if request not in asked and deck_view.holds(
    pack, image, lambda: san.check_works(models, image.x, image.label, methods, check_settings)
):
    asked.add(request)  # a prepared deck holds every unit: shown without a click
st.button(
    "Compute",
    key="sanity-compute",
    type="primary",
    icon=":material/play_arrow:",
    on_click=asked.add,
    args=(request,),
    help="Randomisation cascade and ROAD curves of every chosen method and variant.",
)
if request not in asked:
    st.info(
        f"Press **Compute** to run the checks: {len(methods)} method(s) x {len(variants)} variant(s), "
        "each map once per randomisation step, then its ROAD curves. Results are kept for this "
        "session."
    )
    st.stop()

bar = st.progress(0.0, text="Sanity checks...")
checks = san.compute_checks(
    models,
    key,
    image.key,
    image.x,
    image.label,
    methods,
    order=order,
    mode=mode,
    budgets=budgets,
    fetch=deck_view.fetcher(pack, image, cache=False),  # from the prepared deck when it holds them
    progress=lambda done, text: bar.progress(done, text=text),
    title=lambda m: sv.method_legend(m).title,
)
bar.empty()
res, curves = checks.result, checks.curves

flags = {m: san.flagged_variants(res, m, threshold) for m in methods}
unjudged = {
    m: san.unjudged_messages(
        sv.method_legend(m).title, san.verdicts(res, m, threshold), pack.classes, res.targets
    )
    for m in methods
}
if order == "cascading":
    titles = {m: sv.method_legend(m).title for m in methods}
    sidebar.takeaway(ctx, takeaways.sanity_takeaway(flags, titles, [m for m in methods if unjudged[m]]))
for m in methods:
    if flags[m]:
        st.error(san.flag_message(sv.method_legend(m).title, flags[m], threshold), icon=":material/flag:")
    for line in unjudged[m]:
        st.warning(line, icon=":material/help:")
if order == "cascading" and not any(flags.values()):
    if any(unjudged.values()):
        st.info(
            "No method is flagged among the maps that could be judged; the maps above cannot be "
            "judged, so they are neither flagged nor passed."
        )
    else:
        st.success(
            f"No method is flagged: every map changes under randomisation (|map| Spearman below "
            f"{threshold:.2f} after the whole cascade)."
        )
rows = san.summary_rows(res, curves, threshold, pack.classes)
st.dataframe(rows, hide_index=True, key="sanity-summary")

per_method = san.figures(res, curves, measure, title=lambda m: sv.method_legend(m).title)
figures = {}
for m in methods:
    notes = [n for n, found in (("flagged", flags[m]), ("cannot judge", unjudged[m])) if found]
    st.subheader(sv.method_legend(m).title + (f" ({', '.join(notes)})" if notes else ""))
    *strips, similarity, road = per_method[m].values()
    for v, fig in zip(variants, strips):
        st.plotly_chart(style.scale_fonts(fig, ctx.present), key=f"strip-{m}-{v}")
    sidebar.figure(ctx, similarity, f"similarity-{m}")
    st.columns([3, 2])[0].plotly_chart(style.scale_fonts(road, ctx.present), key=f"road-{m}")
    figures.update(per_method[m])
if not ctx.present:
    st.caption(
        "Strips: each map on its own colour scale, titled with the block re-initialised at that "
        "step and its similarity to the trained model's map. ROAD: the probability of the "
        "explained class as the most (MoRF, solid) or least (LeRF, dashed) relevant pixels are "
        "removed and filled by noisy linear imputation; a larger LeRF - MoRF gap is more faithful."
    )

settings = {
    "page": "sanity",
    "pack": str(pack.path),
    "image": image.key,
    "variants": variants,
    "methods": methods,
    "targets": checks.targets,
    "target_mode": mode,
    "order": order,
    "similarity_shown": measure,
    "flag_threshold": threshold,
    "method_options": checks.options,
    "source": image.caption if state.value("img_source") == GALLERY else "upload",
}
st.download_button(
    "Export bundle (zip)",
    lambda: san.bundle(image.x, res, curves, figures, settings, threshold, pack.classes),
    "sc-viz-sanity.zip",
    "application/zip",
    on_click="ignore",
)
