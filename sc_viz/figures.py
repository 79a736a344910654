"""Figures shared by the app, the CLI and the reports.

Plotly for anything interactive; static PNGs are drawn with PIL or matplotlib (Agg),
because kaleido 1.x needs a Chrome binary that users may not have. HTML export is plotly's
own `to_html` with plotly.js inlined (works offline).

The explanation grid has ONE renderer for the screen and the exports: one row per variant,
one column per method in the order the user chose them (after a column with the input
image and the variant's top-3 predictions). Each map is scaled on its own, full colour at
its 98th percentile of |value| (`SCALE_PERCENTILE`; the top 2% clipped, captum's
`visualize_image_attr` default, so a few extreme pixels of a gradient map do not leave the
rest dark): signed methods (IG, LIME) in blue-white-red symmetric about zero, magnitude
methods (saliency, SmoothGrad, Grad-CAM) in 'inferno' from zero (dark) to full colour
(bright). Every page that overlays a map (Saliency grid, Robustness, Neurons) uses it.
The page shows `grid_cell(...).image` per cell and `legend_image(...)` per column;
`grid_png` pastes exactly those pixels into one image at the positions of `GridLayout`,
and `grid_figure` shows the same pixels in plotly at the same positions, with the map's
raw values on hover.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw, ImageFont
from plotly.subplots import make_subplots

from sc_viz.perturb import LEVELS
from sc_viz.variants import variant_colour

SIGNED_CMAP, UNSIGNED_CMAP = "bwr", "inferno"
CELL_PX = 160  # a grid cell's side in pixels, on screen and in the exports
BLANK_GREY = 0.85  # an all-zero map's cell: the input washed out towards this grey
POINT_STYLE = {  # kind -> (marker symbol, size, colour)
    "same_class": ("circle", 6, "rgba(120,120,120,0.55)"),
    "x": ("star", 20, "black"),
    "brightness": ("diamond", 12, "#e6a700"),
    "contrast": ("square", 11, "#1f77b4"),
    "saturation": ("triangle-up", 12, "#2ca02c"),
    "hue": ("cross", 12, "#d62728"),
}


# ---------------------------------------------------------------- explanation grid: cells
@dataclass(frozen=True)
class MethodLegend:
    """What a method's colours mean, for the colour bar and the column tooltip."""

    title: str  # the plain name ("Integrated Gradients")
    help: str  # one line: what the map shows
    signed: bool
    ticks: tuple[str, str, str]  # the colour bar's left, middle and right labels
    meaning: str  # the colours in words


SCALE_PERCENTILE = 98.0  # full colour at this percentile of a map's |value| (captum's outlier_perc=2)
SCALE_NOTE = (
    f"Each map is scaled on its own: full colour = that map's {SCALE_PERCENTILE:g}th percentile "
    f"of |value| (its top {100 - SCALE_PERCENTILE:g}% clipped), so a few extreme pixels do not "
    "leave the rest dark."
)


def method_legend(method: str) -> MethodLegend:
    """The legend of a registered explanation method (its title, help and sign)."""
    from sc_viz.explain import METHODS

    spec = METHODS[method]
    title = spec.title or method
    if spec.signed:
        return MethodLegend(
            title,
            spec.help,
            True,
            ("against", "0", "for"),
            "red: for the class, blue: against it, white: no effect",
        )
    return MethodLegend(
        title, spec.help, False, ("none", "", "most"), "bright: most influence on the class, dark: none"
    )


def is_blank(heat: torch.Tensor) -> bool:
    """An all-zero map (e.g. Grad-CAM of a class the model finds no evidence for): there is
    nothing to show or measure. A map with NaN counts as blank too."""
    return not bool(heat.detach().abs().max() > 0) if heat.numel() else True


