"""The one HTML writer: a plotly figure as a self-contained page (plotly.js inlined, so it
opens offline, e.g. at a venue), for the app's exports, the CLI and the report."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Union

import plotly.graph_objects as go


def to_html(fig: go.Figure, path: Union[str, Path, None] = None) -> str:
    """A self-contained HTML page (plotly.js inlined: opens offline, no browser needed
    to write it)."""
    html = fig.to_html(include_plotlyjs=True, full_html=True)
    if path is not None:
        Path(path).write_text(html, encoding="utf-8")
    return html


def figures_page(figures: Mapping[str, go.Figure], title: str) -> str:
    """Plotly figures (heading -> figure) as one self-contained HTML page (plotly.js once)."""
    parts = [
        f"<h2>{heading}</h2>" + fig.to_html(full_html=False, include_plotlyjs=(i == 0))
        for i, (heading, fig) in enumerate(figures.items())
    ]
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1>{''.join(parts)}</body></html>"
    )
