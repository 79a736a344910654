"""Curves: distance scores over the perturbation levels and the training curves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sc_viz.perturb import LEVELS
from sc_viz.variants import variant_colour


# ---------------------------------------------------------------- continuity and training curves
# Lines take the variant's registry colour (`variant_colour`), as in every figure.
def ds_lines(
    table: Mapping[str, Mapping[str, Mapping]],
    title: str = "",
    y_title: str = "DS = ||f(x) - f(T(x))||",
    percent: bool = False,
    intervals: Optional[Mapping[str, Mapping[str, Mapping]]] = None,
) -> go.Figure:
    """One panel per perturbation: DS (y) against level (x), one line per variant.

    `table` is {variant: {perturbation: {level: DS}}}; levels may be int or str keys (JSON).
    `intervals`, the same shape with [low, high] per level (test-sample 95% intervals),
    draws error bars where given."""
    names = [p for p in LEVELS if any(p in per for per in table.values())]
    fig = make_subplots(rows=1, cols=max(len(names), 1), subplot_titles=names, shared_yaxes=True)
    for col, name in enumerate(names, start=1):
        for variant, per in table.items():
            levels = per.get(name, {})
            xs = sorted(levels, key=int)
            bounds = ((intervals or {}).get(variant) or {}).get(name) or {}
            error_y = None
            if bounds:
                cis = [bounds.get(x) for x in xs]
                error_y = {
                    "type": "data",
                    "symmetric": False,
                    "array": [ci[1] - levels[x] if ci else None for x, ci in zip(xs, cis)],
                    "arrayminus": [levels[x] - ci[0] if ci else None for x, ci in zip(xs, cis)],
                    "thickness": 1,
                }
            fig.add_trace(
                go.Scatter(
                    x=[int(x) for x in xs],
                    y=[levels[x] for x in xs],
                    mode="lines+markers",
                    name=variant,
                    legendgroup=variant,
                    showlegend=(col == 1),
                    line={"color": variant_colour(variant)},
                    error_y=error_y,
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="level", tickvals=[1, 2, 3, 4], row=1, col=col)
    fig.update_yaxes(title_text=y_title, row=1, col=1)
    if percent:
        fig.update_yaxes(tickformat=".0%")
    fig.update_layout(title=title, height=360, margin={"t": 70, "b": 40, "l": 50, "r": 20})
    return fig


def curves_figure(table: Mapping[str, list], metric: str) -> go.Figure:
    """A training curve: `table` is {"epoch": [...], <variant>: [...]}."""
    fig = go.Figure()
    for variant, ys in table.items():
        if variant != "epoch":
            fig.add_trace(
                go.Scatter(
                    x=table["epoch"],
                    y=ys,
                    mode="lines+markers",
                    name=variant,
                    line={"color": variant_colour(variant)},
                    connectgaps=False,
                )
            )
    fig.update_layout(
        title=metric, height=280, margin={"t": 40, "b": 30, "l": 40, "r": 10}, xaxis_title="epoch"
    )
    return fig
