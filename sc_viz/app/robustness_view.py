"""The Robustness page's test-set chart: clean and PGD accuracy per variant from the stored
report, with Wilson 95% error bars (`report_view.robustness_intervals`)."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go

from sc_viz.training.variants import variant_colour

KINDS = {"clean": "clean accuracy", "pgd": "PGD accuracy"}


def test_set_figure(stored, variants):
    """The chart of a stored report's robustness suite for `variants`, or None when the
    report has none (stored: report_view.StoredReport)."""
    from sc_viz.app.report_view import robustness_intervals

    intervals = robustness_intervals(stored, variants)
    if not intervals:
        return None
    result = stored.suite("robustness")
    points = {v: {"clean": result[v]["clean_acc"], "pgd": result[v]["pgd_acc"]} for v in intervals}
    return accuracy_figure(points, intervals)


def accuracy_figure(points: Mapping[str, Mapping[str, float]], intervals: Mapping[str, Mapping[str, list]]):
    """Grouped bars (clean, PGD) per variant in %, asymmetric error bars from the intervals.
    points: {variant: {"clean": acc, "pgd": acc}}; intervals: {variant: {"clean": [lo, hi], ...}}."""
    variants = [v for v in points if v in intervals]
    fig = go.Figure()
    for kind, name in KINDS.items():
        values = [100 * points[v][kind] for v in variants]
        fig.add_bar(
            x=variants,
            y=values,
            name=name,
            marker_color=[variant_colour(v) for v in variants],
            marker_pattern_shape="" if kind == "clean" else "/",
            error_y=dict(
                type="data",
                symmetric=False,
                # max(0, .): Wilson's bound at 0% is 0 up to round-off
                array=[max(0.0, 100 * intervals[v][kind][1] - y) for v, y in zip(variants, values)],
                arrayminus=[max(0.0, y - 100 * intervals[v][kind][0]) for v, y in zip(variants, values)],
            ),
            hovertemplate="%{x}: %{y:.2f}%<extra>" + name + "</extra>",
        )
    fig.update_layout(
        barmode="group",
        yaxis_title="accuracy (%), 95% Wilson interval",
        height=360,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h", y=1.1),
    )
    return fig
