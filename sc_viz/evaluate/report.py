"""report.json -> report.md (the paper's tables, its numbers beside ours) + figures.

Each suite brings its own section and charts (its `Suite`, evaluate/common.py); this
module lays them out: the claims tables, then every complete suite's section in
`SECTION_ORDER`, the training experiments' links and the run log; the figures in the same
order of suites.

Figures are described once as data (`Chart`: titled panels of named series) and drawn
twice: plotly for the interactive `figures.html` (plotly.js inlined once, so it opens
offline) and matplotlib for the PNGs the markdown embeds (no browser needed, unlike
kaleido). A suite may draw a figure its own way too (`Figure`: the embeddings, the budget
curves).

Uncertainty (`evaluate.stats`): accuracies get Wilson 95% intervals (from the accuracy and
n, so older reports get them too); mean measures the bootstrap intervals their suite
stored (`ci`); the claims table decides holds / does not hold / within noise from paired
bootstrap intervals of the differences on the suites' per-image values. A report stored
before the suites kept those shows "n/a (rerun the suite)" where an interval needs them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from sc_viz.evaluate.budget_claims import markdown as budget_claims_markdown
from sc_viz.evaluate.claims import markdown as claims_markdown
from sc_viz.evaluate.common import SUITES, Suite
from sc_viz.evaluate.related_claims import markdown as related_markdown
from sc_viz.evaluate.render import Chart, Figure, chart_figure, num, table
from sc_viz.experiments.summary import summary
from sc_viz.packs import atomic_write_bytes

# report.md's order of the suites' sections (and of the figures): the paper's experiments in
# the paper's order, then the checks it does not make. A suite not named here follows them,
# in the registry's order; the order the suites run in is the registry's.
SECTION_ORDER = (
    "continuity",
    "embeddings",
    "robustness",
    "robustness-budgets",
    "disruption",
    "saliency",
    "explanation-stability",
    "sanity",
    "neurons",
    "consensus",
)


def report_suites() -> list[tuple[str, Suite]]:
    """The registered suites, in report.md's order."""
    named = [name for name in SECTION_ORDER if name in SUITES]
    return [(name, SUITES[name]) for name in named + [n for n in SUITES if n not in named]]


def charts(report: dict) -> list[Chart]:
    """Every suite's charts as data, for the results the report holds, complete or not."""
    results = report.get("suites", {})
    return [
        chart for name, suite in report_suites() if name in results for chart in suite.charts(results[name])
    ]


def report_figures(report: dict) -> list[Figure]:
    """Every figure the report writes: per suite, its charts, then those it draws itself."""
    results = report.get("suites", {})
    out = []
    for name, suite in report_suites():
        if name in results:
            out += [chart_figure(chart) for chart in suite.charts(results[name])]
            out += suite.figures(results[name])
    return out


def write_figures(report: dict, out: Path) -> list[str]:
    """figures/<name>.png (matplotlib) + figures.html (plotly); returns notes on failures."""
    notes, html_parts = [], []
    for figure in report_figures(report):
        try:
            atomic_write_bytes(out / "figures" / f"{figure.name}.png", figure.png())
        except Exception as err:  # a PNG problem must not lose the report
            notes.append(f"{figure.name}.png not written: {type(err).__name__}: {err}")
        for div_id, fig in figure.plotly():
            html_parts.append(fig.to_html(full_html=False, include_plotlyjs=not html_parts, div_id=div_id))
    if html_parts:
        title = f"sc-viz report figures: {report['pack']['name']}"
        html = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1>" + "\n".join(html_parts) + "</body></html>"
        )
        atomic_write_bytes(out / "figures.html", html.encode())
    return notes


def sections(report: dict) -> list[str]:
    """The complete suites' sections, in report order."""
    out = []
    for name, suite in report_suites():
        if name in report["suites"] and report["status"].get(name, {}).get("state") == "complete":
            section = suite.markdown(report["suites"][name], report["settings"].get(name, {}))
            if section:
                out.append(section)
    return out


