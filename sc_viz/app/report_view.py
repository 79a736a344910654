"""A pack's stored evaluation report (`sc-viz eval`) as the app's Continuity and
Robustness pages show it: found, checked against the pack's weights, cut into tables.

The pages only lay these out; a missing, unreadable or stale report becomes a one-line
message, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from sc_viz.evaluate import load_report
from sc_viz.evaluate.common import pack_hash
from sc_viz.evaluate.stats import accuracy_interval
from sc_viz.packs import Pack


@dataclass
class StoredReport:
    report: Optional[dict]  # the report.json contents, None when there is none
    message: Optional[str] = None  # why there is none, or a warning about the one found

    def suite(self, name: str) -> Optional[dict]:
        """A suite's results when the report has them complete, else None."""
        if not self.report:
            return None
        if self.report.get("status", {}).get(name, {}).get("state") != "complete":
            return None
        return self.report.get("suites", {}).get(name)

    def sample_label(self, name: str) -> str:
        """'n = 10,000 test images' for a suite (or 'n unknown')."""
        n = (self.report or {}).get("settings", {}).get(name, {}).get("n")
        return f"n = {n:,} test images" if isinstance(n, int) else "n unknown"


def stored_report(pack: Pack, reports_root=None) -> StoredReport:
    """The pack's report (see `evaluate.load_report`), with a warning when it was made
    from other weights than the pack's current files (e.g. a retrained variant)."""

    try:
        report = load_report(pack, reports_root)
    except Exception as err:  # noqa: BLE001 - an odd file must only hide the panel
        return StoredReport(None, f"The stored evaluation report could not be read ({type(err).__name__}).")
    if report is None:
        return StoredReport(
            None, f"No stored evaluation report for {pack.name}; `sc-viz eval --pack {pack.path}` makes one."
        )
    # The hash covers the variants the report was made from: a variant trained into the
    # pack later (not in the report) leaves the others' numbers current.
    made_from = report.get("pack", {}).get("variants") or list(pack.models)
    try:
        current = pack_hash(replace(pack, models={v: pack.models[v] for v in made_from}))
    except (OSError, KeyError):  # a variant the report has is missing from the pack now
        current = None
    if report.get("pack", {}).get("hash") != current:
        return StoredReport(
            report,
            "The stored report was made from other weights than "
            "this pack's files; rerun `sc-viz eval` to refresh it.",
        )
    return StoredReport(report)


def continuity_means(stored: StoredReport, variants, key: str = "mean_ds") -> Optional[dict]:
    """{variant: {perturbation: {level: value}}} for the chosen variants: the test-set mean
    DS (Fig. 4), or with key="violation_rate" the share of same-class images closer to x
    than its perturbed copy (Fig. 1)."""
    c = stored.suite("continuity")
    if not c:
        return None
    table = {v: c[key][v] for v in variants if v in c.get(key, {})}
    return table or None


def robustness_rows(stored: StoredReport, variants) -> Optional[list[dict]]:
    """Table 2 as rows: our clean and PGD accuracy per variant, the paper's beside them
    (the paper's own models on other data sets: anchors, not targets)."""
    r = stored.suite("robustness")
    if not r:
        return None
    paper = stored.report.get("paper", {}).get("table2", {})
    rows = []
    for v in variants:
        if v not in r:
            continue
        row = {
            "variant": v,
            "clean accuracy": f"{100 * r[v]['clean_acc']:.2f}%",
            "PGD accuracy": f"{100 * r[v]['pgd_acc']:.2f}%",
        }
        for model, anchors in paper.items():
            if v in anchors:
                row[f"paper: {model}"] = " / ".join(f"{100 * a:.2f}%" for a in anchors[v])
        rows.append(row)
    return rows or None


def robustness_caption(stored: StoredReport) -> str:
    """How the Table-2 numbers were made, in one line."""
    r = stored.suite("robustness") or {}
    first = next(iter(r.values()), None)
    if not first:
        return ""
    return (
        f"Stored report, {stored.sample_label('robustness')}: PGD-{first['steps']}, L-inf "
        f"eps {first['eps'] * 255:g}/255, step {first['step_size'] * 255:g}/255, random "
        f"start. Paper columns: clean / PGD of the paper's models on other data sets."
    )


def continuity_intervals(stored: StoredReport, variants, key: str = "mean_ds") -> Optional[dict]:
    """{variant: {perturbation: {level: [low, high]}}}: the 95% intervals of
    `continuity_means` (bootstrap over images), for error bars; None when the report was
    stored before the continuity suite kept intervals (rerun `sc-viz eval --suite
    continuity`)."""
    c = stored.suite("continuity")
    intervals = (c or {}).get("ci", {}).get(key)
    if not intervals:
        return None
    table = {v: intervals[v] for v in variants if v in intervals}
    return table or None


def robustness_intervals(stored: StoredReport, variants) -> Optional[dict]:
    """{variant: {"clean": [low, high], "pgd": [low, high]}}: Wilson 95% intervals of the
    stored accuracies (they need only the accuracy and n, so older reports have them too)."""

    r = stored.suite("robustness")
    if not r:
        return None
    out = {}
    for v in variants:
        if v in r:
            n = r[v].get("n")
            clean, pgd = accuracy_interval(r[v]["clean_acc"], n), accuracy_interval(r[v]["pgd_acc"], n)
            if clean is not None and pgd is not None:
                out[v] = {"clean": clean.as_list(), "pgd": pgd.as_list()}
    return out or None
