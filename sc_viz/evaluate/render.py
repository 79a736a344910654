"""The report's rendering helpers, a leaf module: charts as data (`Chart`, `Panel`) drawn
with plotly (interactive) or matplotlib (PNG), figures as the report writes them
(`Figure`: a PNG and figures.html's divs), and the Markdown pieces (`num`, `pct`,
`with_ci`, `acc_ci`, `ci_note`, `table`). Every suite's own section and charts use them;
report.py assembles the suites, so nothing here imports a suite."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from sc_viz.evaluate.stats import NOT_COMPUTABLE, Interval, accuracy_interval
from sc_viz.variants import variant_colour


def bounds(interval: Optional[Interval]) -> Optional[list]:
    """[low, high] of an interval, None when there is none."""
    return interval.as_list() if interval is not None else None


# ---------------------------------------------------------------- figures as data
@dataclass
class Panel:
    title: str
    x: list  # shared x values (labels or numbers)
    series: dict  # name -> list of y (None = missing)
    x_label: str = ""
    y_label: str = ""
    kind: str = "line"  # line | bar
    # name -> [[low, high] or None per x]: 95% intervals drawn as error bars
    errors: dict = field(default_factory=dict)


def error_arms(ys: list, bounds: Optional[list]) -> tuple[list, list]:
    """(lengths above, lengths below) of the error bars of ys from their [low, high]."""
    up, down = [], []
    for y, b in zip(ys, bounds or [None] * len(ys)):
        ok = y is not None and b is not None and None not in b
        up.append(max(b[1] - y, 0.0) if ok else float("nan"))
        down.append(max(y - b[0], 0.0) if ok else float("nan"))
    return up, down


@dataclass
class Chart:
    name: str  # file stem
    title: str
    panels: list = field(default_factory=list)


def plotly_figure(chart: Chart):
    import plotly.graph_objects as go  # lazy: plotly's import costs a second
    from plotly.subplots import make_subplots

    n = len(chart.panels)
    fig = make_subplots(rows=1, cols=n, subplot_titles=[p.title for p in chart.panels])
    for i, panel in enumerate(chart.panels, start=1):
        for name, ys in panel.series.items():
            colour = variant_colour(name)
            common = dict(
                name=name,
                legendgroup=name,
                showlegend=(i == 1),
                marker_color=colour,
                x=[str(v) for v in panel.x] if panel.kind == "bar" else panel.x,
                y=ys,
            )
            if panel.errors.get(name):
                up, down = error_arms(ys, panel.errors[name])
                common["error_y"] = dict(type="data", symmetric=False, array=up, arrayminus=down, thickness=1)
            fig.add_trace(
                go.Bar(**common) if panel.kind == "bar" else go.Scatter(mode="lines+markers", **common),
                row=1,
                col=i,
            )
        fig.update_xaxes(title_text=panel.x_label, row=1, col=i)
        fig.update_yaxes(title_text=panel.y_label, row=1, col=i)
    fig.update_layout(
        title=chart.title, height=380, width=max(460, 330 * n), barmode="group", template="plotly_white"
    )
    return fig


def matplotlib_png(chart: Chart) -> bytes:
    import matplotlib  # lazy: the app and the CLI draw PNGs only on request

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(chart.panels)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.3), squeeze=False)
    for ax, panel in zip(axes[0], chart.panels):
        names = list(panel.series)
        for j, name in enumerate(names):
            ys = [float("nan") if y is None else y for y in panel.series[name]]
            colour = variant_colour(name)
            yerr = None
            if panel.errors.get(name):
                up, down = error_arms(panel.series[name], panel.errors[name])
                yerr = [down, up]
            if panel.kind == "bar":
                width = 0.8 / max(len(names), 1)
                xs = [k + (j - (len(names) - 1) / 2) * width for k in range(len(panel.x))]
                ax.bar(
                    xs,
                    ys,
                    width,
                    label=name,
                    color=colour,
                    yerr=yerr,
                    capsize=2,
                    error_kw={"elinewidth": 0.8},
                )
                ax.set_xticks(range(len(panel.x)), [str(v) for v in panel.x], rotation=30)
            else:
                ax.errorbar(
                    panel.x, ys, yerr=yerr, marker="o", label=name, color=colour, capsize=2, elinewidth=0.8
                )
        ax.set_title(panel.title, fontsize=10)
        ax.set_xlabel(panel.x_label)
        ax.set_ylabel(panel.y_label)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(chart.title, fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


@dataclass
class Figure:
    """A figure as the report writes it: figures/<name>.png and its divs in figures.html.
    Drawn only when written (plotly's and matplotlib's imports cost seconds), so that a
    report without figures pays nothing; a suite's charts become these (`chart_figure`), a
    suite that draws a figure its own way makes them itself."""

    name: str  # file stem
    png: Callable[[], bytes]
    plotly: Callable[[], list[tuple[str, Any]]]  # -> [(div id, plotly figure)]


def chart_figure(chart: Chart) -> Figure:
    return Figure(
        chart.name, lambda: matplotlib_png(chart), lambda: [(f"fig-{chart.name}", plotly_figure(chart))]
    )


# ---------------------------------------------------------------- Markdown
def pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def num(x: Optional[float], digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def with_ci(text: str, interval, scale: float = 1.0, digits: int = 3) -> str:
    """'text [low, high]' from an Interval or stored [low, high]; text alone without one."""
    if isinstance(interval, Interval):
        interval = interval.as_list()
    if not interval or None in interval:
        return text
    return f"{text} [{interval[0] * scale:.{digits}f}, {interval[1] * scale:.{digits}f}]"


def acc_ci(acc: Optional[float], n: Optional[int]) -> str:
    """An accuracy as a percentage with its Wilson 95% interval (in percent)."""
    return with_ci(pct(acc), accuracy_interval(acc, n), 100, 2)


def ci_note(result: dict, what: str = "bootstrap 95% intervals over images") -> str:
    """The sentence a section gets about its intervals (or why it has none)."""
    if "ci" in result:
        return f"In brackets: {what}.\n"
    return f"Intervals: {NOT_COMPUTABLE}; this report was stored before the suite kept them.\n"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
