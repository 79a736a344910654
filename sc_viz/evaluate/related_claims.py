"""The related methods' claims (SPAT, SNS, Adv-GSCT; docs/related_methods.md) beside what a
report shows, in one table. Each method is the project's reading of a paper of which only
the abstract is known, so every row says "(our reading)".

Rows from the robustness and consensus suites compare two variants on the same test
images with a paired bootstrap 95% interval (Newcombe's unpaired interval for a report
stored without per-image values), and the verdict comes from the interval
(`evaluate.stats.verdict`). A "comparable" claim holds when the interval does not lie wholly
below 0. Layer-wise sensitivity (neurons suite) is stored as per-channel means over the
sample, so its row counts the layers where the variant is lower, without an interval.
Training cost comes from the pack's manifest (seconds per epoch on the device the related
variants were trained on, against `adv` retrained there). A claim that does not hold gets
its likely reason from `LIKELY_REASONS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from sc_viz.evaluate.stats import (
    FAILS,
    HOLDS,
    NOISE,
    NOT_COMPUTABLE,
    decode_values,
    paired_difference_interval,
    unpaired_accuracy_difference,
    verdict,
)

# Why a claim may not hold under our reading: the evidence is in docs/related_methods.md.
LIKELY_REASONS = {
    ("spat", "pgd"): "with adv's one-step budget the mask scales the step to gamma + (1 - gamma) M, "
    "so most pixels move about 1/255 past the random start: a weaker training attack "
    "(SPAT was proposed with multi-step PGD)",
    ("spat", "first"): "with adv's one-step budget the mask scales the step to gamma + (1 - gamma) M, "
    "so most pixels move about 1/255 past the random start: a weaker training attack",
    ("gsct", "first"): "the consensus term's eval-mode pass: its gradient moves the scale of weights "
    "that train-mode BatchNorm normalises away, and eval mode's running statistics stop matching "
    "(experiments/gsct-collapse)",
    ("gsct", "pgd"): "one of its three CE terms sees an adversarial input (x_o, one FGSM-RS step), "
    "adv's only term does: at equal budget it trains on far fewer adversarial examples "
    "(not separated by an experiment; the collapse of the first reading is fixed: its own row)",
    ("gsct", "cost"): "double backprop through the whole network on every batch, plus the target "
    "saliency and a third forward pass",
    ("sns", "pgd"): "the gain over adv is about the size of the noise at this budget",
    ("sns", "sensitivity"): "the term stabilises each layer's top 10% of channels, not every channel; "
    "the layers where it is not lower are named beside the numbers",
}


# A 10-step PGD training step costs 11 forward/backward passes, adv's one-step 2: 5.5x.
MULTI_STEP_COST = 5.5


@dataclass(frozen=True)
class Row:
    method: str  # SPAT | SNS | Adv-GSCT
    claim: str  # the paper's claim, in words
    comparison: str  # "spat - adv"
    shown: str  # what the report shows
    verdict: str
    reason: str = ""  # the likely reason when the claim does not hold


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _complete(report: dict, suite: str) -> Optional[dict]:
    if _get(report, "status", suite, "state") != "complete":
        return None
    return report["suites"].get(suite)


def _pgd_row(report: dict, method: str, variant: str, reference: str, claim: str, comparable=False):
    result = _complete(report, "robustness")
    if not result or variant not in result or reference not in result:
        return None
    return _pgd_comparison(
        report, method, claim, (variant, result[variant]), (reference, result[reference]), comparable
    )


def _pgd_comparison(report: dict, method: str, claim: str, mine, theirs, comparable=False, label=None):
    """A row comparing two robustness results (name, the suite's per-variant dict) on the
    same test images."""
    (variant, a), (reference, b) = mine, theirs
    va = decode_values(_get(a, "per_image", "pgd_correct"))
    vb = decode_values(_get(b, "per_image", "pgd_correct"))
    paired = va is not None and vb is not None and len(va) == len(vb)
    seed = _get(report, "settings", "robustness", "seed") or 0
    interval = (
        paired_difference_interval(va, vb, seed=seed)
        if paired
        else unpaired_accuracy_difference(a["pgd_acc"], a["n"], b["pgd_acc"], b["n"])
    )
    diff = 100 * (a["pgd_acc"] - b["pgd_acc"])
    where = (
        f" [{100 * interval.low:+.2f}, {100 * interval.high:+.2f}]{'' if paired else ' unpaired'}"
        if interval
        else ""
    )
    shown = (
        f"PGD-{a.get('steps', '?')} {100 * a['pgd_acc']:.2f}% vs {100 * b['pgd_acc']:.2f}% "
        f"({diff:+.2f} pp{where}); clean {100 * a['clean_acc']:.2f}% vs {100 * b['clean_acc']:.2f}%"
    )
    said = verdict(interval, "higher")
    if comparable and said in (HOLDS, NOISE):
        said = HOLDS + (" (within noise)" if said == NOISE else " (higher)")
    key = variant.split(" ")[0]
    reason = (
        LIKELY_REASONS.get((key, "pgd" if label is None else label), "") if said in (FAILS, NOISE) else ""
    )
    return Row(method, claim, f"{variant} - {reference}", shown, said, reason)


def pack_manifest(report: dict) -> dict:
    try:
        return json.loads((Path(_get(report, "pack", "path")) / "manifest.json").read_text())
    except (OSError, TypeError, ValueError):
        return {}


def stored_robustness(report: dict, where: Optional[str], variant: str) -> Optional[dict]:
    """A variant's robustness results kept outside the report: `where` (relative to the
    pack folder, as the manifest names it) is a report.json (its robustness suite) or a
    kept-results file ({"results": {variant: ...}}). None when absent or made with other
    robustness settings than the report's."""
    if not where:
        return None
    try:
        kept = json.loads((Path(_get(report, "pack", "path")) / where).read_text())
    except (OSError, TypeError, ValueError):
        return None
    if "suites" in kept:
        results, settings = _get(kept, "suites", "robustness"), _get(kept, "settings", "robustness")
    else:
        results, settings = kept.get("results"), kept.get("settings")
    mine = _get(report, "settings", "robustness")
    if not isinstance(results, dict) or variant not in results:
        return None
    if mine is not None and settings is not None and _same_images(settings, mine) is False:
        return None
    return results[variant]