EXPERIMENTS = {  # folder under <report>/experiments -> (result file stem, title)
    "sweep-lambda": ("sweep_lambda", "lambda sweep (Fig. 5) and saliency smoothness"),
    "sweep-lambda-scratch": ("sweep_lambda", "lambda sweep, c trained from scratch as long as standard"),
    "transfer-fashion-mnist": ("transfer", "transferability to Fashion-MNIST (Sec. 4.6)"),
    "transfer-fashion-mnist-probe-full": (
        "transfer",
        "transferability to Fashion-MNIST, linear probe on the whole training split (Sec. 4.6)",
    ),
    "transfer-cifar10-lowres": ("transfer", "transferability to 16-px CIFAR-10 (Sec. 4.6)"),
    "transfer": ("transfer", "transferability (Sec. 4.6), single seed"),  # results stored before the seeds
    "fairness": ("fairness", "fairness (Sec. 4.7, Table 3)"),
}


def experiment_links(out: Optional[Path]) -> list[str]:
    """Links to the training experiments' results copied beside the report
    (scripts/run_experiments*.sh), when there are any, each with its summary (seed spreads,
    intervals, verdicts: `sc_viz.experiments.summary`)."""

    if out is None:
        return []
    lines = []
    for folder, (stem, title) in EXPERIMENTS.items():
        base = Path(out) / "experiments" / folder
        if not (base / f"{stem}.md").exists():
            continue
        line = f"- {title}: [experiments/{folder}/{stem}.md](experiments/{folder}/{stem}.md)"
        try:
            line += ". " + summary(json.loads((base / f"{stem}.json").read_text()), f"experiments/{folder}/")
        except (OSError, ValueError, KeyError, TypeError):  # no json, or an odd one: the link alone
            pass
        lines.append(line)
    return lines


def render_markdown(report: dict, notes: list[str] = (), out: Optional[Path] = None) -> str:
    p = report["pack"]
    md = [
        f"# Evaluation report: {p['name']}\n",
        f"Pack `{p['path']}` ({p['dataset']} / {p['arch']}, {p['input_size']} px), variants "
        f"{', '.join(p['variants'])}; weights hash `{p['hash'][:16]}`. Generated by "
        f"`sc-viz eval`, updated {report['updated']}. Every number below is in `report.json`.\n",
    ]
    if p.get("not_loaded"):
        md.append("Not loaded: " + "; ".join(f"{v}: {e}" for v, e in p["not_loaded"].items()) + "\n")

    for claims_table in (claims_markdown(report), budget_claims_markdown(report), related_markdown(report)):
        if claims_table:
            md.append(claims_table)
    md += sections(report)
    links = experiment_links(out)
    if links:
        md.append(
            "## Experiments that train\n\nMade by `sc-viz sweep-lambda`, `sc-viz transfer` "
            "and `sc-viz fairness` (`scripts/run_experiments.sh`, `scripts/run_experiments_device.sh`); "
            "seeded results give the mean over training seeds with their range, 95% intervals over "
            "the test images and verdicts:\n\n" + "\n".join(links) + "\n"
        )
    md += runs_section(report)
    if notes:
        md.append("\nNotes: " + "; ".join(notes) + "\n")
    md.append("\nInteractive figures: [figures.html](figures.html).\n")
    return "\n".join(md)


def runs_section(report: dict) -> list[str]:
    """The run log: each suite's state, times and sample, and the environment."""
    rows = [
        [
            name,
            st.get("state", "?"),
            num(st.get("seconds"), 0),
            num(st.get("cpu_seconds"), 0),
            str(report["settings"].get(name, {}).get("n", "-")),
            str(report["settings"].get(name, {}).get("seed", "-")),
            st.get("error", ""),
        ]
        for name, st in report["status"].items()
    ]
    env = report["environment"]
    return [
        "## Runs\n",
        table(["suite", "state", "wall s", "CPU s", "n", "seed", "error"], rows),
        "\nEnvironment: " + ", ".join(f"{k} {v}" for k, v in env.items() if v is not None) + "\n",
    ]


def write_report(report: dict, out, *, figures: bool = True) -> None:
    out = Path(out)
    notes = write_figures(report, out) if figures else []
    atomic_write_bytes(out / "report.md", render_markdown(report, notes, out).encode())
