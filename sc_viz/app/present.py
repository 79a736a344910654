"""Presentation mode's layout, sized from the viewport rather than from a guess of it.

The server does not know the browser's window, so the Saliency grid in presentation mode
is one HTML block whose CSS does the sizing: every map cell is
min(the height left per row, the width left per column, `cap`) pixels square, where the
height and width come from `100vh` and the block's own width. So the whole variants x
methods grid (up to 4 x 4) and the image column fit a 1920x1080 or a 1280x720 screen
without scrolling and without horizontal overflow, and a cell is never drawn larger than
`cap` (the map's own resolution, or 13x a 32-px image). Variant names are bold, left of
their row; the class each row explains is under the name, so the cells need no captions
(an all-zero map says so over the cell).

The thin bar every page shows in presentation mode is drawn by sidebar.presentation_bar;
its styling is here."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from PIL import Image

from sc_viz.figures import (
    SCALE_NOTE,
    SCALE_PERCENTILE,
    GridLayout,
    class_name,
    legend_image,
    method_legend,
    row_label,
)

# Vertical room the grid leaves for what is above it (the thin bar, the takeaway line and
# Streamlit's gaps) and for its header row (method name, colour bar, its tick labels).
ABOVE_PX, HEAD_PX = 165, 78
LABEL_PX = 200  # the row-label column (bold variant name, its prediction and target)
GAP_PX = 8
SMALL_INPUT_MAX = 64  # CIFAR-size maps: enlarged (pixels stay visible) up to CAP_SMALL_PX
CAP_SMALL_PX = 416  # 13x a 32-px image: larger only blurs
GRID_CLASS = "sc-grid"  # the block's class (tests find the cells by CELL_CLASS)
CELL_CLASS = "sc-cell"


def cell_cap_px(input_size: int) -> int:
    """The largest side a presentation cell is drawn at: the map's own resolution for a
    large input (a 224-px map is never stretched), CAP_SMALL_PX for a CIFAR-size one."""
    return CAP_SMALL_PX if input_size <= SMALL_INPUT_MAX else int(input_size)


def png_data_uri(image: np.ndarray) -> str:
    """(H, W, 3) uint8 -> a data: URI of its PNG (the grid block carries its images)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass
class Header:
    title: str
    tip: str  # what the map shows, its colours, the scaling rule (the title's tooltip)
    ramp: Optional[np.ndarray] = None  # the colour bar (h, w, 3) uint8; None: the image column
    ticks: tuple[str, str, str] = ("", "", "")


@dataclass
class Row:
    name: str  # the variant, bold
    lines: list[str]  # under the name: its top prediction, the class its maps explain
    image: np.ndarray  # the input cell (S, S, 3) uint8
    cells: list[Optional[np.ndarray]] = field(default_factory=list)  # one per method; None: pending
    notes: list[str] = field(default_factory=list)  # one per method: "" or a line over the cell
    dim: list[bool] = field(default_factory=list)  # one per method: an older map, dimmed


