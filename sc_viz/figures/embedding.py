"""The embedding view's figures: each variant's projection of x, its perturbations and its
same-class images (plotly, and a matplotlib PNG for the report)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from sc_viz.embed import point_label

POINT_STYLE = {  # kind -> (marker symbol, size, colour)
    "same_class": ("circle", 6, "rgba(120,120,120,0.55)"),
    "x": ("star", 20, "black"),
    "brightness": ("diamond", 12, "#e6a700"),
    "contrast": ("square", 11, "#1f77b4"),
    "saturation": ("triangle-up", 12, "#2ca02c"),
    "hue": ("cross", 12, "#d62728"),
}


# ---------------------------------------------------------------- embeddings
def _kinds_drawn(embedding: Any, shown: Optional[set]) -> list[str]:
    """Same-class images first (underneath), then the perturbations in `shown` (all when
    None), x last (on top)."""
    perturbations = [k for k in dict.fromkeys(embedding.kinds) if k not in ("x", "same_class")]
    return ["same_class", *[k for k in perturbations if shown is None or k in shown], "x"]


def violation_title(embedding: Any, variant: str, shown: Optional[set] = None) -> str:
    n = sum(c for k, c in embedding.violations[variant].items() if shown is None or k in shown)
    joint = " (joint)" if embedding.joint else ""
    return f"{variant}: {embedding.method.upper()}{joint}, {n} violation{'' if n == 1 else 's'}"


def legend_name(embedding: Any, variant: str, kind: str) -> str:
    """A point kind in the legend: "x (this image)", "same class", "hue (2 closer)"."""
    if kind == "x":
        return "x (this image)"
    if kind == "same_class":
        return "same class"
    return f"{kind} ({embedding.violations[variant][kind]} closer)"


def shared_ranges(embedding: Any, pad: float = 0.05) -> Optional[tuple[list[float], list[float]]]:
    """The x and y ranges every plot of a joint projection shows, from all its variants'
    points (so one variant drawn on its own still gets the shared axes); None when the
    projection is per variant (its axes mean nothing across plots)."""
    if not embedding.joint:
        return None
    allxy = torch.cat(list(embedding.coords.values())).numpy()  # (V * N, 2)
    lo, hi = allxy.min(0), allxy.max(0)
    margin = pad * (hi - lo + 1e-9)
    return (
        [float(lo[0] - margin[0]), float(hi[0] + margin[0])],
        [float(lo[1] - margin[1]), float(hi[1] + margin[1])],
    )


def embedding_figure(
    embedding: Any,
    *,
    variants: Optional[Sequence[str]] = None,
    shown: Optional[set] = None,
    cell_px: int = 380,
) -> go.Figure:
    """One scatter per variant: same-class images, x and each perturbation (those in
    `shown`; all when None) marked distinctly, x drawn last (on top). Hover: what the point
    is (`embed.point_label`) and its DS to x; each point's customdata is [row, label, DS],
    row being its index in the embedding, so a page can show the clicked point's image
    (`embed.point_image`). A joint projection gets the same axis ranges in every plot."""

    variants = list(variants or embedding.coords)
    fig = make_subplots(
        rows=1,
        cols=len(variants),
        horizontal_spacing=0.04,
        subplot_titles=[violation_title(embedding, v, shown) for v in variants],
    )
    kinds = np.array(embedding.kinds)
    for c, v in enumerate(variants, start=1):
        xy = embedding.coords[v].numpy()
        ds = embedding.distances[v].numpy()
        for kind in _kinds_drawn(embedding, shown):
            sel = np.flatnonzero(kinds == kind)
            if not len(sel):
                continue
            symbol, size, colour = POINT_STYLE.get(kind, ("circle-open", 10, "purple"))
            custom = [[int(i), point_label(embedding, int(i)), float(ds[i])] for i in sel]
            fig.add_trace(
                go.Scatter(
                    x=xy[sel, 0],
                    y=xy[sel, 1],
                    mode="markers",
                    legendgroup=kind,
                    name=legend_name(embedding, v, kind),
                    showlegend=(c == 1) or kind not in ("x", "same_class"),
                    marker=dict(
                        symbol=symbol,
                        size=size,
                        color=colour,
                        line=dict(width=1.5 if kind == "x" else 0.5, color="white"),
                    ),
                    cliponaxis=False,
                    customdata=custom,
                    hovertemplate="%{customdata[1]}<br>DS to x %{customdata[2]:.3f}<extra>" + v + "</extra>",
                ),
                row=1,
                col=c,
            )
    ranges = shared_ranges(embedding)
    if ranges:
        fig.update_xaxes(range=ranges[0], autorange=False)
        fig.update_yaxes(range=ranges[1], autorange=False)
    fig.update_layout(
        width=cell_px * len(variants),
        height=cell_px + 80,
        hovermode="closest",
        legend=dict(orientation="h", y=-0.08),
        margin=dict(l=10, r=10, t=40, b=10),
    )
    return fig


def selected_rows(selection: Any) -> list[int]:
    """The embedding rows of the points picked in an `embedding_figure` (Streamlit's
    `st.plotly_chart(..., on_select="rerun").selection`: each point carries its customdata,
    whose first value is the row), in the order picked, without repeats."""
    points = (selection or {}).get("points", []) if hasattr(selection, "get") else []
    rows = [int(p["customdata"][0]) for p in points if p.get("customdata")]
    return list(dict.fromkeys(rows))


MPL_MARKERS = {"circle": "o", "star": "*", "diamond": "D", "square": "s", "triangle-up": "^", "cross": "P"}


def embedding_png(
    embeddings: Sequence[Any],
    path: Union[str, Path, None] = None,
    *,
    variants: Optional[Sequence[str]] = None,
    shown: Optional[set] = None,
    cell_in: float = 3.2,
    dpi: int = 130,
) -> bytes:
    """A static PNG (matplotlib) of one or more embeddings of the same points: one row per
    embedding (e.g. PCA, t-SNE, UMAP), one column per variant; joint ones share axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = list(variants or embeddings[0].coords)
    fig, axes = plt.subplots(
        len(embeddings),
        len(variants),
        squeeze=False,
        figsize=(cell_in * len(variants), cell_in * len(embeddings) + 0.4),
    )
    for row, emb in zip(axes, embeddings):
        kinds = np.array(emb.kinds)
        for ax, v in zip(row, variants):
            xy = emb.coords[v].numpy()
            for kind in _kinds_drawn(emb, shown):
                sel = np.flatnonzero(kinds == kind)
                symbol, size, colour = POINT_STYLE.get(kind, ("circle", 10, "purple"))
                if colour.startswith("rgba"):  # plotly colour string -> matplotlib tuple
                    *rgb, alpha = (float(t) for t in colour[5:-1].split(","))
                    colour = (*(c / 255 for c in rgb), alpha)
                ax.scatter(
                    xy[sel, 0],
                    xy[sel, 1],
                    s=size**2 / 3,
                    c=[colour],
                    label=legend_name(emb, v, kind),
                    marker=MPL_MARKERS.get(symbol, "o"),
                    linewidths=0.3,
                    edgecolors="white" if kind == "same_class" else "black",
                )
            ax.set_title(violation_title(emb, v, shown), fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        ranges = shared_ranges(emb)
        if ranges:  # the same limits in every plot of the row
            for ax in row:
                ax.set_xlim(*ranges[0])
                ax.set_ylim(*ranges[1])
    axes[0][0].legend(fontsize=6, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data
