"""Plotly figures of the Neurons page (and the report's interactive view): per-layer
sensitivity of every variant, one image's most sensitive channels, and where one image's
saliency consensus sits among the test sample's. One colour per variant, from the
variants registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torch

from sc_viz.variants import variant_colour, variant_order

MEASURE_TITLES = {
    "mean": "mean sensitivity",
    "top": "top-10% sensitivity",
    "relative": "relative sensitivity (our reading)",
}


def short_layer(name: str) -> str:
    """'net.layer2.1' -> 'layer2.1' (a Classifier's backbone prefix adds nothing)."""
    return name[4:] if name.startswith("net.") else name


def layer_sensitivity_figure(
    per_variant: dict[str, dict[str, dict[str, float]]],
    layers: Optional[Sequence[str]] = None,
    *,
    measures: Sequence[str] = ("mean", "top"),
    title: str = "",
):
    """Layer on x, sensitivity on y: per variant one colour, a solid line for the first of
    `measures` (default the mean) and dashed for the second (the top-10% mean).
    per_variant: variant -> layer -> {"mean", "top", ...} (the neurons suite's
    `variants[v]["layers"]`, or `NeuronSensitivity.summary()`)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for v in variant_order(per_variant):
        names = list(layers) if layers is not None else list(per_variant[v])
        for j, measure in enumerate(measures):
            fig.add_trace(
                go.Scatter(
                    x=[short_layer(n) for n in names],
                    y=[per_variant[v][n][measure] for n in names],
                    mode="lines+markers",
                    name=f"{v}: {MEASURE_TITLES.get(measure, measure)}",
                    legendgroup=v,
                    line=dict(color=variant_colour(v), dash="solid" if j == 0 else "dash"),
                    hovertemplate=f"{v}<br>%{{x}}<br>{measure} %{{y:.4f}}<extra></extra>",
                )
            )
    fig.update_layout(
        title=title
        or "Neuron sensitivity per layer (solid: "
        + " / dashed: ".join(MEASURE_TITLES.get(m, m) for m in measures)
        + ")",
        xaxis_title="layer",
        yaxis_title="mean |F(x) - F(x')| per channel",
        template="plotly_white",
        height=420,
        legend=dict(font=dict(size=10)),
    )
    return fig


def channel_distance_figure(distances: dict[str, torch.Tensor], top_k: int = 6, title: str = ""):
    """One image, one layer: each variant's `top_k` channels by distance, as bars labelled
    by channel index (the same index is the same neuron across variants of one pack).
    distances: variant -> (C,)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for v in variant_order(distances):
        d = distances[v].float()
        top = torch.topk(d, min(top_k, d.numel()))
        fig.add_trace(
            go.Bar(
                x=[f"{v} ch {c}" for c in top.indices.tolist()],
                y=top.values.tolist(),
                name=v,
                marker_color=variant_colour(v),
                hovertemplate=f"{v}<br>%{{x}}<br>distance %{{y:.4f}}<extra></extra>",
            )
        )
    fig.update_layout(
        title=title or f"Top-{top_k} sensitive channels of this image",
        yaxis_title="mean |F(x) - F(x')|",
        template="plotly_white",
        height=340,
        showlegend=False,
    )
    return fig


# The channel maps' geometry: every map drawn square at one size, the x / x' labels beside
# the rows at the size of the Saliency grid's labels (its captions), never rotated.
CHANNEL_CELL_PX = 120  # a channel map's side at most
CHANNEL_MIN_CELL_PX = 48  # ... and at least (many channels in a narrow column)
CHANNEL_FIGURE_PX = 960  # the widest the figure gets (the page's channel column)
CHANNEL_GAP_PX = 10  # between two maps of a row
ROW_LABEL_PX = 44  # the column of the row labels
ROW_LABEL_FONT_PX = 18
CHANNEL_TITLE_FONT_PX = 12
ROW_LABELS = ("x", "x\u2032")  # x and x-prime
_TOP_PX, _ROW_GAP_PX, _RIGHT_PX, _BOTTOM_PX = 84, 16, 10, 10  # title, channel titles, margins


def channel_cell_px(k: int, max_width: int = CHANNEL_FIGURE_PX) -> int:
    """The side of every map in a figure of `k` channels no wider than `max_width`."""
    room = max_width - ROW_LABEL_PX - _RIGHT_PX - (k - 1) * CHANNEL_GAP_PX
    return int(max(CHANNEL_MIN_CELL_PX, min(CHANNEL_CELL_PX, room // max(k, 1))))


def channel_maps_figure(
    channels: Sequence[int],
    maps_clean: torch.Tensor,
    maps_adversarial: torch.Tensor,
    distances: Sequence[float],
    title: str = "",
    max_width: int = CHANNEL_FIGURE_PX,
):
    """One variant's chosen channels (an `ImageProbe`'s): for each, its activation map on x
    (top row) and on x' (bottom row) on one colour scale per channel, titled with the
    distance. maps_*: (k, h, w). Every map is drawn square at one size (`channel_cell_px`):
    the figure's width and height are set from it, and each map's y axis is anchored to its
    own x axis (a map drawn in a stretched container stays square, its domain shrinking)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    k = len(channels)
    cell = channel_cell_px(k, max_width)
    plot_w = k * cell + (k - 1) * CHANNEL_GAP_PX
    plot_h = 2 * cell + _ROW_GAP_PX
    titles = [f"ch {c}<br>d = {d:.3f}" for c, d in zip(channels, distances)] + [""] * k
    fig = make_subplots(
        rows=2,
        cols=k,
        subplot_titles=titles,
        horizontal_spacing=CHANNEL_GAP_PX / plot_w if k > 1 else 0.0,
        vertical_spacing=_ROW_GAP_PX / plot_h,
    )
    for j in range(k):
        lo = float(min(maps_clean[j].min(), maps_adversarial[j].min()))
        hi = float(max(maps_clean[j].max(), maps_adversarial[j].max()))
        for row, maps in ((1, maps_clean), (2, maps_adversarial)):
            fig.add_trace(
                go.Heatmap(
                    z=maps[j].flip(0).tolist(),
                    zmin=lo,
                    zmax=hi,
                    colorscale="Viridis",
                    showscale=False,
                    hovertemplate=f"{ROW_LABELS[row - 1]}, ch {channels[j]}: %{{z:.3f}}<extra></extra>",
                ),
                row=row,
                col=j + 1,
            )
    hidden = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", constrain="domain")
    fig.update_xaxes(**hidden, constraintoward="left")
    fig.update_yaxes(**hidden, constraintoward="top")
    for n in range(1, 2 * k + 1):  # each map's y axis keeps its own x axis's scale: square
        fig.layout[f"yaxis{n if n > 1 else ''}"].scaleanchor = f"x{n if n > 1 else ''}"
    fig.update_annotations(font_size=CHANNEL_TITLE_FONT_PX)  # the channel titles
    for row, label in enumerate(ROW_LABELS):
        domain = fig.layout[f"yaxis{row * k + 1 if row else ''}"].domain
        fig.add_annotation(
            text=f"<b>{label}</b>",
            xref="paper",
            yref="paper",
            x=0,
            y=(domain[0] + domain[1]) / 2,
            xanchor="right",
            xshift=-8,
            showarrow=False,
            textangle=0,
            font=dict(size=ROW_LABEL_FONT_PX, color="black"),
        )
    fig.update_layout(
        title=title,
        width=ROW_LABEL_PX + plot_w + _RIGHT_PX,
        height=_TOP_PX + plot_h + _BOTTOM_PX,
        margin=dict(l=ROW_LABEL_PX, r=_RIGHT_PX, t=_TOP_PX, b=_BOTTOM_PX),
        template="plotly_white",
        plot_bgcolor="white",
    )
    return fig


def consensus_box_figure(
    values: dict[str, Sequence[float]],
    current: Optional[dict[str, float]] = None,
    measure: str = "spearman",
    title: str = "",
):
    """The test-sample distribution of one agreement number per variant (box), and this
    image's value (diamond) so it can be placed among the others. values: variant -> per
    image numbers (the consensus suite's `values[v][method][kind][measure]`)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for v in variant_order(values):
        fig.add_trace(
            go.Box(
                y=[x for x in values[v] if x is not None],
                name=v,
                marker_color=variant_colour(v),
                boxpoints=False,
                showlegend=False,
            )
        )
        if current and current.get(v) is not None:
            fig.add_trace(
                go.Scatter(
                    x=[v],
                    y=[current[v]],
                    mode="markers",
                    showlegend=False,
                    marker=dict(symbol="diamond", size=11, color="black"),
                    hovertemplate=f"this image: {current[v]:.3f}<extra></extra>",
                )
            )
    fig.update_layout(
        title=title or f"{measure}: this image (diamond) among the test sample",
        yaxis_title=measure,
        template="plotly_white",
        height=300,
        margin=dict(l=40, r=10, t=50, b=30),
    )
    return fig