def _same_images(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("seed", "limit", "n", "pgd_steps"))


def _reference_rows(report: dict, method: str, variant: str) -> list:
    """The rows a variant's manifest entry asks for beside the report's own: its comparison
    with a same-budget reference trained outside the pack (`same_budget_reference`) and its
    first reading against the pack's adv (`first_reading`), each on the same test images."""
    entry = _get(pack_manifest(report), "variants", variant) or {}
    result = _complete(report, "robustness") or {}
    rows = []
    ref = entry.get("same_budget_reference")
    if ref and variant in result:
        theirs = stored_robustness(report, ref.get("robustness"), ref.get("variant", "adv"))
        if theirs is not None:
            rows.append(
                _pgd_comparison(
                    report,
                    method,
                    f"higher PGD accuracy than adv at equal budget ({ref.get('budget', 'multi-step')})",
                    (variant, result[variant]),
                    (f"{ref.get('variant', 'adv')} (same budget)", theirs),
                    label="pgd-multistep",
                )
            )
    first = entry.get("first_reading")
    if first and "adv" in result:
        mine = stored_robustness(report, first.get("robustness"), variant)
        if mine is not None:
            rows.append(
                _pgd_comparison(
                    report,
                    method,
                    f"{'PGD accuracy comparable to' if variant == 'gsct' else 'higher PGD accuracy than'} "
                    f"adv's: the first reading ({first.get('reading', 'as first trained')})",
                    (f"{variant} (first reading)", mine),
                    ("adv", result["adv"]),
                    comparable=variant == "gsct",
                    label="first",
                )
            )
    return rows


def _sensitivity_row(report: dict, variant: str, reference: str, measure: str = "relative"):
    result = _complete(report, "neurons")
    variants = _get(result, "variants") or {}
    if variant not in variants or reference not in variants:
        return None
    mine, theirs = variants[variant]["layers"], variants[reference]["layers"]
    layers = [layer for layer in mine if layer in theirs]
    lower = [layer for layer in layers if mine[layer][measure] < theirs[layer][measure]]
    mean = sum(mine[layer][measure] for layer in layers) / len(layers)
    ref_mean = sum(theirs[layer][measure] for layer in layers) / len(layers)
    not_lower = [layer for layer in layers if layer not in lower]
    shown = (
        f"lower in {len(lower)} of {len(layers)} layers"
        + (f" (not in {', '.join(not_lower)})" if not_lower and lower else "")
        + f"; mean {measure} sigma {mean:.3f} vs {ref_mean:.3f} ({result.get('n', '?')} images; "
        "per-channel means, no interval)"
    )
    said = (
        HOLDS if len(lower) == len(layers) else FAILS if not lower else f"mixed ({len(lower)}/{len(layers)})"
    )
    reason = LIKELY_REASONS.get((variant, "sensitivity"), "") if said != HOLDS else ""
    return Row("SNS", "lower layer-wise neuron sensitivity", f"{variant} - {reference}", shown, said, reason)


