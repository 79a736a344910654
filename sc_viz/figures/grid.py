"""The explanation grid: one row per variant, one column per method in the chosen order
(after a column with the input and the variant's top-3 predictions). ONE layout
(`GridLayout`) for the screen and the exports: `grid_png` pastes the page's cells pixel for
pixel, `grid_figure` shows the same pixels in plotly with the raw values on hover."""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw, ImageFont

from sc_viz.figures.cells import (
    CELL_PX,
    SCALE_NOTE,
    SCALE_PERCENTILE,
    GridCell,
    grid_cell,
    input_cell,
    map_colours,
    method_legend,
    row_label,
    scaled_map,
)
from sc_viz.variants import variant_colour

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
    canvas = _PngGrid(grid, lay, image)
    _walk_grid(grid, lay, _cells_of(grid, image, classes, opacity, cell_px), classes, canvas)
    data = canvas.png()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def _walk_grid(grid: Any, lay: GridLayout, cells: dict[tuple[str, str], GridCell], classes, out: Any) -> None:
    """The grid's parts in drawing order, shared by the PNG (`_PngGrid`) and the plotly
    figure (`_PlotlyGrid`), each of which paints a part its own way: the column heads,
    then per variant its colour mark, the input with the row label and each method's cell
    with its caption, then the colour bars and the scale note."""
    for c, title in enumerate(column_titles(grid.methods)):
        out.column_head(c, _title_lines(title, lay))
    for r, v in enumerate(grid.variants):
        top = lay.top(r)
        out.variant_mark(v, top)
        out.input_cell(r, top, _caption_lines(row_label(v, grid.predictions.get(v, []), classes), lay))
        for c, m in enumerate(grid.methods, start=1):
            cell = cells.get((v, m))
            out.method_cell(
                r, c, top, (v, m), cell, _caption_lines(cell.caption if cell else MISSING_CELL, lay)
            )
    out.colour_bars()
    out.note(lay.note_lines())


