"""Sanity (issue 16): can these maps be trusted? For the chosen image, each method's map
through the model-parameter randomisation cascade with its similarity to the trained
model's map (a flag where it barely changes), and the ROAD curves per variant; computed on
demand, one (variant, method) unit at a time, cached."""

import json

import streamlit as st

from sc_viz.app import loaders, sidebar, state, style
from sc_viz.app import saliency_view as sv
from sc_viz.app import sanity_view as san
from sc_viz.app.views import GALLERY
from sc_viz.explain import METHODS
from sc_viz.explain.grid import ordered_methods
from sc_viz.explain.sanity import SIMILARITIES, SIMILARITY_TITLES
from sc_viz.sanity_figures import cascade_strip_figure, road_figure, similarity_figure

ASKED = "_sc_sanity_asked"  # the requests computed in this session: shown again without a click


@st.cache_data(max_entries=256, show_spinner=False)
def check_for(
    pack_key: str,
    image_key: str,
    variant: str,
    method: str,
    target: int,
    order: str,
    options_json: str,
    _model,
    _x,
):
    return san.check_one(_model, variant, _x, method, target, order=order, options=json.loads(options_json))


ctx = sidebar.context()
pack = sidebar.require_pack(ctx)
image = sidebar.require_image(ctx)
st.title("Sanity checks")
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
    ig_steps = o3.slider(
        "IG steps",
        2,
        64,
        step=2,
        key=state.bind("san_ig_steps"),
        help="Few steps keep the cascade fast (the eval suite uses 8).",
    )
    lime_samples = o4.slider(
        "LIME samples",
        25,
        1000,
        step=25,
        key=state.bind("san_lime_samples"),
        help="Only used when LIME is chosen.",
    )
if not variants or not methods:
    st.info("Choose at least one variant and one method.")
    st.stop()
if not ctx.present:
    st.caption(
        "Saliency, Grad-CAM and IG (few steps) are offered by default: the check explains the "
        "image once per randomisation step and variant. LIME can be added but is slow here."
    )
if any(m in san.SLOW_METHODS for m in methods):
    st.warning(
        f"LIME runs {lime_samples} model passes per map, for every randomisation step and "
        "variant: expect about a minute per variant at 300 samples on a CPU."
    )

key = loaders.pack_key(pack)
targets = san.targets_of({v: pack.models[v] for v in variants}, image.x, mode, image.label)
options = {m: json.dumps(san.method_options(m, ig_steps, lime_samples), sort_keys=True) for m in methods}
request = (key, image.key, tuple(variants), tuple(methods), order, mode, tuple(options.values()))
asked = st.session_state.setdefault(ASKED, set())
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
units = [(m, v) for m in methods for v in variants]
parts, curves = [], {m: {} for m in methods}
for i, (m, v) in enumerate(units):
    bar.progress(
        i / len(units),
        text=f"{sv.method_legend(m).title} on {v} ({i + 1}/{len(units)}): randomisation cascade and ROAD",
    )
    result, road = check_for(key, image.key, v, m, targets[v], order, options[m], pack.models[v], image.x)
    parts.append(result)
    curves[m][v] = road
bar.empty()
res = san.merge(parts)

flags = {m: san.flagged_variants(res, m, threshold) for m in methods}
for m in methods:
    if flags[m]:
        st.error(san.flag_message(sv.method_legend(m).title, flags[m], threshold), icon=":material/flag:")
if order == "cascading" and not any(flags.values()):
    st.success(
        f"No method is flagged: every map changes under randomisation (|map| Spearman below "
        f"{threshold:.2f} after the whole cascade)."
    )
rows = san.summary_rows(res, curves, threshold)
st.dataframe(rows, hide_index=True, key="sanity-summary")

figures = {}
for m in methods:
    title = sv.method_legend(m).title
    st.subheader(title + (" (flagged)" if flags[m] else ""))
    for v in variants:
        fig = cascade_strip_figure(res, m, v, measure)
        figures[f"{title}, {v}: maps through the randomisation"] = fig
        st.plotly_chart(style.scale_fonts(fig, ctx.present), key=f"strip-{m}-{v}")
    figures[f"{title}: similarity"] = fig = similarity_figure(res, m)
    st.plotly_chart(style.scale_fonts(fig, ctx.present), key=f"similarity-{m}")
    figures[f"{title}: ROAD"] = fig = road_figure(curves[m], title)
    st.columns([3, 2])[0].plotly_chart(style.scale_fonts(fig, ctx.present), key=f"road-{m}")
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
    "targets": targets,
    "target_mode": mode,
    "order": order,
    "similarity_shown": measure,
    "flag_threshold": threshold,
    "method_options": {m: json.loads(o) for m, o in options.items()},
    "source": image.caption if state.value("img_source") == GALLERY else "upload",
}
st.download_button(
    "Export bundle (zip)",
    lambda: san.bundle(image.x, res, curves, figures, settings, threshold),
    "sc-viz-sanity.zip",
    "application/zip",
    on_click="ignore",
)
