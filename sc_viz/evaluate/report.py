"""report.json -> report.md (the paper's tables, its numbers beside ours) + figures.

Figures are described once as data (`Chart`: titled panels of named series) and drawn
twice: plotly for the interactive `figures.html` (plotly.js inlined once, so it opens
offline) and matplotlib for the PNGs the markdown embeds (no browser needed, unlike
kaleido).

Uncertainty (`evaluate.stats`): accuracies get Wilson 95% intervals (from the accuracy and
n, so older reports get them too); mean measures the bootstrap intervals their suite
stored (`ci`); the claims table decides holds / does not hold / within noise from paired
bootstrap intervals of the differences on the suites' per-image values. A report stored
before the suites kept those shows "n/a (rerun the suite)" where an interval needs them.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Optional

from sc_viz import paper
from sc_viz.evaluate.budget_claims import markdown as budget_claims_markdown
from sc_viz.evaluate.budgets import FIGURE_NAME as BUDGETS_FIGURE
from sc_viz.evaluate.budgets import NAME as BUDGETS
from sc_viz.evaluate.budgets import markdown as budgets_markdown
from sc_viz.evaluate.claims import markdown as claims_markdown
from sc_viz.evaluate.consensus import charts as consensus_charts
from sc_viz.evaluate.embeddings import stored_embeddings
from sc_viz.evaluate.neurons import charts as neuron_charts
from sc_viz.evaluate.related_claims import markdown as related_markdown
from sc_viz.evaluate.render import (
    Chart,
    Panel,
    acc_ci,
    bounds,
    ci_note,
    matplotlib_png,
    num,
    pct,
    plotly_figure,
    table,
    with_ci,
)
from sc_viz.evaluate.sanity import charts as sanity_charts
from sc_viz.evaluate.sanity import markdown as sanity_markdown
from sc_viz.evaluate.stats import NOT_COMPUTABLE, accuracy_interval
from sc_viz.experiments.summary import summary
from sc_viz.packs import atomic_write_bytes

PERTURBATIONS = list(paper.PERTURBATIONS)
LEVEL_KEYS = [str(lv) for lv in paper.LEVEL_IDS]  # report.json's keys of the levels


def charts(report: dict) -> list[Chart]:
    s = report.get("suites", {})
    out = []
    if "continuity" in s:
        c = s["continuity"]
        for key, name, title, ylab in (
            ("mean_ds", "fig4_mean_ds", "Mean DS per perturbation level (Fig. 4)", "mean DS"),
            (
                "violation_rate",
                "fig1_violations",
                "Same-class images closer than the perturbed copy (Fig. 1)",
                "violation rate",
            ),
        ):
            ci = c.get("ci", {}).get(key)  # absent in reports stored before the intervals
            out.append(
                Chart(
                    name,
                    title + (", 95% intervals" if ci else ""),
                    [
                        Panel(
                            p,
                            paper.LEVEL_IDS,
                            {v: [c[key][v][p][lv] for lv in LEVEL_KEYS] for v in c[key]},
                            "level",
                            ylab,
                            errors={v: [ci[v][p][lv] for lv in LEVEL_KEYS] for v in ci} if ci else {},
                        )
                        for p in PERTURBATIONS
                    ],
                )
            )
    if "robustness" in s:
        r = s["robustness"]
        out.append(
            Chart(
                "table2_robustness",
                "Clean and PGD accuracy (Table 2), Wilson 95% intervals",
                [
                    Panel(
                        "accuracy",
                        ["clean", "PGD"],
                        {v: [r[v]["clean_acc"], r[v]["pgd_acc"]] for v in r},
                        "",
                        "accuracy",
                        kind="bar",
                        errors={
                            v: [
                                bounds(accuracy_interval(r[v][k], r[v].get("n")))
                                for k in ("clean_acc", "pgd_acc")
                            ]
                            for v in r
                        },
                    )
                ],
            )
        )
    if "disruption" in s:
        d = s["disruption"]
        labels = {
            "channel_shift": "shift d (px)",
            "centre_noise": "centre fraction",
            "sliding_puzzle": "blocks per side k",
        }
        out.append(
            Chart(
                "tables7_9_11_disruption",
                "Accuracy under semantic disruption, Wilson 95% intervals",
                [
                    Panel(
                        t.replace("_", " "),
                        strengths,
                        {v: [d["accuracy"][v][t][str(x)] for x in strengths] for v in d["accuracy"]},
                        labels.get(t, t),
                        "accuracy",
                        errors={
                            v: [
                                bounds(accuracy_interval(d["accuracy"][v][t][str(x)], d["n"]))
                                for x in strengths
                            ]
                            for v in d["accuracy"]
                        },
                    )
                    for t, strengths in d["strengths"].items()
                ],
            )
        )
    if "explanation-stability" in s:
        st = s["explanation-stability"]
        out.append(
            Chart(
                "explanation_stability",
                f"Explanation stability at level {st['level']} (Spearman rho, map of x vs map of T(x))",
                [
                    Panel(
                        m,
                        PERTURBATIONS,
                        {v: [st["spearman"][v][m][p] for p in PERTURBATIONS] for v in st["spearman"]},
                        "",
                        "Spearman rho",
                        kind="bar",
                        errors={
                            v: [st["ci"]["spearman"][v][m][p] for p in PERTURBATIONS] for v in st["spearman"]
                        }
                        if "ci" in st
                        else {},
                    )
                    for m in st["methods"]
                ],
            )
        )
    if "sanity" in s:
        out += sanity_charts(s["sanity"])
    if "neurons" in s:
        out += neuron_charts(s["neurons"])
    if "consensus" in s:
        out += consensus_charts(s["consensus"])
    return out


def embedding_name(i: int) -> str:
    return f"fig2_embeddings_{i + 1}"


def embedding_figures(report: dict) -> list[tuple[str, list]]:
    """[(file stem, [Embedding per method])] for the images of the embeddings suite."""

    e = report.get("suites", {}).get("embeddings")
    if not e:
        return []
    return [
        (embedding_name(i), list(stored_embeddings(entry, e["level"]).values()))
        for i, entry in enumerate(e["images"])
    ]


def write_figures(report: dict, out: Path) -> list[str]:
    """figures/<name>.png (matplotlib) + figures.html (plotly); returns notes on failures."""
    from sc_viz.figures import embedding_figure, embedding_png  # lazy: plotly, only with figures

    notes, html_parts = [], []
    for chart in charts(report):
        try:
            atomic_write_bytes(out / "figures" / f"{chart.name}.png", matplotlib_png(chart))
        except Exception as err:  # a PNG problem must not lose the report
            notes.append(f"{chart.name}.png not written: {type(err).__name__}: {err}")
        fig = plotly_figure(chart)
        html_parts.append(
            fig.to_html(full_html=False, include_plotlyjs=not html_parts, div_id=f"fig-{chart.name}")
        )
    notes += _budget_figures(report, out, html_parts)
    for name, embeddings in embedding_figures(report):
        try:
            atomic_write_bytes(out / "figures" / f"{name}.png", embedding_png(embeddings))
        except Exception as err:
            notes.append(f"{name}.png not written: {type(err).__name__}: {err}")
        for emb in embeddings:
            fig = embedding_figure(emb, cell_px=300)
            fig.update_layout(title=f"{name}: {emb.method.upper()} (joint)")
            html_parts.append(
                fig.to_html(
                    full_html=False, include_plotlyjs=not html_parts, div_id=f"fig-{name}-{emb.method}"
                )
            )
    if html_parts:
        title = f"sc-viz report figures: {report['pack']['name']}"
        html = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1>" + "\n".join(html_parts) + "</body></html>"
        )
        atomic_write_bytes(out / "figures.html", html.encode())
    return notes


def _continuity_md(c: dict, settings: dict) -> str:
    md = [
        f"## Continuity under perturbation (Sec. 4.2, Fig. 4)\n\nMean DS = mean of "
        f"||f(x) - f(T(x))||_2 over n = {c['n']} test images (logits; lower = more continuous).\n"
    ]
    md.append(ci_note(c))
    ci = c.get("ci", {})
    rows = [
        [p, v]
        + [
            with_ci(num(c["mean_ds"][v][p][lv]), ci.get("mean_ds", {}).get(v, {}).get(p, {}).get(lv))
            for lv in LEVEL_KEYS
        ]
        for p in PERTURBATIONS
        for v in c["mean_ds"]
    ]
    md.append(table(["perturbation", "variant"] + [f"level {lv}" for lv in paper.LEVEL_IDS], rows))
    md.append(
        "\nSum of the four level-1 mean DS (the continuity measure of Fig. 5): "
        + ", ".join(f"{v} {num(x)}" for v, x in c["level1_ds_sum"].items())
        + "\n"
    )
    md.append(
        "\n### Continuity violations (Sec. 3.2, Fig. 1)\n\nShare of same-class test images "
        "closer to x (in logit space) than x's perturbed copy, mean over images; in "
        "brackets the share of images with at least one such neighbour"
        + (
            " (square brackets: 95% intervals, bootstrap over images for the rate, Wilson for the share).\n"
            if ci
            else f"; intervals {NOT_COMPUTABLE}.\n"
        )
    )

    def cell(v, p, lv):
        rate = with_ci(
            pct(c["violation_rate"][v][p][lv]),
            ci.get("violation_rate", {}).get(v, {}).get(p, {}).get(lv),
            100,
            2,
        )
        share = with_ci(
            pct(c["violated_share"][v][p][lv]),
            ci.get("violated_share", {}).get(v, {}).get(p, {}).get(lv),
            100,
            2,
        )
        return f"{rate} ({share})"

    rows = [
        [p, v] + [cell(v, p, lv) for lv in LEVEL_KEYS] for p in PERTURBATIONS for v in c["violation_rate"]
    ]
    md.append(table(["perturbation", "variant"] + [f"level {lv}" for lv in paper.LEVEL_IDS], rows))
    md.append("\n![Fig. 4](figures/fig4_mean_ds.png)\n![Fig. 1](figures/fig1_violations.png)\n")
    return "\n".join(md)


def _robustness_md(r: dict) -> str:
    anchors = paper.PAPER_RESULTS["table2"]
    any_v = next(iter(r.values()))
    md = [
        f"## Adversarial robustness (Sec. 4.4, Table 2)\n\nPGD-{any_v['steps']}, L-inf eps "
        f"{any_v['eps'] * 255:.1f}/255, step {any_v['step_size'] * 255:.1f}/255, random start; "
        f"n = {any_v['n']}; in brackets Wilson 95% intervals. Paper columns: the paper's own "
        "models (other data sets).\n"
    ]
    header = ["variant", "clean", "PGD"] + [f"paper {k} clean / PGD" for k in anchors]
    rows = [
        [v, acc_ci(x["clean_acc"], x.get("n")), acc_ci(x["pgd_acc"], x.get("n"))]
        + [" / ".join(pct(a) for a in anchors[k][v]) if v in anchors[k] else "-" for k in anchors]
        for v, x in r.items()
    ]
    md.append(table(header, rows))
    md.append("\n![Table 2](figures/table2_robustness.png)\n")
    return "\n".join(md)


def _disruption_md(d: dict) -> str:
    titles = {
        "channel_shift": (
            "RGB channel translation (Sec. 4.3.1, Table 7)",
            "R shifted d px and B 2d px to the lower right, wrapping around",
        ),
        "centre_noise": (
            "Centre randomisation (Sec. 4.3.2, Table 9)",
            "central square (fraction of the side) replaced by uniform noise",
        ),
        "sliding_puzzle": ("Sliding puzzle (Sec. 4.3.3, Table 11)", "k x k blocks shuffled"),
    }
    md = [
        f"## Semantic disruption (Sec. 4.3)\n\nAccuracy on n = {d['n']} test images, in "
        "brackets Wilson 95% intervals. The paper "
        "reports these tables for its own models; its strengths did not survive extraction, "
        "so the strengths are the project's.\n"
    ]
    for t, strengths in d["strengths"].items():
        title, what = titles.get(t, (t, ""))
        md.append(f"### {title}\n\n{what}.\n")
        rows = [
            [v, acc_ci(d["clean_acc"][v], d["n"])]
            + [acc_ci(d["accuracy"][v][t][str(s)], d["n"]) for s in strengths]
            for v in d["accuracy"]
        ]
        md.append(table(["variant", "clean"] + [str(s) for s in strengths], rows))
    md.append("\n![disruption](figures/tables7_9_11_disruption.png)\n")
    return "\n".join(md)


def _saliency_md(s: dict) -> str:
    md = [
        f"## Explanation measures (Sec. 4.5, measured)\n\nMean over n = {s['n']} test images; "
        "each map explains the variant's own predicted class. " + ci_note(s)
    ]
    ci = s.get("ci", {})
    for m in s["methods"]:
        keys = sorted({k for v in s["measures"] for k in s["measures"][v][m]})
        rows = [
            [v]
            + [
                with_ci(num(s["measures"][v][m].get(k), 4), ci.get(v, {}).get(m, {}).get(k), digits=4)
                for k in keys
            ]
            for v in s["measures"]
        ]
        md.append(f"### {m}\n")
        md.append(table(["variant"] + keys, rows))
    return "\n".join(md)


def _stability_md(s: dict) -> str:
    md = [
        f"## Explanation stability (new; not in the paper)\n\nHow much a variant's map moves "
        f"when the image gets a level-{s['level']} photometric perturbation: Spearman rank "
        f"correlation / SSIM between the map of x and the map of T(x), mean over n = {s['n']} "
        "images (1 = unchanged). " + ci_note(s)
    ]
    ci = s.get("ci", {})

    def cell(v, m, p):
        return " / ".join(
            with_ci(num(s[k][v][m][p]), ci.get(k, {}).get(v, {}).get(m, {}).get(p))
            for k in ("spearman", "ssim")
        )

    for m in s["methods"]:
        rows = [[v] + [cell(v, m, p) for p in PERTURBATIONS] for v in s["spearman"]]
        md.append(f"### {m}\n")
        md.append(table(["variant"] + PERTURBATIONS, rows))
    md.append("\n![stability](figures/explanation_stability.png)\n")
    return "\n".join(md)


def _embeddings_md(e: dict, settings: dict) -> str:
    md = [
        f"## Semantic discontinuity evidence (Sec. 3.2, Fig. 1-2)\n\nFor each image x: its "
        f"four level-{e['level']} perturbations and up to {e['count']} other test images of "
        "its class, projected with PCA, t-SNE and UMAP (one joint fit over the variants, so "
        "a row's plots share axes). Cells: same-class images closer to x than the "
        "perturbed copy (violations) / the copy's DS to x.\n"
    ]
    for i, entry in enumerate(e["images"]):
        kinds = entry["kinds"]
        perturbed = [(j, k) for j, k in enumerate(kinds) if k not in ("x", "same_class")]
        where = (
            "test image"
            if settings.get("limit") is None
            else f"image of the seeded {settings['n']}-image test sample, position"
        )
        md.append(
            f"### {entry['class']}: {where} {entry['position']}, {entry['same_class']} same-class images\n"
        )
        rows = [
            [v] + [f"{entry['violations'][v][k]} / {num(entry['distances'][v][j])}" for j, k in perturbed]
            for v in entry["violations"]
        ]
        md.append(table(["variant"] + [k for _, k in perturbed], rows))
        md.append(f"\n![embeddings {i + 1}](figures/{embedding_name(i)}.png)\n")
    return "\n".join(md)


SECTIONS = {
    "continuity": lambda r: _continuity_md(r["suites"]["continuity"], r["settings"].get("continuity", {})),
    "embeddings": lambda r: _embeddings_md(r["suites"]["embeddings"], r["settings"].get("embeddings", {})),
    "robustness": lambda r: _robustness_md(r["suites"]["robustness"]),
    "robustness-budgets": lambda r: _budgets_md(r),
    "disruption": lambda r: _disruption_md(r["suites"]["disruption"]),
    "saliency": lambda r: _saliency_md(r["suites"]["saliency"]),
    "explanation-stability": lambda r: _stability_md(r["suites"]["explanation-stability"]),
    "sanity": lambda r: _sanity_md(r["suites"]["sanity"]),
    "neurons": lambda r: _suite_md("neurons", r),
    "consensus": lambda r: _suite_md("consensus", r),
}


def _suite_md(name: str, report: dict) -> str:
    """The section of a suite that renders its own (its module's `markdown`)."""
    return importlib.import_module(f"sc_viz.evaluate.{name}").markdown(report["suites"][name])


def _budgets_md(report: dict) -> str:
    return budgets_markdown(report)  # the suite's own section


def _budget_figures(report: dict, out: Path, html_parts: list) -> list[str]:
    """The robustness-budgets chart (accuracy against eps, Wilson bands; sc_viz/figures/budgets.py):
    its PNG, and its plotly div appended to `html_parts`; returns notes on failures."""
    from sc_viz.figures.budgets import budget_figure, budget_png  # lazy: plotly, only with figures

    result = report.get("suites", {}).get(BUDGETS)
    fig = budget_figure(result)
    if fig is None:
        return []
    html_parts.append(
        fig.to_html(full_html=False, include_plotlyjs=not html_parts, div_id=f"fig-{BUDGETS_FIGURE}")
    )
    try:
        atomic_write_bytes(out / "figures" / f"{BUDGETS_FIGURE}.png", budget_png(result))
    except Exception as err:  # a PNG problem must not lose the report
        return [f"{BUDGETS_FIGURE}.png not written: {type(err).__name__}: {err}"]
    return []


def _sanity_md(result: dict) -> str:
    return sanity_markdown(result)


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
    p, env = report["pack"], report["environment"]
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
    for name, render in SECTIONS.items():
        if name in report["suites"] and report["status"].get(name, {}).get("state") == "complete":
            md.append(render(report))
    links = experiment_links(out)
    if links:
        md.append(
            "## Experiments that train\n\nMade by `sc-viz sweep-lambda`, `sc-viz transfer` "
            "and `sc-viz fairness` (`scripts/run_experiments.sh`, `scripts/run_experiments_device.sh`); "
            "seeded results give the mean over training seeds with their range, 95% intervals over "
            "the test images and verdicts:\n\n" + "\n".join(links) + "\n"
        )
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
    md.append("## Runs\n")
    md.append(table(["suite", "state", "wall s", "CPU s", "n", "seed", "error"], rows))
    md.append("\nEnvironment: " + ", ".join(f"{k} {v}" for k, v in env.items() if v is not None) + "\n")
    if notes:
        md.append("\nNotes: " + "; ".join(notes) + "\n")
    md.append("\nInteractive figures: [figures.html](figures.html).\n")
    return "\n".join(md)


def write_report(report: dict, out, *, figures: bool = True) -> None:
    out = Path(out)
    notes = write_figures(report, out) if figures else []
    atomic_write_bytes(out / "report.md", render_markdown(report, notes, out).encode())
