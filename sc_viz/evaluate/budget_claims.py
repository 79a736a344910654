"""The paper's robustness claims (Table 2) at every budget of the `robustness-budgets`
suite (evaluate/budgets.py): "continuity training raises PGD accuracy" (c over standard)
and "continuity raises it on top of adversarial training" (advc over adv), one row per
budget, each with the paired bootstrap 95% interval of the difference on the sweep's
images (`stats.paired_difference_interval`) and its verdict (`stats.verdict`); two
accuracies both at 0 read "at floor: not testable at this budget" (`stats.floor_verdict`),
never "within noise".

The paper's own difference stands beside the budget it was measured at where the paper's
text says which that is (`paper.TABLE2_PGD_EPS`); its eps did not survive the text
extraction, so the report gives the paper's figures in a row of their own, "budget
unknown". The paper's models are ResNet-18 on CIFAR-100 and ResNet-50 on ImageNet, not
the pack's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sc_viz import paper
from sc_viz.evaluate.budgets import NAME
from sc_viz.evaluate.stats import decode_values, floor_verdict, paired_difference_interval, verdict

# (variant, reference, the claim in words); direction "higher" for both
CLAIMS = (
    ("c", "standard", "continuity training raises PGD accuracy"),
    ("advc", "adv", "continuity on top of adversarial training raises PGD accuracy"),
)


@dataclass(frozen=True)
class BudgetRow:
    statement: str
    variant: str
    reference: str
    budget: str  # eps in /255, as the suite keys it
    accuracy: float  # the variant's PGD accuracy
    reference_accuracy: float
    n: int
    difference: float  # variant minus reference
    interval: Optional[list]  # [low, high] of the paired bootstrap
    verdict: str
    paper: Optional[str] = None  # the paper's difference, when measured at this budget


def paper_differences(variant: str, reference: str) -> str:
    """'+6.67 pp (ResNet18 (CIFAR-100): 16.01% vs 9.34%); ...' from the paper's Table 2."""
    parts = []
    for model, accs in paper.PAPER_RESULTS["table2"].items():
        if variant in accs and reference in accs:
            a, b = accs[variant][1], accs[reference][1]
            parts.append(f"{100 * (a - b):+.2f} pp ({model}: {100 * a:.2f}% vs {100 * b:.2f}%)")
    return "; ".join(parts)


def paper_budget_key() -> Optional[str]:
    """The paper's Table-2 eps as the suite keys budgets, None when the paper's text lost it."""
    if paper.TABLE2_PGD_EPS is None:
        return None
    return f"{paper.TABLE2_PGD_EPS * 255:g}"


def rows(report: dict) -> list[BudgetRow]:
    """Every claim at every budget the complete sweep has both variants for."""
    if report.get("status", {}).get(NAME, {}).get("state") != "complete":
        return []
    result = report["suites"].get(NAME, {})
    seed = report.get("settings", {}).get(NAME, {}).get("seed", 0)
    matched = paper_budget_key()
    out = []
    for variant, reference, statement in CLAIMS:
        a_rows, b_rows = result.get("results", {}).get(variant), result.get("results", {}).get(reference)
        if not a_rows or not b_rows:
            continue
        for key in result.get("budgets", []):
            if key not in a_rows or key not in b_rows:
                continue
            a, b = a_rows[key], b_rows[key]
            va = decode_values(a.get("per_image", {}).get("pgd_correct"))
            vb = decode_values(b.get("per_image", {}).get("pgd_correct"))
            interval = (
                paired_difference_interval(va, vb, seed=seed)
                if va is not None and vb is not None and len(va) == len(vb)
                else None
            )
            said = floor_verdict(a["pgd_acc"], a["n"], b["pgd_acc"], b["n"]) or verdict(interval, "higher")
            out.append(
                BudgetRow(
                    statement,
                    variant,
                    reference,
                    key,
                    a["pgd_acc"],
                    b["pgd_acc"],
                    a["n"],
                    a["pgd_acc"] - b["pgd_acc"],
                    interval.as_list() if interval else None,
                    said,
                    paper_differences(variant, reference) if key == matched else None,
                )
            )
    return out


def markdown(report: dict) -> str:
    """The per-budget claims table of report.md ('' without a complete sweep)."""
    checked = rows(report)
    if not checked:
        return ""
    n = checked[0].n
    matched = paper_budget_key()
    md = [
        "## The paper's robustness claims at each attack budget, with 95% intervals\n\n"
        f"PGD accuracy of the variant and its reference at each L-inf eps on the same {n:,} "
        "test images (the robustness-budgets suite), their difference (variant minus reference), "
        "its paired bootstrap 95% interval and the verdict from the interval (claimed: higher). "
        "Two accuracies both at 0 are not testable at that budget: **at floor** when each one's "
        "Wilson upper bound is below 0.1%, else both 0% on too few images to call it a floor.\n",
        "| claim | variant - reference | eps | PGD accuracy | difference | 95% interval | verdict | paper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for variant, reference, statement in CLAIMS:
        mine = [r for r in checked if r.variant == variant and r.reference == reference]
        for r in mine:
            interval = f"[{100 * r.interval[0]:.3f}, {100 * r.interval[1]:.3f}] pp" if r.interval else "-"
            md.append(
                f"| {r.statement} | {r.variant} - {r.reference} | {r.budget}/255 | "
                f"{100 * r.accuracy:.2f}% vs {100 * r.reference_accuracy:.2f}% | "
                f"{100 * r.difference:+.3f} pp | {interval} | {r.verdict} | {r.paper or '-'} |"
            )
        if mine and matched is None:
            md.append(
                f"| {statement} | {variant} - {reference} | unknown (the paper's Table 2) | "
                f"- | - | - | - | {paper_differences(variant, reference)} |"
            )
    if matched is None:
        md.append(
            "\nThe paper's Table 2 budget is unknown: its text gives the attack's step "
            f"({paper.TABLE2_PGD_STEP * 255:g}/255) and {paper.TABLE2_PGD_STEPS} steps, but its eps did not "
            "survive the text extraction, so its figures (other models and data sets) stand in rows of "
            "their own, matched to none of our budgets.\n"
        )
    return "\n".join(md) + "\n"
