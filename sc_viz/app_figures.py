"""Plotly figures of the Continuity page and the home page's training curves (the
explanation grid and embedding figures, shared with the CLI and reports, live in
figures.py)."""
from __future__ import annotations

from typing import Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .perturb import LEVELS

# One colour per variant everywhere in the app, so a variant is recognisable across pages.
VARIANT_COLOURS = {"standard": "#636efa", "c": "#00cc96", "adv": "#ef553b", "advc": "#ab63fa"}


def colour(variant: str) -> str:
    return VARIANT_COLOURS.get(variant, "#7f7f7f")


def ds_lines(table: Mapping[str, Mapping[str, Mapping]], title: str = "",
             y_title: str = "DS = ||f(x) - f(T(x))||", percent: bool = False) -> go.Figure:
    """One panel per perturbation: DS (y) against level (x), one line per variant.

    `table` is {variant: {perturbation: {level: DS}}}; levels may be int or str keys (JSON)."""
    names = [p for p in LEVELS if any(p in per for per in table.values())]
    fig = make_subplots(rows=1, cols=max(len(names), 1), subplot_titles=names, shared_yaxes=True)
    for col, name in enumerate(names, start=1):
        for variant, per in table.items():
            levels = per.get(name, {})
            xs = sorted(levels, key=int)
            fig.add_trace(go.Scatter(x=[int(x) for x in xs], y=[levels[x] for x in xs],
                                     mode="lines+markers", name=variant, legendgroup=variant,
                                     showlegend=(col == 1), line={"color": colour(variant)}),
                          row=1, col=col)
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
            fig.add_trace(go.Scatter(x=table["epoch"], y=ys, mode="lines+markers", name=variant,
                                     line={"color": colour(variant)}, connectgaps=False))
    fig.update_layout(title=metric, height=280, margin={"t": 40, "b": 30, "l": 40, "r": 10},
                      xaxis_title="epoch")
    return fig