def full_colour_value(heat: torch.Tensor) -> float:
    """The |value| a map shows in full colour (see SCALE_NOTE): its SCALE_PERCENTILE-th
    percentile of |value|, or its largest |value| where that percentile is 0 (a map with
    fewer non-zero pixels than the clipped share); 0 for a blank map."""
    if is_blank(heat):
        return 0.0
    a = np.abs(heat.detach().float().cpu().numpy())
    top = float(np.percentile(a, SCALE_PERCENTILE))
    return top if top > 0 else float(a.max())


def scaled_map(heat: torch.Tensor, signed: bool) -> np.ndarray:
    """(H, W) -> (H, W) divided by the map's own `full_colour_value` and clipped: in
    [-1, 1] when signed, [0, 1] when not. All zero for a blank map."""
    h = heat.detach().float().cpu().numpy()
    if is_blank(heat):
        return np.zeros_like(h)
    h = h / full_colour_value(heat)
    return np.clip(h, -1.0, 1.0) if signed else np.clip(h, 0.0, 1.0)


@functools.lru_cache(maxsize=2)
def _colormap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def map_colours(scaled: np.ndarray, signed: bool) -> np.ndarray:
    """A scaled map (see `scaled_map`) -> (H, W, 3) float RGB in [0, 1]."""
    if signed:
        return _colormap(SIGNED_CMAP)((scaled + 1) / 2)[..., :3]
    return _colormap(UNSIGNED_CMAP)(scaled)[..., :3]


def _to_cell(rgb: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) float in [0, 1] -> (size, size, 3) uint8; small images enlarged with
    nearest neighbour so their pixels stay visible."""
    im = Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    if im.size != (size, size):
        im = im.resize((size, size), Image.NEAREST if im.width < size else Image.LANCZOS)
    return np.asarray(im)


def _input_rgb(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) -> (H, W, 3) float."""
    return image.detach().float().cpu().reshape(-1, *image.shape[-3:])[0].permute(1, 2, 0).numpy()


def cell_image(image: torch.Tensor, exp: Any, opacity: float, size: int = CELL_PX) -> np.ndarray:
    """The map of `exp` (an Explanation) over the image, as shown in the grid:
    (size, size, 3) uint8. A blank map gives the image washed out towards grey."""
    img = _input_rgb(image)  # (H, W, 3)
    if is_blank(exp.map):
        return _to_cell((img + BLANK_GREY) / 2, size)
    rgb = map_colours(scaled_map(exp.map, exp.signed), exp.signed)  # (H, W, 3)
    return _to_cell((1 - opacity) * img + opacity * rgb, size)


def input_cell(image: torch.Tensor, size: int = CELL_PX) -> np.ndarray:
    """The input image as the grid's first column shows it: (size, size, 3) uint8."""
    return _to_cell(_input_rgb(image), size)


def class_name(classes: Optional[Sequence[str]], index: int) -> str:
    return classes[index] if classes else str(index)


def cell_caption(exp: Any, classes: Optional[Sequence[str]] = None) -> list[str]:
    """The lines under a cell: the class explained, or that the map is all zero."""
    name = class_name(classes, exp.target)
    if is_blank(exp.map):
        return [f"no evidence for {name}", "(the map is all zero)"]
    return [f"target: {name}"]


def row_label(
    variant: str, predictions: Sequence[tuple[int, float]], classes: Optional[Sequence[str]] = None
) -> list[str]:
    """The lines under a row's input image: the variant, then its top predictions."""
    return [
        variant,
        *(
            f"{class_name(classes, c)} {p:.0%}" if p >= 0.005 else f"{class_name(classes, c)} <1%"
            for c, p in predictions
        ),
    ]


@dataclass
class GridCell:
    image: np.ndarray  # (S, S, 3) uint8, exactly as on screen and in the exports
    caption: list[str]  # lines under the cell
    blank: bool  # the map is all zero (its measures mean nothing)


def grid_cell(
    image: torch.Tensor,
    exp: Any,
    *,
    classes: Optional[Sequence[str]] = None,
    opacity: float = 0.5,
    size: int = CELL_PX,
) -> GridCell:
    """One cell of the grid (the page draws these as they arrive)."""
    return GridCell(cell_image(image, exp, opacity, size), cell_caption(exp, classes), is_blank(exp.map))


