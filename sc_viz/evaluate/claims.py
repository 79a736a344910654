"""The paper's directional claims checked on a report: each a difference between two
variants on the same test images, with a paired bootstrap 95% interval
(`evaluate.stats`), and a verdict from that interval, not from the point estimate:
"holds" (the interval lies on the claimed side of 0), "does not hold" (on the other side)
or "within noise" (it contains 0). A report stored before the suites kept per-image
values gets the point difference and "n/a (rerun the suite)". Two accuracies that are
both 0 get no verdict from their interval ([0, 0] would read "within noise"): "at floor:
not testable at this budget" (`stats.floor_verdict`; robustness across budgets:
evaluate/budget_claims.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from sc_viz.evaluate.stats import (
    NOT_COMPUTABLE,
    decode_values,
    floor_verdict,
    paired_difference_interval,
    unpaired_accuracy_difference,
    verdict,
)
from sc_viz.paper import PERTURBATIONS, SUMMARY_LEVEL


@dataclass(frozen=True)
class Claim:
    suite: str
    statement: str  # the paper's claim, in words
    variant: str
    reference: str
    direction: str  # "higher" | "lower": the sign claimed for variant minus reference
    point: Callable[[dict, str], Optional[float]]  # suite result, variant -> stored mean
    per_image: Callable[[dict, str], Optional[str]]  # suite result, variant -> encoded values
    # accuracy claims: suite result, variant -> n, for Newcombe's unpaired interval when a
    # stored report has no per-image values
    sample_size: Optional[Callable[[dict, str], Optional[int]]] = None


def _get(d: dict, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def paper_claims(report: dict) -> list[Claim]:
    """The claims this report's complete suites can check."""
    suites = report.get("suites", {})
    level = str(SUMMARY_LEVEL)
    out = []
    for v in ("c", "advc"):
        for p in PERTURBATIONS:
            out.append(
                Claim(
                    "continuity",
                    f"continuity training lowers DS ({p}, level {level})",
                    v,
                    "standard",
                    "lower",
                    lambda r, var, p=p: _get(r, "mean_ds", var, p, level),
                    lambda r, var, p=p: _get(r, "per_image", "ds", var, p),
                )
            )
    for v, ref in (("c", "standard"), ("adv", "standard"), ("advc", "standard"), ("advc", "adv")):
        out.append(
            Claim(
                "robustness",
                "higher PGD accuracy (Table 2)",
                v,
                ref,
                "higher",
                lambda r, var: _get(r, var, "pgd_acc"),
                lambda r, var: _get(r, var, "per_image", "pgd_correct"),
                lambda r, var: _get(r, var, "n"),
            )
        )
    for m in _get(suites, "saliency", "methods") or []:
        for v in ("c", "adv", "advc"):
            out.append(
                Claim(
                    "saliency",
                    f"smoother saliency maps ({m}, total variation)",
                    v,
                    "standard",
                    "lower",
                    lambda r, var, m=m: _get(r, "measures", var, m, "total_variation"),
                    lambda r, var, m=m: _get(r, "per_image", var, m, "total_variation"),
                )
            )
    return out


@dataclass(frozen=True)
class Checked:
    claim: Claim
    difference: Optional[float]  # point estimate, variant minus reference
    interval: Optional[list]  # [low, high] of the paired bootstrap, None when not computable
    verdict: str
    paired: bool = True  # False: Newcombe's unpaired interval of two stored accuracies


def check(report: dict) -> list[Checked]:
    """Every claim whose suite is complete and has both variants, checked."""
    out = []
    for claim in paper_claims(report):
        if report.get("status", {}).get(claim.suite, {}).get("state") != "complete":
            continue
        result = report["suites"].get(claim.suite, {})
        a, b = claim.point(result, claim.variant), claim.point(result, claim.reference)
        if a is None or b is None:
            continue
        va = decode_values(claim.per_image(result, claim.variant))
        vb = decode_values(claim.per_image(result, claim.reference))
        seed = report.get("settings", {}).get(claim.suite, {}).get("seed", 0)
        paired = va is not None and vb is not None and len(va) == len(vb)
        interval = paired_difference_interval(va, vb, seed=seed) if paired else None
        if not paired and claim.sample_size is not None:
            interval = unpaired_accuracy_difference(
                a, claim.sample_size(result, claim.variant), b, claim.sample_size(result, claim.reference)
            )
        floor = None
        if claim.sample_size is not None:  # an accuracy: both at 0 cannot be compared
            floor = floor_verdict(
                a, claim.sample_size(result, claim.variant), b, claim.sample_size(result, claim.reference)
            )
        out.append(
            Checked(
                claim,
                a - b,
                interval.as_list() if interval else None,
                floor or verdict(interval, claim.direction),
                paired,
            )
        )
    return out


def markdown(report: dict) -> str:
    """The claims table of report.md ('' when no claim can be checked)."""
    checked = check(report)
    if not checked:
        return ""
    md = [
        "## The paper's claims, with 95% intervals\n\nEach row compares two variants on the "
        "same test images: the difference of their means (variant minus reference), its "
        "paired bootstrap 95% interval over images, and the verdict from the interval: "
        "holds (wholly on the claimed side of 0), does not hold (wholly on the other side), "
        f"within noise (contains 0); {NOT_COMPUTABLE} where the stored suite has no "
        "per-image values, except for accuracies, which then get Newcombe's unpaired interval "
        "from their Wilson intervals (marked unpaired; wider than the paired one). Two "
        "accuracies both at 0 are not testable: at floor when each one's Wilson upper bound is "
        "below 0.1%.\n",
        "| claim | variant - reference | claimed | difference | 95% interval | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for c in checked:
        scale, unit = (100, " pp") if c.claim.suite == "robustness" else (1, "")
        interval = (
            f"[{c.interval[0] * scale:.3f}, {c.interval[1] * scale:.3f}]{unit}"
            + ("" if c.paired else " (unpaired)")
            if c.interval
            else NOT_COMPUTABLE
        )
        md.append(
            f"| {c.claim.statement} | {c.claim.variant} - {c.claim.reference} | "
            f"{c.claim.direction} | {c.difference * scale:+.3f}{unit} | {interval} | "
            f"{c.verdict} |"
        )
    return "\n".join(md) + "\n"
