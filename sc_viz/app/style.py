"""The app's look in presentation mode, for a projector: everything the audience reads at
least twice its normal size (titles, headings, row labels, captions, plot text), high
contrast, no toolbars, the main area at full width. Nothing the audience needs is hidden:
the grid's row labels and captions stay; the pages themselves leave out explanatory
captions and the Measures table, and put their controls in a compact bar at the top."""

from __future__ import annotations

import functools

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

PLOT_SCALE = 2.0  # plot text in presentation mode, relative to normal mode
PLOT_FONT_PX = 12  # plotly's default text size
PRESENTATION_CSS = """
<style>
html, body { font-size: 20px; color: #000; }
[data-testid="stMain"] h1, [data-testid="stMain"] h1 * { font-size: 88px !important; font-weight: 800; }
[data-testid="stMain"] h2, [data-testid="stMain"] h2 * { font-size: 60px !important; }
[data-testid="stMain"] h3, [data-testid="stMain"] h3 * { font-size: 48px !important; }
[data-testid="stMain"] [data-testid="stImageCaption"],
[data-testid="stMain"] [data-testid="stCaptionContainer"] {
  font-size: 1.35rem !important; color: #000 !important; opacity: 1 !important; font-weight: 600; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p { font-size: 1.5rem; }
[data-testid="stMain"] [data-testid="stWidgetLabel"] p { font-size: 1.1rem; }
[data-testid="stSliderThumbValue"], [data-testid="stSliderThumbValue"] * { font-size: 15px !important; }
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"], footer,
[data-testid="stMain"] .modebar-container { display: none !important; }
[data-testid="stMainBlockContainer"] { max-width: 100% !important; padding: 0.6rem 1.2rem !important; }
[data-testid="stApp"] { background: #fff; }
</style>
"""


def apply(present: bool) -> None:
    """The page's styling for the chosen mode (normal mode needs none)."""
    if present:
        st.html(PRESENTATION_CSS)


def per_row(count: int, present: bool, normal: int = 4, presenting: int = 2) -> int:
    """How many plots side by side: fewer in presentation mode, so each stays readable."""
    return max(1, min(count, presenting if present else normal))


def sidebar_state(present: bool) -> str:
    """`st.set_page_config(initial_sidebar_state=...)`: collapsed in presentation mode."""
    return "collapsed" if present else "auto"


def scale_fonts(fig: go.Figure, present: bool) -> go.Figure:
    """A plotly figure's text (axes, ticks, legend, titles, subplot titles) PLOT_SCALE times
    larger in presentation mode; unchanged otherwise. Returns `fig`."""
    if not present:
        return fig
    px = round(PLOT_FONT_PX * PLOT_SCALE)
    fig.update_layout(
        font=dict(size=px, color="black"),
        title_font_size=round(px * 1.2),
        legend_font_size=px,
        hoverlabel_font_size=px,
    )
    fig.update_xaxes(title_font_size=px, tickfont_size=px)
    fig.update_yaxes(title_font_size=px, tickfont_size=px)
    fig.update_annotations(font_size=round(px * 1.05))  # subplot titles
    if fig.layout.height:
        fig.update_layout(height=int(fig.layout.height * 1.4))
    if fig.layout.margin.t:  # room for the larger titles
        fig.update_layout(margin_t=int(fig.layout.margin.t * PLOT_SCALE))
    return fig


@functools.lru_cache(maxsize=1)
def favicon() -> Image.Image:
    """The tab's icon, drawn here (a 32-px blue-white-red ramp, a saliency map's colours):
    served by the app itself, so an offline laptop logs no failed fetch (an emoji or a
    material icon would be fetched from a CDN)."""
    ramp = np.linspace(-1.0, 1.0, 32)[None, :].repeat(32, 0)  # (32, 32)
    rgb = np.stack([1 + np.minimum(ramp, 0), 1 - np.abs(ramp), 1 - np.maximum(ramp, 0)], -1)
    return Image.fromarray((rgb * 255 + 0.5).astype(np.uint8), "RGB")