class _PngGrid:
    """The grid's parts (`_walk_grid`) painted on one PIL canvas."""

    def __init__(self, grid: Any, lay: GridLayout, image: torch.Tensor):
        self.grid, self.lay, self.size = grid, lay, lay.size
        self.canvas = Image.new("RGB", (lay.width, lay.height), "white")
        self.draw = ImageDraw.Draw(self.canvas)
        self.first = Image.fromarray(input_cell(image, lay.size))

    def text(self, lines: Sequence[str], x: float, y: float, px: int, bold_first: bool = False) -> None:
        for i, line in enumerate(lines):
            self.draw.text(
                (x, y + i * round(px * 1.35)),
                line,
                fill="black",
                anchor="ma",
                font=font(px, bold_first and i == 0),
            )

    def column_head(self, c: int, lines: Sequence[str]) -> None:
        """The column's title and, under a method's, its colour bar."""
        lay = self.lay
        for i, line in enumerate(lines):
            self.draw.text(
                (lay.left(c) + self.size / 2, lay.title_top + i * round(lay.title_px * 1.3)),
                line,
                fill="black",
                anchor="ma",
                font=font(lay.title_px, True),
            )
        if c:
            self.canvas.paste(
                Image.fromarray(legend_image(self.grid.methods[c - 1], self.size)),
                (lay.left(c), lay.legend_top),
            )

    def variant_mark(self, v: str, top: int) -> None:
        """The variant's colour, as in every figure."""
        m = self.lay.margin
        self.draw.rectangle([m // 4, top, m // 4 + 3, top + self.size - 1], fill=variant_colour(v))

    def input_cell(self, r: int, top: int, caption: Sequence[str]) -> None:
        lay = self.lay
        self.canvas.paste(self.first, (lay.left(0), top))
        self.text(caption, lay.left(0) + self.size / 2, top + self.size + 4, lay.font_px, bold_first=True)

    def method_cell(
        self, r: int, c: int, top: int, key: tuple[str, str], cell: Optional[GridCell], caption: Sequence[str]
    ) -> None:
        lay, size = self.lay, self.size
        if cell is None:
            self.draw.rectangle(
                [lay.left(c), top, lay.left(c) + size - 1, top + size - 1], fill=(240, 240, 240)
            )
        else:
            self.canvas.paste(Image.fromarray(cell.image), (lay.left(c), top))
        self.text(caption, lay.left(c) + size / 2, top + size + 4, lay.font_px)

    def colour_bars(self) -> None:
        """Nothing more: each bar was pasted under its title (`column_head`)."""

    def note(self, lines: Sequence[str]) -> None:
        lay = self.lay
        for i, line in enumerate(lines):
            self.draw.text(
                (lay.margin, lay.note_top + i * lay.line_px), line, fill=(80, 80, 80), font=font(lay.font_px)
            )

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.canvas.save(buf, format="PNG")
        return buf.getvalue()


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
    figure = _PlotlyGrid(grid, lay, image)
    _walk_grid(grid, lay, _cells_of(grid, image, classes, opacity, cell_px), classes, figure)
    return figure.figure()


class _PlotlyGrid:
    """The grid's parts (`_walk_grid`) as a plotly figure: each cell's pixels an Image on
    axes of its own at the PNG's position, text as annotations in paper coordinates, an
    invisible Heatmap per map for the hover values and the method's colour bar."""

    def __init__(self, grid: Any, lay: GridLayout, image: torch.Tensor):
        self.grid, self.lay, self.size = grid, lay, lay.size
        self.width, self.height = lay.width + MODEBAR_PX, lay.height
        self.fig = go.Figure()
        self.notes: list[dict] = []
        self.first = png_data_uri(input_cell(image, lay.size))
        self.shown_bars: set[str] = set()

    def paper_x(self, px: float) -> float:
        return px / self.width

    def paper_y(self, px: float) -> float:
        return 1 - px / self.height

    def axes(self, row: int, col: int) -> tuple[str, str]:
        """The axes of the cell at (row, col), laid out on its pixels: their names."""
        k = row * self.lay.cols + col + 1
        s = "" if k == 1 else str(k)
        left, top, size = self.lay.left(col), self.lay.top(row), self.size
        self.fig.update_layout(
            {
                f"xaxis{s}": dict(
                    domain=[self.paper_x(left), self.paper_x(left + size)],
                    anchor=f"y{s}",
                    range=[-0.5, size - 0.5],
                    visible=False,
                    fixedrange=True,
                ),
                f"yaxis{s}": dict(
                    domain=[self.paper_y(top + size), self.paper_y(top)],
                    anchor=f"x{s}",
                    range=[size - 0.5, -0.5],
                    visible=False,
                    fixedrange=True,
                ),
            }
        )
        return f"x{s}", f"y{s}"

    def caption(self, lines: Sequence[str], col: int, y: float, px: int, bold_first: bool = False) -> None:
        shown = [f"<b>{t}</b>" if bold_first and i == 0 else t for i, t in enumerate(lines)]
        self.notes.append(
            dict(
                text="<br>".join(shown),
                x=self.paper_x(self.lay.left(col) + self.size / 2),
                y=self.paper_y(y),
                xref="paper",
                yref="paper",
                xanchor="center",
                yanchor="top",
                showarrow=False,
                font=dict(size=px),
            )
        )

    def rectangle(self, colour: str, x0: float, x1: float, top: int) -> None:
        """A filled rectangle over a cell's height, from x0 to x1 (pixels)."""
        self.fig.add_shape(
            type="rect",
            xref="paper",
            yref="paper",
            line_width=0,
            fillcolor=colour,
            x0=self.paper_x(x0),
            x1=self.paper_x(x1),
            y0=self.paper_y(top + self.size),
            y1=self.paper_y(top),
        )

    def column_head(self, c: int, lines: Sequence[str]) -> None:
        """The column's title (the colour bars come after the rows: `colour_bars`)."""
        self.caption([f"<b>{t}</b>" for t in lines], c, self.lay.title_top, self.lay.title_px)

    def variant_mark(self, v: str, top: int) -> None:
        m = self.lay.margin
        self.rectangle(variant_colour(v), m // 4, m // 4 + 4, top)

    def input_cell(self, r: int, top: int, caption: Sequence[str]) -> None:
        xr, yr = self.axes(r, 0)
        self.fig.add_trace(go.Image(source=self.first, xaxis=xr, yaxis=yr, hoverinfo="skip"))
        self.caption(caption, 0, top + self.size + 4, self.lay.font_px, bold_first=True)

    def method_cell(
        self, r: int, c: int, top: int, key: tuple[str, str], cell: Optional[GridCell], caption: Sequence[str]
    ) -> None:
        self.caption(caption, c, top + self.size + 4, self.lay.font_px)
        if cell is None:
            self.rectangle("rgb(240,240,240)", self.lay.left(c), self.lay.left(c) + self.size, top)
            return
        xr, yr = self.axes(r, c)
        self.fig.add_trace(go.Image(source=png_data_uri(cell.image), xaxis=xr, yaxis=yr, hoverinfo="skip"))
        if cell.blank:
            return
        self.hover_values(key, c, xr, yr)
        self.shown_bars.add(key[1])

    def hover_values(self, key: tuple[str, str], c: int, xr: str, yr: str) -> None:
        """The map's raw values on hover, in an invisible Heatmap over the cell's Image (it
        also carries the method's colour axis, hence its colour bar)."""
        (v, m), exp, size = key, self.grid.cells.get(key), self.size
        axis = "coloraxis" if c == 1 else f"coloraxis{c}"
        h, w = exp.map.shape
        # invisible: it carries the hover values and the colour bar, the Image shows the pixels
        self.fig.add_trace(
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

    def colour_bars(self) -> None:
        """A colour bar under each title whose method shows a map."""
        for c, m in enumerate(self.grid.methods, start=1):
            if m in self.shown_bars:
                self.colour_bar(c, m)

    def colour_bar(self, c: int, m: str) -> None:
        lay, size, leg = self.lay, self.size, method_legend(m)
        self.fig.update_layout(
            {
                "coloraxis" if c == 1 else f"coloraxis{c}": dict(
                    colorscale=_plotly_scale(leg.signed),
                    cmin=-1 if leg.signed else 0,
                    cmax=1,
                    colorbar=dict(
                        orientation="h",
                        x=self.paper_x(lay.left(c) + size / 2),
                        xanchor="center",
                        y=self.paper_y(lay.legend_top),
                        yanchor="top",
                        len=size / self.width,
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
            self.notes.append(
                dict(
                    text=tick,
                    x=self.paper_x(lay.left(c) + at),
                    xanchor=anchor,
                    y=self.paper_y(lay.legend_top + lay.bar_px + 3),
                    yanchor="top",
                    xref="paper",
                    yref="paper",
                    showarrow=False,
                    font=dict(size=lay.font_px),
                )
            )

    def note(self, lines: Sequence[str]) -> None:
        self.notes.append(
            dict(
                text="<br>".join(lines),
                x=self.paper_x(self.lay.margin),
                y=self.paper_y(self.lay.note_top),
                xref="paper",
                yref="paper",
                xanchor="left",
                yanchor="top",
                align="left",
                showarrow=False,
                font=dict(size=self.lay.font_px, color="#505050"),
            )
        )

    def figure(self) -> go.Figure:
        self.fig.update_layout(
            width=self.width,
            height=self.height,
            margin=dict(l=0, r=0, t=0, b=0),
            annotations=self.notes,
            plot_bgcolor="white",
            paper_bgcolor="white",
            showlegend=False,
            font=dict(family="DejaVu Sans, Verdana, sans-serif"),
            modebar=dict(orientation="v"),
        )
        return self.fig
