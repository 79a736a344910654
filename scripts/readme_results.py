"""Rewrite the README's results block from a pack's report.json (no number typed by hand).

.venv/bin/python scripts/readme_results.py [reports/cifar10-resnet20]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from sc_viz.paper import PERTURBATIONS, SUMMARY_LEVEL

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- results:start -->", "<!-- results:end -->"


def results_block(report: dict, report_dir: str) -> str:
    suites = report["suites"]
    rob, cont = suites.get("robustness", {}), suites.get("continuity", {})
    variants = [v for v in report["pack"]["variants"] if v in rob or v in cont.get("mean_ds", {})]
    lines = [
        f"Measured by `sc-viz eval` on `{report['pack']['name']}` "
        f"(`{report_dir}/report.md`; the full report has every suite and the paper's "
        "numbers beside ours).",
        "",
        "| variant | clean acc | PGD-10 acc | "
        + " | ".join(f"DS {p} (L2)" for p in PERTURBATIONS)
        + " | sum of level-1 DS |",
        "|---" * (4 + len(PERTURBATIONS)) + "|",
    ]
    for v in variants:
        r = rob.get(v, {})
        ds = cont.get("mean_ds", {}).get(v, {})
        cells = [
            f"{r['clean_acc']:.2%}" if "clean_acc" in r else "-",
            f"{r['pgd_acc']:.2%}" if "pgd_acc" in r else "-",
        ]
        cells += [f"{ds[p][str(SUMMARY_LEVEL)]:.2f}" if p in ds else "-" for p in PERTURBATIONS]
        total = cont.get("level1_ds_sum", {}).get(v)
        cells.append(f"{total:.2f}" if total is not None else "-")
        lines.append(f"| `{v}` | " + " | ".join(cells) + " |")
    n = rob.get(variants[0], {}).get("n") if variants else None
    if n:
        lines += [
            "",
            f"Accuracies on {n:,} test images; DS = mean L2 distance between the logits of "
            f"an image and of its level-{SUMMARY_LEVEL} perturbation "
            "([docs/method.md](docs/method.md#perturbations), the paper's Table 1).",
        ]
    manifest_path = REPO / report["pack"]["path"] / "manifest.json"
    if manifest_path.exists():  # the trainer's final evaluation on the whole test set
        entries = json.loads(manifest_path.read_text())["variants"]
        full = [
            f"`{v}` {e['metrics']['clean_acc']:.2%} / {e['metrics']['pgd_acc']:.2%}"
            for v, e in entries.items()
            if "clean_acc" in e.get("metrics", {})
        ]
        n_full = next(
            (e["metrics"]["test_n"] for e in entries.values() if "test_n" in e.get("metrics", {})), 0
        )
        if full:
            lines += [
                "",
                f"Clean / PGD-10 accuracy on all {n_full:,} test images, measured by the "
                "trainer and recorded in the pack's manifest: " + "; ".join(full) + ".",
            ]
    lines += budgets_block(report)
    lines += ["", eval_time(report)]
    lines += experiments_block(report_dir)
    return "\n".join(lines)


def budgets_block(report: dict) -> list[str]:
    """The robustness-budgets suite: each variant's PGD accuracy per eps, the claims per
    budget with their intervals and verdicts, and the second attack's largest gap."""
    from sc_viz.evaluate import budget_claims
    from sc_viz.evaluate.budgets import NAME

    suite = report["suites"].get(NAME)
    if not suite or report.get("status", {}).get(NAME, {}).get("state") != "complete":
        return []
    results, budgets = suite["results"], suite["budgets"]
    n = next(iter(next(iter(results.values())).values()))["n"]
    accs = "; ".join(
        f"`{v}` " + " / ".join(f"{per[b]['pgd_acc']:.2%}" for b in budgets if b in per)
        for v, per in results.items()
    )
    lines = [
        "",
        f"PGD-10 accuracy at eps {' / '.join(budgets)} /255 (`robustness-budgets`, the same seeded "
        f"{n:,} test images for every budget and variant): {accs}.",
    ]
    claims = budget_claims.rows(report)
    for statement in dict.fromkeys(r.statement for r in claims):
        parts = [
            f"{r.budget}/255 {100 * r.difference:+.2f} pp"
            + (f" [{100 * r.interval[0]:.2f}, {100 * r.interval[1]:.2f}]" if r.interval else "")
            + f" ({r.verdict.split(':')[0]})"
            for r in claims
            if r.statement == statement
        ]
        first = next(r for r in claims if r.statement == statement)
        lines += [
            "",
            f"{statement[0].upper() + statement[1:]} (`{first.variant}` - `{first.reference}`): "
            + "; ".join(parts)
            + ".",
        ]
    check = suite.get("check") or {}
    gaps = {v: r["gap"] for v, r in check.get("results", {}).items() if r.get("gap") is not None}
    if gaps:
        widest = max(gaps, key=lambda v: abs(gaps[v]))
        library = check.get("library", check.get("attack"))
        flag = 100 * check.get("gap_flag", 0.02)
        lines += [
            "",
            f"Second attack ({library} L-inf PGD, {check.get('steps')} steps, "
            f"eps {check.get('budget')}/255): "
            f"the largest gap to our PGD is {100 * gaps[widest]:+.2f} points (`{widest}`; positive: the "
            f"other attack found more adversarial images); a gap over {flag:g} points is flagged.",
        ]
    return lines


def eval_time(report: dict) -> str:
    """How long the report's suites took, from its status block."""
    status = report.get("status", {})
    seconds = sum(st.get("seconds") or 0 for st in status.values())
    n = {report["settings"].get(k, {}).get("n") for k in status}
    where = report.get("environment", {})
    cpu = sum(st.get("cpu_seconds") or 0 for st in status.values())
    note = f" Run: {where['note']}." if where.get("note") else ""
    return (
        f"`sc-viz eval --suite all` ({', '.join(status)}) took {seconds / 60:.1f} min of wall "
        f"time summed over the suites ({cpu / 60:.1f} min of CPU) on "
        f"{sorted(x for x in n if x)[-1]:,} test images ({where.get('device', '?')}, "
        f"{where.get('torch_threads', '?')} torch threads; per-suite times in the report's "
        f"run log).{note}"
    )


def experiments_block(report_dir: str) -> list[str]:
    """The training experiments' results (scripts/run_experiments*.sh), when present: one
    paragraph per result file (`sc_viz.experiments.summary`; seeded and older files alike)."""
    from sc_viz.evaluate.report import EXPERIMENTS
    from sc_viz.experiments.summary import summary

    base = REPO / report_dir / "experiments"
    lines = []
    for folder, (stem, _title) in EXPERIMENTS.items():
        path = base / folder / f"{stem}.json"
        if path.exists():
            lines += ["", summary(json.loads(path.read_text()), f"{report_dir}/experiments/{folder}/")]
    return lines


def main(argv: list[str]) -> int:
    report_dir = argv[0] if argv else "reports/cifar10-resnet20"
    report = json.loads((REPO / report_dir / "report.json").read_text())
    readme = (REPO / "README.md").read_text()
    block = f"{START}\n{results_block(report, report_dir)}\n{END}"
    new, count = re.subn(re.escape(START) + ".*?" + re.escape(END), lambda m: block, readme, flags=re.S)
    if count != 1:
        print("README.md has no results block markers", file=sys.stderr)
        return 1
    (REPO / "README.md").write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
