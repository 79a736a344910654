"""Neurons: per-layer neuron sensitivity of the chosen variants (stored report, else
computed on a test sample); for the chosen image, each variant's most sensitive channels on
x and x' at a chosen layer; and the image's saliency consensus among the test sample's."""

import streamlit as st

from sc_viz.app import deck_view, export, loaders, sidebar, single_image, state, style, takeaways
from sc_viz.app import neurons_view as nv
from sc_viz.app import saliency_view as sv
from sc_viz.app.views import GALLERY
from sc_viz.evaluate.consensus import KINDS
from sc_viz.explain import METHODS
from sc_viz.explain.base import Explanation
from sc_viz.figures.neurons import (
    channel_distance_figure,
    channel_maps_figure,
    consensus_box_figure,
    layer_sensitivity_figure,
    short_layer,
)
from sc_viz.inside.consensus import MEASURES


@st.cache_data(max_entries=32, show_spinner=False)
def sensitivity(pack_key: str, variant: str, n: int, _pack, _test):
    return nv.live_sensitivity(_pack, _test, variant, n)


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
key = loaders.pack_key(pack)
stored = loaders.get_stored_report(pack)
figures, rows = {}, []

# ---------------------------------------------------------------- per-layer sensitivity
st.subheader("Per-layer sensitivity")
found = nv.stored_neurons(stored)
missing = [v for v in variants if v not in found.per_variant]
n, live = found.n, {}
if missing and not found.per_variant:  # nothing stored to match: the sample size is a setting
    n = st.select_slider(
        "Test images for the sensitivity",
        nv.SAMPLE_CHOICES,
        key=state.bind("neuron_sample", nv.SAMPLE_CHOICES, 200),
        help="Computed here because the stored report cannot be used; each "
        "variant's own PGD of every image (the pack's evaluation attack).",
    )
if missing:
    test, error = loaders.get_gallery(pack)
    if test is None:
        st.info(f"No test images to compute the sensitivity of {', '.join(missing)} on: {error}")
    else:
        progress = st.progress(0.0, text="Neuron sensitivity...")
        for i, v in enumerate(missing):
            progress.progress(
                i / len(missing),
                text=f"Neuron sensitivity of {v} ({i + 1}/{len(missing)}): "
                f"PGD + one hooked pass of {n} test images",
            )
            live[v] = sensitivity(key, v, n, pack, test)
        progress.empty()
table = nv.combine(found, live, variants, n)
why = found.message
if table is not None:
    sidebar.takeaway(ctx, takeaways.neurons_takeaway(table.per_variant, table.layers))
    figures["Per-layer sensitivity"] = fig = layer_sensitivity_figure(table.per_variant, table.layers)
    sidebar.figure(ctx, fig, "layer-sensitivity")
    rows += nv.sensitivity_rows(table)
    if not ctx.present:
        st.caption(
            f"Mean over a layer's channels of mean |F(x) - F(x')| (x' = the variant's own PGD), "
            f"and the mean of its top-10% channels; {table.source}."
            + (f" Not from the stored report: {why}" if why else "")
        )

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
px = 192 if ctx.present else 96


