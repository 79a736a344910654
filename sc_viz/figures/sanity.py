"""Plotly figures of the sanity checks for one image (sc_viz/explain/sanity.py, road.py):
a method's map through the randomisation cascade, the similarity curves, and the ROAD
curves of every variant."""

from __future__ import annotations

from typing import Optional

import numpy as np

from sc_viz.explain.road import ORDER_TITLES
from sc_viz.explain.sanity import FLAG_SIMILARITY, SIMILARITY_TITLES, RandomisationResult
from sc_viz.figures import full_colour_value
from sc_viz.variants import variant_colour, variant_order


def _short(step: str) -> str:
    return step.removeprefix("net.")


def cascade_strip_figure(
    result: RandomisationResult, method: str, variant: str, measure: str = FLAG_SIMILARITY
):
    """One row of heat maps: the variant's map of `method` on the trained model and after
    each randomisation step, each titled with its block and its similarity to the first.
    Needs a result computed with keep_maps=True."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    maps = result.maps[method][variant]
    if len(maps) != len(result.steps):
        raise ValueError("the result holds no maps per step; compute it with keep_maps=True")
    sims = result.similarity[method][variant][measure]
    flat = result.flat.get(method, {}).get(variant) or [False] * len(maps)

    titles = [
        f"{_short(s)}<br>"
        + (f"{SIMILARITY_TITLES[measure]} {v:.2f}" if np.isfinite(v) else "flat map" if f else "-")
        for s, v, f in zip(result.steps, sims, flat)
    ]
    if flat[0]:  # the trained model's map is flat: no step has a similarity
        titles[0] = f"{_short(result.steps[0])}<br>flat map"
    n = len(maps)
    fig = make_subplots(rows=1, cols=n, subplot_titles=titles, horizontal_spacing=0.01)
    signed = result.signed.get(method, False)
    for i, heat in enumerate(maps, start=1):
        a = heat.numpy()
        top = full_colour_value(heat) or 1.0  # each map on its own scale, as the app's grid
        if flat[i - 1]:  # nothing to colour: a grey cell that says so (see `is_flat`)
            a = np.full_like(a, np.nan)
        fig.add_trace(
            go.Heatmap(
                z=a[::-1],
                zmin=-top if signed else 0,
                zmax=top,
                colorscale="RdBu_r" if signed else "Inferno",
                showscale=False,
                hovertemplate="%{z:.3g}<extra></extra>",
            ),
            row=1,
            col=i,
        )
        fig.update_xaxes(visible=False, row=1, col=i)
        fig.update_yaxes(visible=False, scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i)
        if flat[i - 1]:
            axis = str(i) if i > 1 else ""
            zero = not bool(heat.abs().max() > 0)
            h, w = a.shape
            fig.add_shape(  # the map's own square, in its axes' units
                type="rect",
                xref=f"x{axis}",
                yref=f"y{axis}",
                x0=-0.5,
                x1=w - 0.5,
                y0=-0.5,
                y1=h - 0.5,
                fillcolor="rgb(225,225,225)",
                line_width=0,
                layer="below",
            )
            fig.add_annotation(
                text="all zero" if zero else "constant",
                xref=f"x{axis} domain",
                yref=f"y{axis} domain",
                x=0.5,
                y=0.5,
                showarrow=False,
            )
    fig.update_annotations(font_size=9)
    fig.update_layout(
        title=f"{method} ({variant}): {result.order} randomisation from the logits",
        height=200,
        width=max(500, 95 * n),
        margin=dict(l=10, r=10, t=80, b=10),
        template="plotly_white",
    )
    return fig


def similarity_figure(result: RandomisationResult, method: str, measures: Optional[list[str]] = None):
    """The similarity to the trained model's map over the steps, one line per variant,
    one panel per measure."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    measures = measures or list(next(iter(result.similarity[method].values())))
    steps = [_short(s) for s in result.steps]
    fig = make_subplots(rows=1, cols=len(measures), subplot_titles=[SIMILARITY_TITLES[m] for m in measures])
    for j, measure in enumerate(measures, start=1):
        for v in variant_order(result.similarity[method]):
            ys = [None if not np.isfinite(y) else y for y in result.similarity[method][v][measure]]
            fig.add_trace(
                go.Scatter(
                    x=steps,
                    y=ys,
                    mode="lines+markers",
                    name=v,
                    legendgroup=v,
                    showlegend=j == 1,
                    line_color=variant_colour(v),
                ),
                row=1,
                col=j,
            )
        fig.update_yaxes(range=[-1.05, 1.05], row=1, col=j)
    fig.update_layout(
        title=f"{method}: similarity to the trained model's map ({result.order})",
        height=340,
        width=max(460, 330 * len(measures)),
        template="plotly_white",
    )
    return fig


def road_figure(curves: dict[str, dict], method: str = ""):
    """ROAD curves, one colour per variant: MoRF solid, LeRF dashed; `curves` is
    variant -> `road_curves(...)` result. The legend carries each variant's area gap."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for v in variant_order(curves):
        c = curves[v]
        xs = [100 * f for f in c["fractions"]]
        for order, dash in (("morf", "solid"), ("lerf", "dash")):
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=c[order],
                    mode="lines+markers",
                    legendgroup=v,
                    name=f"{v} {order.upper()}" + (f" (gap {c['gap']:.3f})" if order == "lerf" else ""),
                    line=dict(color=variant_colour(v), dash=dash),
                    hovertemplate=f"{v} {ORDER_TITLES[order]}<br>"
                    "%{x:.0f}% removed: p = %{y:.3f}<extra></extra>",
                )
            )
    fig.update_layout(
        title=f"ROAD{': ' + method if method else ''} (noisy linear imputation)",
        xaxis_title="pixels removed (%)",
        yaxis_title="probability of the class",
        yaxis_range=[0, 1.02],
        height=380,
        width=560,
        template="plotly_white",
    )
    return fig