def grid_css(rows: int, cols: int, cap: int) -> str:
    """The sizing rule of a grid of `rows` variants and `cols` columns (image + methods)."""
    fit_h = f"calc((100vh - {ABOVE_PX}px - {HEAD_PX}px) / {rows} - {GAP_PX}px)"
    return (
        f"<style>.{GRID_CLASS}{{--cell:min({fit_h},{cap}px);display:grid;"
        f"grid-template-columns:minmax(0,{LABEL_PX}px) repeat({cols},minmax(0,var(--cell)));"
        f"gap:{GAP_PX}px;align-items:center;width:100%;max-width:100%;overflow:hidden;"
        "font-family:'Source Sans Pro',sans-serif;color:#000;line-height:1.15}"
        f".{GRID_CLASS} .sc-box{{position:relative;width:100%;max-width:var(--cell);aspect-ratio:1}}"
        f".{GRID_CLASS} img.{CELL_CLASS}{{display:block;width:100%;height:100%;image-rendering:pixelated}}"
        f".{GRID_CLASS} .sc-pending{{width:100%;height:100%;background:#eee}}"
        f".{GRID_CLASS} .sc-dim{{opacity:.45}}"
        f".{GRID_CLASS} .sc-note{{position:absolute;inset:auto 0 0 0;background:rgba(255,255,255,.85);"
        "font-size:15px;font-weight:600;text-align:center;padding:2px}"
        f".{GRID_CLASS} .sc-head{{align-self:end;font-size:20px;font-weight:700;overflow:hidden}}"
        f".{GRID_CLASS} .sc-head img{{display:block;width:100%;height:12px;margin-top:4px}}"
        f".{GRID_CLASS} .sc-ticks{{display:flex;justify-content:space-between;font-size:14px;"
        "font-weight:400}"
        f".{GRID_CLASS} .sc-label{{overflow:hidden;overflow-wrap:anywhere}}"
        f".{GRID_CLASS} .sc-label b{{display:block;font-size:30px;font-weight:800}}"
        f".{GRID_CLASS} .sc-label span{{display:block;font-size:17px}}"
        ".sc-foot{font-size:14px;color:#333;margin-top:2px}"
        "</style>"
    )


def _cell(image: Optional[np.ndarray], key: str, note: str = "", dim: bool = False) -> str:
    if image is None:
        return f'<div class="sc-box" data-cell="{html.escape(key)}"><div class="sc-pending"></div></div>'
    note_html = f'<div class="sc-note">{html.escape(note)}</div>' if note else ""
    return (
        f'<div class="sc-box{" sc-dim" if dim else ""}" data-cell="{html.escape(key)}">'
        f'<img class="{CELL_CLASS}" alt="{html.escape(key)}" src="{png_data_uri(image)}">{note_html}</div>'
    )


def grid_html(headers: Sequence[Header], rows: Sequence[Row], cap: int) -> str:
    """The grid block: a header row (image, then each method's title and colour bar), then
    per variant its label, input image and map cells. `cap`: the largest cell side."""
    cols = len(headers)
    parts = [grid_css(max(len(rows), 1), cols, cap), f'<div class="{GRID_CLASS}"><div></div>']
    for h in headers:
        bar = ""
        if h.ramp is not None:
            low, mid, high = (html.escape(t) for t in h.ticks)
            bar = (
                f'<img alt="" src="{png_data_uri(h.ramp)}">'
                f'<div class="sc-ticks"><span>{low}</span><span>{mid}</span><span>{high}</span></div>'
            )
        parts.append(f'<div class="sc-head" title="{html.escape(h.tip)}">{html.escape(h.title)}{bar}</div>')
    for r in rows:
        lines = "".join(f"<span>{html.escape(line)}</span>" for line in r.lines)
        parts.append(f'<div class="sc-label"><b>{html.escape(r.name)}</b>{lines}</div>')
        parts.append(_cell(r.image, f"{r.name}/image"))
        for i, im in enumerate(r.cells):
            note = r.notes[i] if i < len(r.notes) else ""
            dim = r.dim[i] if i < len(r.dim) else False
            parts.append(_cell(im, f"{r.name}/{headers[i + 1].title if i + 1 < cols else i}", note, dim))
    parts.append(f'</div><div class="sc-foot">{html.escape(SCALE_LINE)}</div>')
    return "".join(parts)


