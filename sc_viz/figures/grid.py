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