def dimmed(image: np.ndarray, amount: float = 0.5) -> np.ndarray:
    """A cell image faded towards white: an old map kept on screen while its replacement
    is computed (instead of blanking the cell)."""
    return (image.astype(np.float32) * (1 - amount) + 255 * amount + 0.5).astype(np.uint8)


# ---------------------------------------------------------------- explanation grid: layout
FONT_FILES = {False: "DejaVuSans.ttf", True: "DejaVuSans-Bold.ttf"}  # shipped with matplotlib


@functools.lru_cache(maxsize=16)
def font(px: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    import matplotlib

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / FONT_FILES[bold]), px)


def text_width(text: str, px: int, bold: bool = False) -> float:
    return font(px, bold).getlength(text)


def wrap(text: str, px: int, width: float, bold: bool = False) -> list[str]:
    """`text` broken at spaces into lines no wider than `width` pixels (a single word wider
    than that stays on its own line)."""
    lines: list[str] = []
    for word in text.split():
        if lines and text_width(f"{lines[-1]} {word}", px, bold) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


@dataclass(frozen=True)
class GridLayout:
    """Pixel positions of the grid, shared by the PNG and the HTML (so they agree)."""

    rows: int
    cols: int  # 1 (input image) + methods
    size: int = CELL_PX

    @property
    def font_px(self) -> int:
        return max(11, round(self.size / 12))

    @property
    def title_px(self) -> int:
        return max(13, round(self.size / 10))

    @property
    def line_px(self) -> int:
        return round(self.font_px * 1.35)

    @property
    def margin(self) -> int:
        return max(12, self.size // 10)

    @property
    def gap(self) -> int:
        return max(8, self.size // 16)

    @property
    def bar_px(self) -> int:
        return max(8, self.size // 14)

    @property
    def title_top(self) -> int:
        return self.margin

    @property
    def legend_top(self) -> int:  # the colour bars: under the titles, never over them
        return self.title_top + 2 * round(self.title_px * 1.3) + self.gap // 2

    @property
    def legend_px(self) -> int:
        return self.bar_px + 3 + self.line_px

    @property
    def caption_px(self) -> int:  # room for a row label: variant + 3 predictions
        return 4 * self.line_px + 6

    @property
    def grid_top(self) -> int:
        return self.legend_top + self.legend_px + self.gap

    def left(self, col: int) -> int:
        return self.margin + col * (self.size + self.gap)

    def top(self, row: int) -> int:
        return self.grid_top + row * (self.size + self.caption_px + self.gap)

    @property
    def width(self) -> int:
        return self.left(self.cols) - self.gap + self.margin

    @property
    def note_top(self) -> int:
        return self.top(self.rows)

    def note_lines(self) -> list[str]:
        return wrap(SCALE_NOTE, self.font_px, self.width - 2 * self.margin)

    @property
    def height(self) -> int:
        return self.note_top + len(self.note_lines()) * self.line_px + self.margin


def grid_layout(grid: Any, size: int = CELL_PX) -> GridLayout:
    return GridLayout(len(grid.variants), len(grid.methods) + 1, size)


def column_titles(methods: Sequence[str]) -> list[str]:
    return ["image"] + [method_legend(m).title for m in methods]


def legend_image(method: str, size: int = CELL_PX) -> np.ndarray:
    """A method's colour bar with its labels, (h, size, 3) uint8: the band under its column
    title in the exports (the page can show the same image)."""
    lay = GridLayout(1, 1, size)
    leg = method_legend(method)
    ramp = np.linspace(-1 if leg.signed else 0, 1, size)[None, :].repeat(lay.bar_px, 0)  # (b, S)
    im = Image.new("RGB", (size, lay.legend_px), "white")
    im.paste(Image.fromarray((map_colours(ramp, leg.signed) * 255 + 0.5).astype(np.uint8)), (0, 0))
    draw, f, y = ImageDraw.Draw(im), font(lay.font_px), lay.bar_px + 3
    low, mid, high = leg.ticks
    draw.text((0, y), low, fill="black", font=f)
    draw.text((size / 2, y), mid, fill="black", font=f, anchor="ma")
    draw.text((size, y), high, fill="black", font=f, anchor="ra")
    return np.asarray(im)


def _cells_of(
    grid: Any, image: torch.Tensor, classes, opacity: float, size: int
) -> dict[tuple[str, str], GridCell]:
    return {
        key: grid_cell(image, exp, classes=classes, opacity=opacity, size=size)
        for key, exp in grid.cells.items()
    }


def _title_lines(title: str, lay: GridLayout) -> list[str]:
    return wrap(title, lay.title_px, lay.size, bold=True)[:2]


def _caption_lines(lines: Sequence[str], lay: GridLayout) -> list[str]:
    """Caption lines wrapped to the cell's width, at most four (the caption band)."""
    out = [w for line in lines for w in wrap(line, lay.font_px, lay.size)]
    return out[:4]


MISSING_CELL = ["not computed"]
MODEBAR_PX = 40  # room right of the HTML grid for plotly's toolbar (else it covers a title)


def grid_png(
    grid: Any,
    image: torch.Tensor,
    path: Union[str, Path, None] = None,
    *,
    classes: Optional[Sequence[str]] = None,
    opacity: float = 0.5,
    cell_px: int = CELL_PX,
) -> bytes:
    """The grid as one PNG with the screen's cells pixel for pixel (see the module
    docstring); written to `path` when given. Returns the PNG bytes."""
    lay = grid_layout(grid, cell_px)
    size, cells = lay.size, _cells_of(grid, image, classes, opacity, cell_px)
    canvas = Image.new("RGB", (lay.width, lay.height), "white")
    draw = ImageDraw.Draw(canvas)

    def text(lines: Sequence[str], x: float, y: float, px: int, bold_first: bool = False) -> None:
        for i, line in enumerate(lines):
            draw.text(
                (x, y + i * round(px * 1.35)),
                line,
                fill="black",
                anchor="ma",
                font=font(px, bold_first and i == 0),
            )

    for c, title in enumerate(column_titles(grid.methods)):
        lines = _title_lines(title, lay)
        for i, line in enumerate(lines):
            draw.text(
                (lay.left(c) + size / 2, lay.title_top + i * round(lay.title_px * 1.3)),
                line,
                fill="black",
                anchor="ma",
                font=font(lay.title_px, True),
            )
        if c:
            canvas.paste(
                Image.fromarray(legend_image(grid.methods[c - 1], size)), (lay.left(c), lay.legend_top)
            )
    first = Image.fromarray(input_cell(image, size))
    for r, v in enumerate(grid.variants):
        top = lay.top(r)
        draw.rectangle(
            [lay.margin // 4, top, lay.margin // 4 + 3, top + size - 1], fill=variant_colour(v)
        )  # the variant's colour, as in every figure
        canvas.paste(first, (lay.left(0), top))
        text(
            _caption_lines(row_label(v, grid.predictions.get(v, []), classes), lay),
            lay.left(0) + size / 2,
            top + size + 4,
            lay.font_px,
            bold_first=True,
        )
        for c, m in enumerate(grid.methods, start=1):
            cell = cells.get((v, m))
            if cell is None:
                draw.rectangle(
                    [lay.left(c), top, lay.left(c) + size - 1, top + size - 1], fill=(240, 240, 240)
                )
            else:
                canvas.paste(Image.fromarray(cell.image), (lay.left(c), top))
            text(
                _caption_lines(cell.caption if cell else MISSING_CELL, lay),
                lay.left(c) + size / 2,
                top + size + 4,
                lay.font_px,
            )
    for i, line in enumerate(lay.note_lines()):
        draw.text(
            (lay.margin, lay.note_top + i * lay.line_px), line, fill=(80, 80, 80), font=font(lay.font_px)
        )
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def png_data_uri(image: np.ndarray) -> str:
    """(H, W, 3) uint8 -> a PNG data URI: the HTML carries the cell's exact pixels (PNG is
    lossless) in a few kB instead of a JSON array of every value."""
    import base64

    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_from_data_uri(uri: str) -> np.ndarray:
    """The inverse of `png_data_uri` (for checking what an HTML figure shows)."""
    import base64

    data = base64.b64decode(uri.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _plotly_scale(signed: bool, stops: int = 11) -> list[list]:
    """The grid's matplotlib colour map as a plotly colour scale."""
    at = np.linspace(0, 1, stops)
    rgb = map_colours(at * 2 - 1 if signed else at, signed)  # (stops, 3)
    return [
        [float(t), "rgb({},{},{})".format(*(int(round(c * 255)) for c in col))] for t, col in zip(at, rgb)
    ]


def grid_figure(
    grid: Any,
    image: torch.Tensor,
    *,
    classes: Optional[Sequence[str]] = None,
    opacity: float = 0.5,
    cell_px: int = CELL_PX,
) -> go.Figure:
    """The grid as an interactive plotly figure: the same cell pixels at the same positions
    as `grid_png`, a colour bar per method, and each map's raw value on hover."""
    lay = grid_layout(grid, cell_px)
    size, cells = lay.size, _cells_of(grid, image, classes, opacity, cell_px)
    width, height = lay.width + MODEBAR_PX, lay.height
    fig = go.Figure()
    notes: list[dict] = []

    def paper_x(px: float) -> float:
        return px / width

    def paper_y(px: float) -> float:
        return 1 - px / height

    def axes(row: int, col: int) -> tuple[str, str]:
        k = row * lay.cols + col + 1
        s = "" if k == 1 else str(k)
        left, top = lay.left(col), lay.top(row)
        fig.update_layout(
            {
                f"xaxis{s}": dict(
                    domain=[paper_x(left), paper_x(left + size)],
                    anchor=f"y{s}",
                    range=[-0.5, size - 0.5],
                    visible=False,
                    fixedrange=True,
                ),
                f"yaxis{s}": dict(
                    domain=[paper_y(top + size), paper_y(top)],
                    anchor=f"x{s}",
                    range=[size - 0.5, -0.5],
                    visible=False,
                    fixedrange=True,
                ),
            }
        )
        return f"x{s}", f"y{s}"

    def caption(lines: Sequence[str], col: int, y: float, px: int, bold_first: bool = False) -> None:
        shown = [f"<b>{t}</b>" if bold_first and i == 0 else t for i, t in enumerate(lines)]
        notes.append(
            dict(
                text="<br>".join(shown),
                x=paper_x(lay.left(col) + size / 2),
                y=paper_y(y),
                xref="paper",
                yref="paper",
                xanchor="center",
                yanchor="top",
                showarrow=False,
                font=dict(size=px),
            )
        )

    for c, title in enumerate(column_titles(grid.methods)):
        caption([f"<b>{t}</b>" for t in _title_lines(title, lay)], c, lay.title_top, lay.title_px)
    first = input_cell(image, size)
    shown_bars: set[str] = set()
    for r, v in enumerate(grid.variants):
        top = lay.top(r)
        fig.add_shape(
            type="rect",
            xref="paper",
            yref="paper",
            line_width=0,
            fillcolor=variant_colour(v),
            x0=paper_x(lay.margin // 4),
            x1=paper_x(lay.margin // 4 + 4),
            y0=paper_y(top + size),
            y1=paper_y(top),
        )
        xr, yr = axes(r, 0)
        fig.add_trace(go.Image(source=png_data_uri(first), xaxis=xr, yaxis=yr, hoverinfo="skip"))
        caption(
            _caption_lines(row_label(v, grid.predictions.get(v, []), classes), lay),
            0,
            top + size + 4,
            lay.font_px,
            bold_first=True,
        )
        for c, m in enumerate(grid.methods, start=1):
            cell, exp = cells.get((v, m)), grid.cells.get((v, m))
            caption(
                _caption_lines(cell.caption if cell else MISSING_CELL, lay), c, top + size + 4, lay.font_px
            )
            if cell is None:
                fig.add_shape(
                    type="rect",
                    xref="paper",
                    yref="paper",
                    line_width=0,
                    fillcolor="rgb(240,240,240)",
                    x0=paper_x(lay.left(c)),
                    x1=paper_x(lay.left(c) + size),
                    y0=paper_y(top + size),
                    y1=paper_y(top),
                )
                continue
            xr, yr = axes(r, c)
            fig.add_trace(go.Image(source=png_data_uri(cell.image), xaxis=xr, yaxis=yr, hoverinfo="skip"))
            if cell.blank:
                continue
            axis = "coloraxis" if c == 1 else f"coloraxis{c}"
            h, w = exp.map.shape
            # invisible: it carries the hover values and the colour bar, the Image shows the pixels
            fig.add_trace(
                go.Heatmap(
                    z=scaled_map(exp.map, exp.signed),
                    customdata=exp.map.detach().float().numpy(),
                    x0=size / w / 2 - 0.5,
                    dx=size / w,
                    y0=size / h / 2 - 0.5,
                    dy=size / h,
                    xaxis=xr,
                    yaxis=yr,
                    opacity=0,
                    coloraxis=axis,
                    hovertemplate=f"{v} · {method_legend(m).title}<br>value %{{customdata:.3g}}"
                    f"<br>%{{z:.0%}} of full colour ({SCALE_PERCENTILE:g}th percentile of |value|)"
                    "<extra></extra>",
                )
            )
            shown_bars.add(m)
    for c, m in enumerate(grid.methods, start=1):
        if m not in shown_bars:
            continue
        leg = method_legend(m)
        fig.update_layout(
            {
                "coloraxis" if c == 1 else f"coloraxis{c}": dict(
                    colorscale=_plotly_scale(leg.signed),
                    cmin=-1 if leg.signed else 0,
                    cmax=1,
                    colorbar=dict(
                        orientation="h",
                        x=paper_x(lay.left(c) + size / 2),
                        xanchor="center",
                        y=paper_y(lay.legend_top),
                        yanchor="top",
                        len=size / width,
                        lenmode="fraction",
                        thickness=lay.bar_px,
                        outlinewidth=0,
                        xpad=0,
                        ypad=0,
                        showticklabels=False,
                        ticks="",
                    ),
                )
            }
        )
        # the labels as annotations, inside the bar's width (tick labels would spill over)
        for tick, at, anchor in zip(leg.ticks, (0, size / 2, size), ("left", "center", "right")):
            notes.append(
                dict(
                    text=tick,
                    x=paper_x(lay.left(c) + at),
                    xanchor=anchor,
                    y=paper_y(lay.legend_top + lay.bar_px + 3),
                    yanchor="top",
                    xref="paper",
                    yref="paper",
                    showarrow=False,
                    font=dict(size=lay.font_px),
                )
            )
    notes.append(
        dict(
            text="<br>".join(lay.note_lines()),
            x=paper_x(lay.margin),
            y=paper_y(lay.note_top),
            xref="paper",
            yref="paper",
            xanchor="left",
            yanchor="top",
            align="left",
            showarrow=False,
            font=dict(size=lay.font_px, color="#505050"),
        )
    )
    fig.update_layout(
        width=width,
        height=height,
        margin=dict(l=0, r=0, t=0, b=0),
        annotations=notes,
        plot_bgcolor="white",
        paper_bgcolor="white",
        showlegend=False,
        font=dict(family="DejaVu Sans, Verdana, sans-serif"),
        modebar=dict(orientation="v"),
    )
    return fig


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
    from sc_viz.embed import point_label

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