# The thin bar (sidebar.presentation_bar): one line of small buttons and page links.
BAR_KEY = "present-bar"
BAR_CSS = f"""
<style>
.st-key-{BAR_KEY} {{ gap: 0.3rem !important; align-items: center; padding: 0 0 4px 0;
  border-bottom: 1px solid #ddd; }}
.st-key-{BAR_KEY} button, .st-key-{BAR_KEY} a {{ min-height: 0 !important; padding: 2px 8px !important; }}
.st-key-{BAR_KEY} p, .st-key-{BAR_KEY} span, .st-key-{BAR_KEY} [data-testid="stMarkdownContainer"] p {{
  font-size: 14px !important; font-weight: 400 !important; }}
.st-key-{BAR_KEY} [data-testid="stPageLink"] [data-testid="stIconMaterial"] {{ display: none; }}
.st-key-{BAR_KEY} [data-testid="stPageLink"] a {{ padding: 2px 5px !important; }}
.st-key-{BAR_KEY} [data-testid="stLayoutWrapper"]:has([data-testid="stPageLink"]) {{
  flex: 0 1 auto !important; min-width: 0 !important; }}
.st-key-{BAR_KEY} [data-testid="stElementContainer"] {{ min-width: 0 !important; }}
.st-key-present-keys, .st-key-present-settings-hidden {{ display: none !important; }}
</style>
"""


# A page's figures in presentation mode: each one as tall as the screen leaves below the
# thin bar and the takeaway, so one figure fills one screen and scrolling moves to the next
# (plotly fills its container when the figure has no height of its own). The chart's
# frame and element container get the same height (and no fixed flex basis): Streamlit
# sizes them from the figure's own height, and a box shorter than its chart lets the next
# figure cover its bottom.
FIGURE_KEY = "present-figure"
FIGURE_ABOVE_PX = 170
_FIGURE_BOXES = ", ".join(
    f'[class*="st-key-{FIGURE_KEY}"] {box}'
    for box in (
        '[data-testid="stPlotlyChart"]',
        '[data-testid="stFullScreenFrame"]:has([data-testid="stPlotlyChart"])',
        '[data-testid="stElementContainer"]:has([data-testid="stPlotlyChart"])',
    )
)
FIGURE_CSS = (
    f"<style>{_FIGURE_BOXES}"
    f"{{height:calc(100vh - {FIGURE_ABOVE_PX}px) !important;min-height:320px;flex:0 0 auto !important}}"
    f'[class*="st-key-{FIGURE_KEY}"] [data-testid="stPlotlyChart"] > div,'
    f'[class*="st-key-{FIGURE_KEY}"] .js-plotly-plot,[class*="st-key-{FIGURE_KEY}"] .plot-container,'
    f'[class*="st-key-{FIGURE_KEY}"] .svg-container{{height:100% !important}}</style>'
)


# ---------------------------------------------------------------- the Saliency grid's parts
SCALE_LINE = f"Each map is scaled on its own: full colour = its {SCALE_PERCENTILE:g}th percentile of |value|."


def method_header(method: str, cap: int) -> Header:
    """A method column's header: its plain name (tooltip: what it shows, its colours, the
    scaling rule), its colour bar and the bar's tick labels."""
    leg = method_legend(method)
    ramp = legend_image(method, cap)[: GridLayout(1, 1, cap).bar_px]  # the colour band only
    return Header(leg.title, f"{leg.help} Colours: {leg.meaning}. {SCALE_NOTE}", ramp, leg.ticks)


def image_header() -> Header:
    return Header("image", "The input as the models see it.")


def row_lines(
    predictions: Sequence[tuple[int, float]], classes: Sequence[str], target: Optional[int]
) -> list[str]:
    """Under a row's bold variant name: its top prediction, and the class its maps explain."""
    _, *top = row_label("", predictions[:1], classes)
    lines = [f"predicts {top[0]}"] if top else []
    if target is not None:
        lines.append(f"maps for: {class_name(classes, target)}")
    return lines


def takeaway_html(line: str) -> str:
    """A page's takeaway (sc_viz.app.takeaways) as one compact line over the figure: `name`
    in bold, never wrapping (a long line ends in an ellipsis; its full text is the tooltip)."""
    parts = html.escape(line).split("`")
    body = "".join(f"<b>{t}</b>" if i % 2 else t for i, t in enumerate(parts))
    return (
        '<div class="sc-takeaway" style="font-size:22px;white-space:nowrap;overflow:hidden;'
        f'text-overflow:ellipsis;color:#000" title="{html.escape(line.replace("`", ""))}">{body}</div>'
    )
