"""Figures shared by the app, the CLI and the reports: one module per kind of figure
(cells, grid, embedding, curves, sanity, budgets, neurons) and one HTML writer (html).

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

from sc_viz.figures.cells import (
    BLANK_GREY,
    CELL_PX,
    SCALE_NOTE,
    SCALE_PERCENTILE,
    SIGNED_CMAP,
    UNSIGNED_CMAP,
    GridCell,
    MethodLegend,
    cell_caption,
    cell_image,
    class_name,
    dimmed,
    full_colour_value,
    grid_cell,
    input_cell,
    is_blank,
    map_colours,
    method_legend,
    row_label,
    scaled_map,
)
from sc_viz.figures.curves import curves_figure, ds_lines
from sc_viz.figures.embedding import (
    POINT_STYLE,
    embedding_figure,
    embedding_png,
    legend_name,
    selected_rows,
    shared_ranges,
    violation_title,
)
from sc_viz.figures.grid import (
    GridLayout,
    column_titles,
    font,
    grid_figure,
    grid_layout,
    grid_png,
    image_from_data_uri,
    legend_image,
    png_data_uri,
    text_width,
    wrap,
)
from sc_viz.figures.html import figures_page, to_html

__all__ = [
    "BLANK_GREY",
    "CELL_PX",
    "POINT_STYLE",
    "SCALE_NOTE",
    "SCALE_PERCENTILE",
    "SIGNED_CMAP",
    "UNSIGNED_CMAP",
    "GridCell",
    "GridLayout",
    "MethodLegend",
    "cell_caption",
    "cell_image",
    "class_name",
    "column_titles",
    "curves_figure",
    "dimmed",
    "ds_lines",
    "embedding_figure",
    "embedding_png",
    "figures_page",
    "font",
    "full_colour_value",
    "grid_cell",
    "grid_figure",
    "grid_layout",
    "grid_png",
    "image_from_data_uri",
    "input_cell",
    "is_blank",
    "legend_image",
    "legend_name",
    "map_colours",
    "method_legend",
    "png_data_uri",
    "row_label",
    "scaled_map",
    "selected_rows",
    "shared_ranges",
    "text_width",
    "to_html",
    "violation_title",
    "wrap",
]
