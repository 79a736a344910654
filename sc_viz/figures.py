"""Figures shared by the app, the CLI and the reports.

Plotly for anything interactive; the static PNG of the explanation grid is drawn with
matplotlib (Agg), because kaleido 1.x needs a Chrome binary that users may not have.
HTML export is plotly's own `to_html` with plotly.js inlined (works offline).

Grid layout: one row per method, one column per variant (plus the input image on the
left), so each row compares one method across the variants. Every row has one colour
scale: symmetric around zero (diverging) for signed methods (IG, LIME), from zero for
unsigned ones, with its limit at the 99.5th percentile of |map| over the row so a few
extreme pixels do not wash out the rest.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

SIGNED_SCALE, UNSIGNED_SCALE = "RdBu_r", "Inferno"
SIGNED_CMAP, UNSIGNED_CMAP = "RdBu_r", "inferno"
ROW_PERCENTILE = 99.5
POINT_STYLE = {  # kind -> (marker symbol, size, colour)
    "same_class": ("circle", 6, "rgba(120,120,120,0.55)"),
    "x": ("star", 18, "black"),
    "brightness": ("diamond", 12, "#e6a700"),
    "contrast": ("square", 11, "#1f77b4"),
    "saturation": ("triangle-up", 12, "#2ca02c"),
    "hue": ("cross", 12, "#d62728"),
}


def image_array(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) float in [0, 1] -> (H, W, 3) uint8."""
    img = image[0] if image.dim() == 4 else image
    return (img.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def row_limits(grid: Any, percentile: float = ROW_PERCENTILE) -> dict[str, tuple[float, float]]:
    """method -> (vmin, vmax) shared by the row; symmetric where the method is signed."""
    out = {}
    for m in grid.methods:
        cells = [grid.cells[(v, m)] for v in grid.variants if (v, m) in grid.cells]
        if not cells:
            continue
        values = torch.cat([c.map.abs().flatten() for c in cells])
        top = float(torch.quantile(values.double(), percentile / 100)) if len(values) else 0.0
        top = top if top > 0 else float(values.max()) if len(values) else 0.0
        top = top if top > 0 else 1.0  # an all-zero row
        out[m] = (-top, top) if cells[0].signed else (0.0, top)
    return out


def _column_titles(grid: Any, classes: Optional[Sequence[str]]) -> list[str]:
    name = (lambda i: classes[i]) if classes else str
    titles = []
    for v in grid.variants:
        cls, p = grid.predictions[v][0] if grid.predictions.get(v) else (None, 0.0)
        pred = f"{name(cls)} {p:.0%}" if cls is not None else ""
        titles.append(f"{v}: {pred} (target {name(grid.targets[v])})")
    return titles


def grid_figure(grid: Any, image: torch.Tensor, *, classes: Optional[Sequence[str]] = None,
                opacity: float = 0.5, overlay: bool = True, cell_px: int = 190) -> go.Figure:
    """The variants x methods grid as one plotly figure (rows = methods)."""
    rows, cols = len(grid.methods), len(grid.variants) + 1
    fig = make_subplots(rows=rows, cols=cols, row_titles=list(grid.methods),
                        column_titles=["input"] + _column_titles(grid, classes),
                        horizontal_spacing=0.01, vertical_spacing=0.02)
    img = image_array(image)
    limits = row_limits(grid)
    for r, m in enumerate(grid.methods, start=1):
        lo, hi = limits.get(m, (0.0, 1.0))
        signed = lo < 0
        axis = f"coloraxis{r}"
        fig.update_layout({axis: dict(
            colorscale=SIGNED_SCALE if signed else UNSIGNED_SCALE, cmin=lo, cmax=hi,
            colorbar=dict(len=0.9 / rows, y=1 - (r - 0.5) / rows, yanchor="middle",
                          thickness=10, x=1.01, tickformat=".1e"))})
        if r == 1:
            fig.add_trace(go.Image(z=img, hoverinfo="skip"), row=r, col=1)
        for c, v in enumerate(grid.variants, start=2):
            exp = grid.cells.get((v, m))
            if exp is None:
                continue
            if overlay:
                fig.add_trace(go.Image(z=img, hoverinfo="skip"), row=r, col=c)
            fig.add_trace(go.Heatmap(z=exp.map.numpy(), coloraxis=axis,
                                     opacity=opacity if overlay else 1.0,
                                     hovertemplate=f"{v} / {m}<br>x %{{x}}, y %{{y}}"
                                     "<br>%{z:.3g}<extra></extra>"), row=r, col=c)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    for r in range(1, rows + 1):  # each cell square, image orientation (row 0 on top)
        for c in range(1, cols + 1):
            fig.update_yaxes(scaleanchor=fig.get_subplot(r, c).xaxis.plotly_name.replace(
                "axis", ""), row=r, col=c)
    fig.update_layout(width=cell_px * cols + 120, height=cell_px * rows + 60,
                      margin=dict(l=10, r=90, t=50, b=10), plot_bgcolor="white")
    return fig


def grid_png(grid: Any, image: torch.Tensor, path: Union[str, Path, None] = None, *,
             classes: Optional[Sequence[str]] = None, opacity: float = 0.5,
             overlay: bool = True, dpi: int = 200, cell_inches: float = 1.9) -> bytes:
    """The same grid as a static PNG for slides (matplotlib, no browser needed); written
    to `path` when given. Returns the PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, cols = len(grid.methods), len(grid.variants) + 1
    fig = Figure(figsize=(cell_inches * cols + 0.9, cell_inches * rows + 0.5), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.9, top=1 - 0.35 / (cell_inches * rows + 0.5),
                        bottom=0.02, wspace=0.04, hspace=0.06)
    img, limits = image_array(image), row_limits(grid)
    titles = _column_titles(grid, classes)
    for r, m in enumerate(grid.methods):
        lo, hi = limits.get(m, (0.0, 1.0))
        cmap = SIGNED_CMAP if lo < 0 else UNSIGNED_CMAP
        shown = None
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(m, fontsize=9)
                if r == 0:
                    ax.imshow(img)
                    ax.set_title("input", fontsize=8)
                else:
                    ax.axis("off")
                    ax.text(-0.05, 0.5, m, rotation=90, ha="right", va="center",
                            fontsize=9, transform=ax.transAxes)
                continue
            v = grid.variants[c - 1]
            if r == 0:
                ax.set_title(titles[c - 1], fontsize=7)
            exp = grid.cells.get((v, m))
            if exp is None:
                ax.axis("off")
                continue
            if overlay:
                ax.imshow(img)
            shown = ax.imshow(exp.map.numpy(), cmap=cmap, vmin=lo, vmax=hi,
                              alpha=opacity if overlay else 1.0, interpolation="nearest")
        if shown is not None:
            bar = fig.colorbar(shown, ax=list(axes[r]), fraction=0.02, pad=0.01)
            bar.ax.tick_params(labelsize=6)
            bar.formatter.set_powerlimits((-2, 2))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def to_html(fig: go.Figure, path: Union[str, Path, None] = None) -> str:
    """A self-contained HTML page (plotly.js inlined: opens offline, no browser needed
    to write it)."""
    html = fig.to_html(include_plotlyjs=True, full_html=True)
    if path is not None:
        Path(path).write_text(html, encoding="utf-8")
    return html


# ---------------------------------------------------------------- embeddings
def _kinds_drawn(embedding: Any, shown: Optional[set]) -> list[str]:
    """Same-class images first (underneath), then the perturbations in `shown` (all when
    None), x last (on top)."""
    perturbations = [k for k in dict.fromkeys(embedding.kinds) if k not in ("x", "same_class")]
    return ["same_class", *[k for k in perturbations if shown is None or k in shown], "x"]


def violation_title(embedding: Any, variant: str, shown: Optional[set] = None) -> str:
    n = sum(c for k, c in embedding.violations[variant].items() if shown is None or k in shown)
    joint = " (joint)" if embedding.joint else ""
    return f"{variant}: {embedding.method.upper()}{joint}, {n} violations"


def embedding_figure(embedding: Any, *, variants: Optional[Sequence[str]] = None,
                     shown: Optional[set] = None, cell_px: int = 380) -> go.Figure:
    """One scatter per variant: same-class images, x and each perturbation (those in
    `shown`; all when None) marked distinctly; hover shows the kind, data-set index and DS
    to x. A joint projection shares its axes ranges across the plots."""
    variants = list(variants or embedding.coords)
    fig = make_subplots(rows=1, cols=len(variants), horizontal_spacing=0.04,
                        subplot_titles=[violation_title(embedding, v, shown) for v in variants])
    kinds = np.array(embedding.kinds)
    for c, v in enumerate(variants, start=1):
        xy = embedding.coords[v].numpy()
        ds = embedding.distances[v].numpy()
        for kind in _kinds_drawn(embedding, shown):
            sel = np.flatnonzero(kinds == kind)
            if not len(sel):
                continue
            symbol, size, colour = POINT_STYLE.get(kind, ("circle-open", 10, "purple"))
            label = "same class" if kind == "same_class" else kind
            if kind not in ("x", "same_class"):
                label = f"{kind} ({embedding.violations[v][kind]} closer)"
            idx = [embedding.indices[i] for i in sel]
            fig.add_trace(go.Scatter(
                x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=label, legendgroup=kind,
                showlegend=(c == 1) or kind not in ("x", "same_class"),
                marker=dict(symbol=symbol, size=size, color=colour,
                            line=dict(width=0.5, color="white")),
                customdata=np.stack([idx, ds[sel]], axis=1),
                hovertemplate=f"{kind}<br>index %{{customdata[0]:.0f}}"
                              "<br>DS to x %{customdata[1]:.3f}<extra>" + v + "</extra>"),
                row=1, col=c)
    if embedding.joint:
        allxy = torch.cat([embedding.coords[v] for v in variants]).numpy()
        pad = 0.05 * (allxy.max(0) - allxy.min(0) + 1e-9)
        fig.update_xaxes(range=[allxy[:, 0].min() - pad[0], allxy[:, 0].max() + pad[0]])
        fig.update_yaxes(range=[allxy[:, 1].min() - pad[1], allxy[:, 1].max() + pad[1]])
    fig.update_layout(width=cell_px * len(variants), height=cell_px + 80,
                      legend=dict(orientation="h", y=-0.08), margin=dict(l=10, r=10, t=40, b=10))
    return fig


MPL_MARKERS = {"circle": "o", "star": "*", "diamond": "D", "square": "s",
               "triangle-up": "^", "cross": "P"}


def embedding_png(embeddings: Sequence[Any], path: Union[str, Path, None] = None, *,
                  variants: Optional[Sequence[str]] = None, shown: Optional[set] = None,
                  cell_in: float = 3.2, dpi: int = 130) -> bytes:
    """A static PNG (matplotlib) of one or more embeddings of the same points: one row per
    embedding (e.g. PCA, t-SNE, UMAP), one column per variant; joint ones share axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = list(variants or embeddings[0].coords)
    fig, axes = plt.subplots(len(embeddings), len(variants), squeeze=False,
                             figsize=(cell_in * len(variants), cell_in * len(embeddings) + 0.4))
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
                ax.scatter(xy[sel, 0], xy[sel, 1], s=size ** 2 / 3, c=[colour], label=kind,
                           marker=MPL_MARKERS.get(symbol, "o"), linewidths=0.3,
                           edgecolors="white" if kind == "same_class" else "black")
            ax.set_title(violation_title(emb, v, shown), fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        if emb.joint:  # the same limits in every plot of the row
            allxy = torch.cat([emb.coords[v] for v in variants]).numpy()
            pad = 0.05 * (allxy.max(0) - allxy.min(0) + 1e-9)
            for ax in row:
                ax.set_xlim(allxy[:, 0].min() - pad[0], allxy[:, 0].max() + pad[0])
                ax.set_ylim(allxy[:, 1].min() - pad[1], allxy[:, 1].max() + pad[1])
    axes[0][0].legend(fontsize=6, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


# ---------------------------------------------------------------- small helpers
def bar_figure(data: dict[str, dict[str, float]], *, title: str = "", yaxis_title: str = "",
               percent: bool = False) -> go.Figure:
    """Grouped bars: one trace per outer key (e.g. variant), bars per inner key."""
    fig = go.Figure([go.Bar(name=s, x=list(vals), y=list(vals.values()),
                            hovertemplate="%{x}: %{y:" + (".1%" if percent else ".3g") + "}")
                     for s, vals in data.items()])
    fig.update_layout(barmode="group", title=title, yaxis_title=yaxis_title,
                      yaxis_tickformat=".0%" if percent else None)
    return fig


def line_figure(x: Sequence[Any], series: dict[str, Sequence[float]], *, title: str = "",
                xaxis_title: str = "", yaxis_title: str = "", percent: bool = False
                ) -> go.Figure:
    """One line with markers per series, over the shared x values."""
    fig = go.Figure([go.Scatter(x=list(x), y=list(ys), name=s, mode="lines+markers")
                     for s, ys in series.items()])
    fig.update_layout(title=title, xaxis_title=xaxis_title, yaxis_title=yaxis_title,
                      yaxis_tickformat=".0%" if percent else None)
    return fig
