"""Neurons: per-layer neuron sensitivity of the chosen variants (stored report, else
computed on a test sample); for the chosen image, each variant's most sensitive channels on
x and x' at a chosen layer; and the image's saliency consensus among the test sample's."""

import streamlit as st

from sc_viz.app import deck_view, export, loaders, sidebar, state
from sc_viz.app import neurons_screen as ns
from sc_viz.app import neurons_view as nv
from sc_viz.app.views import GALLERY
from sc_viz.evaluate.consensus import KINDS
from sc_viz.explain import METHODS
from sc_viz.figures import method_legend
from sc_viz.figures.neurons import short_layer
from sc_viz.inside.consensus import MEASURES

SPINNERS = {
    "neurons.probes": "Probing channels (PGD + one pass per variant)...",
    "neurons.consensus": "Explaining x and every x' for each variant...",
}


ctx = sidebar.context()
pack = sidebar.require_pack(ctx)
image = sidebar.require_image(ctx)
st.title("Neurons under PGD")
with sidebar.page_controls(ctx):
    variants = sidebar.variant_picker(pack)
if not variants:
    st.info("Choose at least one variant.")
    st.stop()
# In presentation mode the image controls sit in the compact bar at the top (prev/next image).
controls_bar = sidebar.controls(ctx, "Channels") if ctx.present else None
stored = loaders.get_stored_report(pack)

# ---------------------------------------------------------------- per-layer sensitivity
st.subheader("Per-layer sensitivity")
found = nv.stored_neurons(stored)
n = found.n
if not found.per_variant:  # nothing stored to match (each variant computed here): n is a setting
    n = st.select_slider(
        "Test images for the sensitivity",
        nv.SAMPLE_CHOICES,
        key=state.bind("neuron_sample", nv.SAMPLE_CHOICES, 200),
        help="Computed here because the stored report cannot be used; each "
        "variant's own PGD of every image (the pack's evaluation attack).",
    )
figures, rows = ns.sensitivity_section(ctx, pack, found, variants, n)

# ---------------------------------------------------------------- this image's channels
st.subheader("This image's most sensitive channels")
layers = nv.layer_choices(pack.models[variants[0]])
own = [nv.OWN, *variants]
c1, c2, c3, c4 = (controls_bar or st.container()).columns(4)
layer = c1.selectbox(
    "Layer",
    layers,
    format_func=short_layer,
    key=state.bind("neuron_layer", layers, layers[len(layers) // 2], "layer"),
)
top_k = c2.slider("Channels shown (top k)", 1, 12, key=state.bind("neuron_k"))
follow = c3.selectbox(
    "Channels",
    own,
    key=state.bind("neuron_follow", own, nv.OWN, "variant"),
    format_func=lambda v: "each variant's own top k" if v == nv.OWN else f"follow {v}'s top k",
    help="Follow one variant's channels: the same index in every variant.",
)
adversary = c4.selectbox(
    "x'",
    own,
    key=state.bind("neuron_adv", own, nv.OWN, "variant"),
    format_func=lambda v: "each variant's own PGD" if v == nv.OWN else f"{v}'s PGD for all",
    help="Each variant's own PGD (white box, as the test-set numbers), or one "
    "variant's x' given to every variant (transfer for the others).",
)
fetch = deck_view.fetcher(pack, image, SPINNERS)  # from the prepared deck when it holds them
try:
    probed = nv.probes_of(
        pack,
        image.x,
        image.label,
        variants,
        layer,
        top_k=top_k,
        follow=follow,
        adversary=adversary,
        fetch=fetch,
    )
except ValueError as err:  # e.g. a layer without spatial maps
    st.error(f"Cannot probe {short_layer(layer)}: {err}")
    st.stop()
px = 192 if ctx.present else 96  # the images' side on screen
shown, more = ns.channels_section(ctx, pack, image, probed, layer, top_k, adversary, px)
figures, rows = {**figures, **shown}, rows + more

# ---------------------------------------------------------------- saliency consensus
st.subheader("Saliency consensus of this image")
sc = nv.stored_consensus(stored)
methods = METHODS.names()
k1, k2, k3 = st.container(border=ctx.present).columns(3)  # one controls bar per page (its keys)
method = k1.selectbox(
    "Method",
    methods,
    key=state.bind("cons_method", methods, what="method"),
    format_func=lambda m: method_legend(m).title,
)
kind = k2.selectbox(
    "x'",
    KINDS,
    key=state.bind("cons_kind", KINDS, what="perturbation"),
    format_func=lambda k: "own PGD" if k == "pgd" else f"{k}, level {sc.level}",
)
measure = k3.selectbox(
    "Agreement",
    list(MEASURES),
    key=state.bind("cons_measure", list(MEASURES), what="measure"),
    help=f"cosine, Spearman rho, or IoU of the top {sc.fraction:.0%} pixels "
    "(our reading: the largest values) of the two maps.",
)
pairs = nv.consensus_of(pack, image.x, image.label, variants, method, sc, fetch)
shown, more = ns.consensus_section(ctx, image, variants, pairs, sc, method, kind, measure, px)
figures, rows = {**figures, **shown}, rows + more

d1, d2 = st.columns(2)
d1.download_button("Numbers (CSV)", export.rows_to_csv(rows), "neurons.csv", "text/csv", on_click="ignore")
controls = {"layer": layer, "top_k": top_k, "follow": follow, "x_adv": adversary}
controls |= {"method": method, "kind": kind, "measure": measure}
source = image.caption if state.value("img_source") == GALLERY else "upload"
settings = nv.bundle_settings(pack, image.key, variants, controls, sc, source)
d2.download_button(
    "Export bundle (zip)",
    lambda: nv.bundle(figures, rows, settings, "sc-viz: neurons"),
    "sc-viz-neurons.zip",
    "application/zip",
    on_click="ignore",
)
