"""The Neurons page's sections on screen: the per-layer sensitivity (the stored report's,
the variants it lacks computed here and cached), one image's most sensitive channels per
variant, and its saliency consensus placed among the test sample's. Each section draws
its part and returns what it adds to the page's export bundle: (figures by title, CSV rows).

Apart from `neurons_view` because these draw with Streamlit, while `neurons_view` only
computes: `sc-viz deck build` and the tests call it with no Streamlit run. The page keeps
its widgets and passes their values in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

import streamlit as st

from sc_viz.app import export, loaders, maps, sidebar, single_image, style, takeaways
from sc_viz.app import neurons_view as nv
from sc_viz.explain import METHODS
from sc_viz.explain.base import Explanation
from sc_viz.figures.neurons import (
    channel_distance_figure,
    channel_maps_figure,
    consensus_box_figure,
    layer_sensitivity_figure,
    short_layer,
)
from sc_viz.inside.consensus import MapPair
from sc_viz.inside.probe import ImageProbe

Part = tuple[dict, list]  # what a section adds to the export bundle: ({title: figure}, [row])


# ---------------------------------------------------------------- per-layer sensitivity
@st.cache_data(max_entries=32, show_spinner=False)
def sensitivity(pack_key: str, variant: str, n: int, _pack, _test):
    return nv.live_sensitivity(_pack, _test, variant, n)


def sensitivity_table(
    pack, found: nv.StoredNeurons, variants: Sequence[str], n: int
) -> Optional[nv.LayerSensitivity]:
    """The sensitivity of `variants`: the stored suite's (`found`), the variants it lacks
    computed here on n test images under a progress bar (an info line when the test set is
    not on this machine); None when a variant has neither."""
    missing = [v for v in variants if v not in found.per_variant]
    live = {}
    if missing:
        test, error = loaders.get_gallery(pack)
        if test is None:
            st.info(f"No test images to compute the sensitivity of {', '.join(missing)} on: {error}")
        else:
            key = loaders.pack_key(pack)
            progress = st.progress(0.0, text="Neuron sensitivity...")
            for i, v in enumerate(missing):
                progress.progress(
                    i / len(missing),
                    text=f"Neuron sensitivity of {v} ({i + 1}/{len(missing)}): "
                    f"PGD + one hooked pass of {n} test images",
                )
                live[v] = sensitivity(key, v, n, pack, test)
            progress.empty()
    return nv.combine(found, live, variants, n)


def sensitivity_section(ctx, pack, found: nv.StoredNeurons, variants: Sequence[str], n: int) -> Part:
    """The per-layer chart of `variants` (after `sensitivity_table`), its takeaway and
    caption; nothing drawn when a variant has no numbers."""
    table = sensitivity_table(pack, found, variants, n)
    if table is None:
        return {}, []
    sidebar.takeaway(ctx, takeaways.neurons_takeaway(table.per_variant, table.layers))
    fig = layer_sensitivity_figure(table.per_variant, table.layers)
    sidebar.figure(ctx, fig, "layer-sensitivity")
    why = found.message  # set when the stored report was not used
    if not ctx.present:
        st.caption(
            f"Mean over a layer's channels of mean |F(x) - F(x')| (x' = the variant's own PGD), "
            f"and the mean of its top-10% channels; {table.source}."
            + (f" Not from the stored report: {why}" if why else "")
        )
    return {"Per-layer sensitivity": fig}, nv.sensitivity_rows(table)


# ---------------------------------------------------------------- this image's channels
def channels_section(
    ctx, pack, image, probed: Mapping[str, ImageProbe], layer: str, top_k: int, adversary: str, px: int
) -> Part:
    """x (and the shared x' with its perturbation when one variant's PGD is given to all),
    then per variant: its predictions on x and x' (its own x' and perturbation beside them
    when each has its own) and its channels' maps on x and x'; then the channel distances.
    probed: variant -> ImageProbe (`neurons_view.probes_of`); px: the images' side on screen."""

    def png(t):  # t: (1, 3, S, S) in [0, 1], upscaled by a whole factor (crisp pixels) toward px
        return export.png_bytes(t, upscale=max(1, px // pack.input_size))

    figures = {}
    classes = pack.classes
    shared = adversary in probed  # one variant's x' given to every variant
    heads = [("x", image.x)]
    if shared:
        x_adv = probed[adversary].x_adv  # (1, 3, S, S)
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
    rows = nv.channel_rows(probed, image.key)
    if not ctx.present:
        st.caption(
            "Each channel's activation map on x (top) and x' (bottom) on one colour scale; "
            "d = mean over positions of |F(x) - F(x')|. PGD pushes away from the true class "
            "(gallery) or the prediction (upload), with the pack's evaluation attack."
        )
    return figures, rows


# ---------------------------------------------------------------- saliency consensus
def consensus_section(
    ctx,
    image,
    variants: Sequence[str],
    pairs: Mapping[str, Mapping[str, MapPair]],
    sc: nv.StoredConsensus,
    method: str,
    kind: str,
    measure: str,
    px: int,
) -> Part:
    """Per variant: the map of x and of x' (`kind`) with their agreement numbers; then
    where this image's `measure` falls among the stored test sample's (or why it cannot).
    pairs: variant -> kind -> MapPair (`neurons_view.consensus_of`)."""
    figures = {}
    signed = METHODS[method].signed
    for v in variants:
        pair = pairs[v][kind]
        cols = st.columns([1, 1, 3])
        for col, (name, m) in zip(cols, (("x", pair.clean), ("x'", pair.moved))):  # m: (H, W)
            col.image(
                maps.overlay(image.x, Explanation(method, 0, m, signed=signed), 0.5, size=px),
                caption=f"{v}: map of {name}",
                width=px,
                output_format="PNG",
            )
        numbers = "  \n".join(f"{s}: **{nv.fmt(value)}**" for s, value in pair.measures.items())
        cols[2].markdown(f"**{v}**  \n{numbers}")
    rows = nv.consensus_rows(pairs, method, image.key)
    distribution = sc.distribution(variants, method, kind, measure)
    if distribution:
        fig = consensus_box_figure(
            distribution,
            {v: pairs[v][kind].measures[measure] for v in variants},
            measure=measure,
            title=f"{measure}, {method}, x' = {kind}: this image (diamond) among the test sample "
            f"(n = {sc.n})",
        )
        figures["Consensus"] = fig
        sidebar.figure(ctx, fig, "consensus-box")
        lacking = [v for v in variants if v not in distribution]
        if lacking and not ctx.present:
            st.caption(
                f"The stored consensus suite has no sample for {', '.join(lacking)}: "
                "its numbers are above only."
            )
    elif not ctx.present:
        st.caption(
            "No test-sample distribution to place the image in: "
            + (sc.message or "the stored consensus suite lacks these variants.")
        )
    return figures, rows