def _consensus_row(report: dict, variant: str, reference: str, method: str = "saliency"):
    result = _complete(report, "consensus")
    values = _get(result, "values") or {}
    va = _get(values, variant, method, "pgd", "cosine")
    vb = _get(values, reference, method, "pgd", "cosine")
    if va is None or vb is None or len(va) != len(vb):
        return None
    interval = paired_difference_interval(va, vb, seed=_get(report, "settings", "consensus", "seed") or 0)
    ma, mb = (
        _get(result, "means", variant, method, "pgd", "cosine"),
        _get(result, "means", reference, method, "pgd", "cosine"),
    )
    shown = (
        f"cosine of {method} maps on x and PGD(x): {ma:.3f} vs {mb:.3f}"
        + (f" (difference [{interval.low:+.3f}, {interval.high:+.3f}])" if interval else "")
        + f"; {len(va)} images"
    )
    said = verdict(interval, "higher")
    return Row(
        "Adv-GSCT", "higher gradient-saliency consensus under attack", f"{variant} - {reference}", shown, said
    )


def training_costs(pack_path: Optional[str]) -> dict:
    """variant -> (its cost / adv's, how it was measured) from the pack's manifest: seconds
    per epoch against the same-device adv's (`baseline_same_device`), else the per-step
    ratio `sc-viz bench train` measured on the device it was trained on
    (`step_cost_vs_adv`); {} when the manifest is not there."""
    try:
        manifest = json.loads((Path(pack_path) / "manifest.json").read_text())
    except (OSError, TypeError, ValueError):
        return {}
    out = {}
    for v, entry in manifest.get("variants", {}).items():
        base = entry.get("baseline_same_device") or {}
        own, ref = entry.get("seconds_per_epoch"), base.get("seconds_per_epoch")
        step = entry.get("step_cost_vs_adv") or {}
        if own and ref:
            device = str(entry.get("trained_on", "?")).split(" (")[0]
            shown = f"{float(own):.1f} s vs adv's {float(ref):.1f} s per epoch"
            out[v] = (
                float(own) / float(ref),
                f"{shown} ({float(own) / float(ref):.1f}x; {device}, same device)",
            )
        elif step.get("ratio"):
            out[v] = (
                float(step["ratio"]),
                f"{float(step['ratio']):.1f}x adv's time per step ({step.get('source', '?')})",
            )
    return out


def _cost_row(report: dict, variant: str):
    costs = training_costs(_get(report, "pack", "path"))
    if variant not in costs:
        return None
    ratio, shown = costs[variant]
    # The paper's claim is lower cost than multi-step PGD training; adv here is one-step
    # (FGSM-RS), which a 10-step PGD training costs about 5x (11 passes vs 2 per batch).
    said = (HOLDS if ratio < MULTI_STEP_COST else FAILS) + " (against the estimate)"
    reason = "" if ratio <= 1 else LIKELY_REASONS[(variant, "cost")]
    return Row(
        "Adv-GSCT",
        "lower training cost than multi-step PGD training (adv here is one-step; 10-step PGD "
        f"training is estimated at {MULTI_STEP_COST}x it)",
        f"{variant} / adv",
        shown,
        said,
        reason,
    )


def related_rows(report: dict) -> list[Row]:
    """Every related-method claim this report can check (variants absent: no row)."""
    spat_entry = _get(pack_manifest(report), "variants", "spat") or {}
    rows = [
        *_reference_rows(report, "SPAT", "spat"),
        # against the pack's adv only when both were trained at adv's budget
        None
        if spat_entry.get("same_budget_reference")
        else _pgd_row(report, "SPAT", "spat", "adv", "higher PGD accuracy than adv at equal budget"),
        _pgd_row(report, "SNS", "sns", "adv", "higher PGD accuracy than adv"),
        _pgd_row(report, "SNS", "sns", "standard", "higher PGD accuracy than standard"),
        _sensitivity_row(report, "sns", "adv"),
        _sensitivity_row(report, "sns", "standard"),
        _pgd_row(report, "Adv-GSCT", "gsct", "adv", "PGD accuracy comparable to adv's", comparable=True),
        *_reference_rows(report, "Adv-GSCT", "gsct"),
        _consensus_row(report, "gsct", "adv"),
        _cost_row(report, "gsct"),
    ]
    return [r for r in rows if r is not None]


def markdown(report: dict) -> str:
    """The related methods' table of report.md ('' when none of their variants is there)."""
    rows = related_rows(report)
    if not rows:
        return ""
    md = [
        "## The related methods' claims (our reading)\n\nSPAT, SNS and Adv-GSCT as this project "
        "reads their abstracts (docs/related_methods.md), each fine-tuned from `standard`: `sns` "
        "and `gsct` with adv's schedule and budget, `spat` at the multi-step budget it was made for, "
        "beside an adv trained at that budget (its manifest entry names it). Intervals are 95% "
        "(paired bootstrap over the same test "
        f"images unless marked unpaired); {NOT_COMPUTABLE} where a suite kept no per-image "
        "values. A claim that does not hold here is reported as such, with its likely reason.\n",
        "| method | claim | comparison | what the demo pack shows | verdict | likely reason |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r.method} | {r.claim} | {r.comparison} | {r.shown} | {r.verdict} | {r.reason or '-'} |"
        )
    return "\n".join(md) + "\n"
