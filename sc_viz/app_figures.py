"""Plotly figures of the Continuity page and the home page's training curves (the
explanation grid and embeddings figures live in figures.py)."""
from __future__ import annotations

from typing import Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .perturb import LEVELS

# One colour per variant everywhere in the app, so a variant is recognisable across pages.
VARIANT_COLOURS = {"standard": "#636efa", "c": "#00cc96", "adv": "#ef553b", "advc": "#ab63fa"}


def colour(variant: str) -> str:
    return VARIANT_COLOURS.get(variant, "#7f7f7f")


def ds_lines(table: Mapping[str, Mapping[str, Mapping]], title: str = "") -> go.Figure:
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
    fig.update_yaxes(title_text="DS = ||f(x) - f(T(x))||", row=1, col=1)
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


# ---------------------------------------------------------------- embeddings
KIND_STYLE = {"x": ("black", "star", 16), "brightness": ("#ffa15a", "diamond", 11),
              "contrast": ("#19d3f3", "diamond", 11), "saturation": ("#ff6692", "diamond", 11),
              "hue": ("#b6e880", "diamond", 11), "same_class": ("#b0b0b0", "circle", 6)}


def embedding_figure(coords, kinds, variant: str, shown: set, title: str = "") -> go.Figure:
    """One variant's 2-D points: x (star), its perturbations (diamonds), same-class (grey).
    `coords` (N, 2); only kinds in `shown` (plus x and the same-class set) are drawn."""
    fig = go.Figure()
    for kind in ["same_class", *[k for k in dict.fromkeys(kinds) if k not in ("x", "same_class")], "x"]:
        if kind not in ("x", "same_class") and kind not in shown:
            continue
        idx = [i for i, k in enumerate(kinds) if k == kind]
        if not idx:
            continue
        colour_, symbol, size = KIND_STYLE.get(kind, ("#636efa", "diamond", 11))
        fig.add_trace(go.Scatter(x=[float(coords[i][0]) for i in idx], y=[float(coords[i][1]) for i in idx],
                                 mode="markers", name=kind.replace("_", "-"),
                                 marker={"color": colour_, "symbol": symbol, "size": size,
                                         "line": {"width": 0.5, "color": "black"}}))
    fig.update_layout(title=title or variant, height=380, margin={"t": 40, "b": 20, "l": 20, "r": 10},
                      legend={"orientation": "h", "y": -0.08})
    return fig


def embeddings_png(panels: list[tuple[str, object, list]], shown: set) -> bytes:
    """A static PNG of the side-by-side embedding plots (matplotlib; no browser needed).
    `panels` is [(title, coords (N, 2), kinds)]."""
    import io

    import matplotlib.pyplot as plt

    mpl_marker = {"star": "*", "diamond": "D", "circle": "o"}
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4), squeeze=False)
    for ax, (title, coords, kinds) in zip(axes[0], panels):
        for kind in ["same_class", *[k for k in dict.fromkeys(kinds) if k not in ("x", "same_class")], "x"]:
            idx = [i for i, k in enumerate(kinds) if k == kind]
            if not idx or (kind not in ("x", "same_class") and kind not in shown):
                continue
            c, symbol, size = KIND_STYLE.get(kind, ("#636efa", "diamond", 11))
            ax.scatter([float(coords[i][0]) for i in idx], [float(coords[i][1]) for i in idx],
                       c=c, marker=mpl_marker[symbol], s=size ** 2 / 2, label=kind,
                       edgecolors="black", linewidths=0.3)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    plt.close(fig)
    return buf.getvalue()