def png(t):
    return export.png_bytes(t, upscale=max(1, px // pack.input_size))


classes = pack.classes
shared = adversary in probed
heads = [("x", image.x)]
if shared:
    x_adv = probed[adversary].x_adv
    eps = nv.attack_of(pack, adversary).eps
    heads += [
        (f"x' ({adversary}'s PGD)", x_adv),
        ("perturbation (amplified)", single_image.amplify(x_adv - image.x, eps)),
    ]
for col, (head, pic) in zip(st.columns(len(heads) + 4)[: len(heads)], heads):
    col.image(png(pic), caption=head, width=px)
for v, p in probed.items():
    left, right = st.columns([1, 5])
    with left:
        st.markdown(f"**{v}**  \nx: {classes[p.prediction]}  \nx': {classes[p.adversarial_prediction]}")
        if not shared:
            eps = nv.attack_of(pack, v).eps
            st.image(png(p.x_adv), caption="x'", width=px)
            st.image(png(single_image.amplify(p.x_adv - image.x, eps)), caption="perturbation", width=px)
    fig = channel_maps_figure(
        p.channels,
        p.maps_clean,
        p.maps_adversarial,
        p.channel_distances(),
        title=f"{v}: {short_layer(layer)}",
    )
    figures[f"{v}: channels of {short_layer(layer)}"] = fig
    # at its own width: every map square at one size (channel_maps_figure)
    right.plotly_chart(style.scale_fonts(fig, ctx.present), key=f"channels-{v}", width="content")
figures["Channel distances"] = fig = channel_distance_figure(
    {v: p.distances[layer] for v, p in probed.items()},
    top_k=top_k,
    title=f"Top-{top_k} channels of {short_layer(layer)} by distance, per variant",
)
sidebar.figure(ctx, fig, "channel-distances")
rows += nv.channel_rows(probed, image.key)
if not ctx.present:
    st.caption(
        "Each channel's activation map on x (top) and x' (bottom) on one colour scale; "
        "d = mean over positions of |F(x) - F(x')|. PGD pushes away from the true class "
        "(gallery) or the prediction (upload), with the pack's evaluation attack."
    )

# ---------------------------------------------------------------- saliency consensus
st.subheader("Saliency consensus of this image")
sc = nv.stored_consensus(stored)
methods = METHODS.names()
k1, k2, k3 = st.container(border=ctx.present).columns(3)  # one controls bar per page (its keys)
method = k1.selectbox(
    "Method",
    methods,
    key=state.bind("cons_method", methods, what="method"),
    format_func=lambda m: sv.method_legend(m).title,
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
options = nv.method_options(pack, method, sc)
pairs = nv.consensus_of(pack, image.x, image.label, variants, method, sc, fetch)
signed = METHODS[method].signed
for v in variants:
    pair = pairs[v][kind]
    cols = st.columns([1, 1, 3])
    for col, (name, m) in zip(cols, (("x", pair.clean), ("x'", pair.moved))):
        col.image(
            sv.overlay(image.x, Explanation(method, 0, m, signed=signed), 0.5, size=px),
            caption=f"{v}: map of {name}",
            width=px,
            output_format="PNG",
        )
    numbers = "  \n".join(f"{s}: **{nv.fmt(value)}**" for s, value in pair.measures.items())
    cols[2].markdown(f"**{v}**  \n{numbers}")
rows += nv.consensus_rows(pairs, method, image.key)
distribution = sc.distribution(variants, method, kind, measure)
if distribution:
    fig = consensus_box_figure(
        distribution,
        {v: pairs[v][kind].measures[measure] for v in variants},
        measure=measure,
        title=f"{measure}, {method}, x' = {kind}: this image (diamond) among the test sample (n = {sc.n})",
    )
    figures["Consensus"] = fig
    sidebar.figure(ctx, fig, "consensus-box")
    lacking = [v for v in variants if v not in distribution]
    if lacking and not ctx.present:
        st.caption(
            f"The stored consensus suite has no sample for {', '.join(lacking)}: its numbers are above only."
        )
elif not ctx.present:
    st.caption(
        "No test-sample distribution to place the image in: "
        + (sc.message or "the stored consensus suite lacks these variants.")
    )

d1, d2 = st.columns(2)
d1.download_button("Numbers (CSV)", export.rows_to_csv(rows), "neurons.csv", "text/csv", on_click="ignore")
settings = {
    "page": "neurons",
    "pack": str(pack.path),
    "image": image.key,
    "variants": variants,
    "layer": layer,
    "top_k": top_k,
    "follow": follow,
    "x_adv": adversary,
    "method": method,
    "kind": kind,
    "measure": measure,
    "level": sc.level,
    "method_options": options,
    "source": image.caption if state.value("img_source") == GALLERY else "upload",
}
d2.download_button(
    "Export bundle (zip)",
    lambda: nv.bundle(figures, rows, settings, "sc-viz: neurons"),
    "sc-viz-neurons.zip",
    "application/zip",
    on_click="ignore",
)
