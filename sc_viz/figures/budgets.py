"""Accuracy against the attack budget (the `robustness-budgets` suite, evaluate/budgets.py):
one line per variant through its clean accuracy (eps 0) and its PGD accuracy at each eps,
with a Wilson 95% band, in the variant's colour. Plotly for the app and figures.html,
matplotlib for the report's PNG; both draw the same `curves`. Floors are marked with an x.

Takes the suite's stored result (a dict, as report.json holds it), so the app, the report
and the tests draw it alike without running anything."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import plotly.graph_objects as go

from sc_viz.evaluate.budgets import NAME
from sc_viz.evaluate.stats import accuracy_interval
from sc_viz.variants import variant_colour, variant_order

TITLE = "Accuracy against the L-inf budget (PGD), Wilson 95% bands"
X_LABEL = "eps (/255); 0 = clean"


@dataclass(frozen=True)
class Curve:
    eps255: list[float]  # 0 (clean), then each budget the variant has
    accuracy: list[float]  # fractions
    low: list[float]  # Wilson 95% bounds
    high: list[float]
    floor: list[bool]  # PGD accuracy 0 with an upper bound below the floor line


def curves(result: Optional[dict], variants: Optional[Sequence[str]] = None) -> dict[str, Curve]:
    """{variant: Curve} of the suite's result for `variants` (default all, the registry's
    order), skipping variants without rows; {} when there is no result."""
    if not result or not result.get("results"):
        return {}
    rows = result["results"]
    names = variant_order([v for v in (variants if variants is not None else rows) if rows.get(v)])
    out = {}
    for v in names:
        per = rows[v]
        keys = [k for k in result.get("budgets", list(per)) if k in per]
        first = per[keys[0]]
        points = [(0.0, first["clean_acc"], first["n"], False)] + [
            (float(k), per[k]["pgd_acc"], per[k]["n"], bool(result.get("floor", {}).get(v, {}).get(k)))
            for k in keys
        ]
        bounds = [accuracy_interval(acc, n) for _, acc, n, _ in points]
        out[v] = Curve(
            [x for x, *_ in points],
            [acc for _, acc, _, _ in points],
            [b.low if b else acc for b, (_, acc, _, _) in zip(bounds, points)],
            [b.high if b else acc for b, (_, acc, _, _) in zip(bounds, points)],
            [f for *_, f in points],
        )
    return out


def _rgba(colour: str, alpha: float) -> str:
    """'#rrggbb' -> 'rgba(r, g, b, alpha)'."""
    h = colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha})"


def budget_figure(
    result: Optional[dict], variants: Optional[Sequence[str]] = None, height: int = 380
) -> Optional[go.Figure]:
    """The plotly chart (accuracy in %), or None when the result has no rows for `variants`."""
    data = curves(result, variants)
    if not data:
        return None
    fig = go.Figure()
    for v, c in data.items():
        colour = variant_colour(v)
        xs = [*c.eps255, *reversed(c.eps255)]
        ys = [100 * h for h in c.high] + [100 * lo for lo in reversed(c.low)]
        fig.add_scatter(  # the band: one closed polygon, upper bounds out and lower bounds back
            x=xs,
            y=ys,
            fill="toself",
            fillcolor=_rgba(colour, 0.18),
            line=dict(width=0),
            hoverinfo="skip",
            legendgroup=v,
            showlegend=False,
        )
        fig.add_scatter(
            x=c.eps255,
            y=[100 * a for a in c.accuracy],
            mode="lines+markers",
            name=v,
            legendgroup=v,
            line=dict(color=colour),
            marker=dict(
                symbol=["x" if f else "circle" for f in c.floor], size=[10 if f else 7 for f in c.floor]
            ),
            customdata=[
                [100 * lo, 100 * h, "floor" if f else ""] for lo, h, f in zip(c.low, c.high, c.floor)
            ],
            hovertemplate=f"{v}, eps %{{x:g}}/255: %{{y:.2f}}% [%{{customdata[0]:.2f}}, "
            "%{customdata[1]:.2f}] %{customdata[2]}<extra></extra>",
        )
    ticks = sorted({x for c in data.values() for x in c.eps255})
    fig.update_layout(
        title=TITLE,
        xaxis=dict(title=X_LABEL, tickvals=ticks, ticktext=[f"{x:g}" for x in ticks]),
        yaxis=dict(title="accuracy (%)", rangemode="tozero"),
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        template="plotly_white",
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


def budget_png(result: dict, variants: Optional[Sequence[str]] = None) -> bytes:
    """The same chart as a PNG (matplotlib, Agg): the report's figures/robustness_budgets.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = curves(result, variants)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for v, c in data.items():
        colour = variant_colour(v)
        ax.fill_between(
            c.eps255, [100 * x for x in c.low], [100 * x for x in c.high], color=colour, alpha=0.18, lw=0
        )
        ax.plot(c.eps255, [100 * a for a in c.accuracy], marker="o", color=colour, label=v)
        floors = [(x, 100 * a) for x, a, f in zip(c.eps255, c.accuracy, c.floor) if f]
        if floors:
            ax.scatter(*zip(*floors), marker="x", s=60, color=colour, zorder=3)
    ticks = sorted({x for c in data.values() for x in c.eps255})
    ax.set_xticks(ticks, [f"{x:g}" for x in ticks])
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if data:
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_title(TITLE, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def stored_budget_figure(stored, variants: Sequence[str]) -> Optional[tuple[go.Figure, str]]:
    """(chart, caption) of a stored report's robustness-budgets suite for `variants`, or None
    when the report has no complete sweep (stored: app.report_view.StoredReport): the
    Robustness page shows it beside the Table 2 chart."""
    result = stored.suite(NAME)
    fig = budget_figure(result, variants, height=360)
    if fig is None:
        return None
    steps = result.get("attack", {}).get("steps", "?")
    caption = (
        f"Accuracy against the budget: PGD-{steps}, L-inf, step eps/4, random start, on a seeded "
        f"sample of {result.get('n', 0):,} test images, the same for every eps and variant "
        "(eps 0: clean accuracy); bands: Wilson 95% intervals; x: a floor (0% with an upper bound "
        "below 0.1%). From the stored report; the image view above keeps its own eps."
    )
    return fig, caption
