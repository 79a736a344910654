"""Presentation mode's sizes: plot text scaled, cells as large as the columns allow."""

import plotly.graph_objects as go

from sc_viz.app import saliency_view as sv
from sc_viz.app import style


def test_plot_text_scales_only_in_presentation_mode():
    def fig():
        return go.Figure(go.Scatter(x=[1, 2], y=[3, 4]), layout=dict(height=300, margin=dict(t=40)))

    assert style.scale_fonts(fig(), False).to_plotly_json() == fig().to_plotly_json()
    big = style.scale_fonts(fig(), True).layout
    px = style.PLOT_FONT_PX * style.PLOT_SCALE
    assert big.font.size == px and big.legend.font.size == px and big.xaxis.tickfont.size == px
    assert big.height > 300 and big.margin.t > 40


def test_cells_fill_the_width_in_presentation_mode():
    assert sv.screen_cell_px(5, False) == sv.CELL_PX
    sizes = [sv.screen_cell_px(n, True) for n in range(2, 9)]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == sv.PRESENT_MAX_CELL_PX
    assert all(s % 32 == 0 and s >= sv.CELL_PX for s in sizes)
    for n, s in zip(range(2, 9), sizes):  # n columns fit the presentation width
        assert n * s <= sv.PRESENT_WIDTH_PX or s == sv.CELL_PX


def test_row_caption_names_the_variant_and_its_top_predictions():
    assert sv.row_caption("adv", [(1, 0.8), (0, 0.004)], ["cat", "dog"]) == "adv: dog 80% · cat <1%"
    assert style.per_row(4, True) == 2 and style.per_row(4, False) == 4 and style.per_row(1, True) == 1
