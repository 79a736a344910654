"""The related methods' claims table on hand-made reports whose answers are known."""

import json

from sc_viz.evaluate.related_claims import markdown, related_rows
from sc_viz.evaluate.stats import encode_values

N = 400


def robustness(pgd_correct: dict) -> dict:
    out = {}
    for v, ones in pgd_correct.items():
        per_image = [1] * ones + [0] * (N - ones)
        out[v] = {
            "clean_acc": 0.8,
            "pgd_acc": ones / N,
            "n": N,
            "steps": 10,
            "per_image": {"clean_correct": encode_values([1] * N), "pgd_correct": encode_values(per_image)},
        }
    return out


def layers(values):
    return {f"l{i}": {"mean": v, "top": v, "relative": v, "channels": 4} for i, v in enumerate(values)}


def report(tmp_path, **extra) -> dict:
    manifest = {
        "variants": {
            "gsct": {
                "seconds_per_epoch": 45.0,
                "trained_on": "NVIDIA H200 (device)",
                "baseline_same_device": {"seconds_per_epoch": 10.0},
            }
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    suites = {
        # adv 120 right; spat the first 60 of them; sns 124; gsct the same 120 minus 2 plus 2 others
        "robustness": robustness({"standard": 0, "adv": 120, "spat": 60, "sns": 124, "gsct": 120}),
        "neurons": {
            "n": 64,
            "variants": {
                "standard": {"layers": layers([0.3, 0.3, 0.3])},
                "adv": {"layers": layers([0.1, 0.1, 0.1])},
                "sns": {"layers": layers([0.05, 0.2, 0.05])},
            },
        },
    }
    suites.update(extra)
    return {
        "pack": {"path": str(tmp_path)},
        "status": {name: {"state": "complete"} for name in suites},
        "settings": {},
        "suites": suites,
    }


def by_comparison(rows):
    return {(r.claim, r.comparison): r for r in rows}


def test_pgd_claims_get_paired_verdicts_and_reasons(tmp_path):
    rows = by_comparison(related_rows(report(tmp_path)))
    spat = rows[("higher PGD accuracy than adv at equal budget", "spat - adv")]
    assert spat.verdict == "does not hold" and "one-step" in spat.reason
    assert "15.00% vs 30.00%" in spat.shown and "-15.00 pp" in spat.shown
    # identical per-image results: the interval is [0, 0]: comparable holds, within noise
    gsct = rows[("PGD accuracy comparable to adv's", "gsct - adv")]
    assert gsct.verdict == "holds (within noise)"
    sns_std = rows[("higher PGD accuracy than standard", "sns - standard")]
    assert sns_std.verdict == "holds" and sns_std.reason == ""


def test_sensitivity_rows_count_the_lower_layers(tmp_path):
    rows = by_comparison(related_rows(report(tmp_path)))
    assert rows[("lower layer-wise neuron sensitivity", "sns - standard")].verdict == "holds"
    mixed = rows[("lower layer-wise neuron sensitivity", "sns - adv")]
    assert mixed.verdict == "mixed (2/3)" and "lower in 2 of 3 layers (not in l1)" in mixed.shown


def test_cost_row_reads_the_manifest_and_consensus_row_the_values(tmp_path):
    consensus = {
        "values": {
            "gsct": {"saliency": {"pgd": {"cosine": [0.9, 0.8, 0.85, 0.9] * 10}}},
            "adv": {"saliency": {"pgd": {"cosine": [0.5, 0.6, 0.55, 0.5] * 10}}},
        },
        "means": {
            "gsct": {"saliency": {"pgd": {"cosine": 0.8625}}},
            "adv": {"saliency": {"pgd": {"cosine": 0.5375}}},
        },
    }
    rows = by_comparison(related_rows(report(tmp_path, consensus=consensus)))
    cost = rows[next(k for k in rows if k[1] == "gsct / adv")]
    assert "4.5x" in cost.shown and cost.verdict.startswith("holds")
    assert rows[("higher gradient-saliency consensus under attack", "gsct - adv")].verdict == "holds"


def test_no_related_variant_no_table_and_incomplete_suites_are_skipped(tmp_path):
    r = report(tmp_path)
    r["status"]["robustness"]["state"] = "partial"
    assert all("PGD accuracy" not in row.claim for row in related_rows(r))
    r["pack"]["path"] = str(tmp_path / "missing")
    r["suites"] = {}
    r["status"] = {}
    assert markdown(r) == ""


def test_spat_is_compared_with_its_same_budget_reference_and_its_first_reading(tmp_path):
    r = report(tmp_path)
    settings = {"seed": 0, "limit": None, "n": N, "pgd_steps": None}
    r["settings"]["robustness"] = settings
    # the same-budget adv (trained outside the pack): 100 right, a report of its own
    (tmp_path / "ref").mkdir()
    ref = {"settings": {"robustness": settings}, "suites": {"robustness": robustness({"adv": 100})}}
    (tmp_path / "ref" / "report.json").write_text(json.dumps(ref))
    # spat's first reading, kept before it was retrained: 40 right
    kept = {"settings": settings, "results": robustness({"spat": 40})}
    (tmp_path / "first.json").write_text(json.dumps(kept))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["variants"]["spat"] = {
        "same_budget_reference": {"variant": "adv", "robustness": "ref/report.json", "budget": "PGD-3"},
        "first_reading": {"robustness": "first.json", "reading": "one-step"},
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    rows = by_comparison(related_rows(r))
    same = rows[("higher PGD accuracy than adv at equal budget (PGD-3)", "spat - adv (same budget)")]
    assert "15.00% vs 25.00%" in same.shown and same.verdict == "does not hold"
    first_claim = "higher PGD accuracy than adv's: the first reading (one-step)"
    first = rows[(first_claim, "spat (first reading) - adv")]
    assert "10.00% vs 30.00%" in first.shown and "one-step" in first.reason
    # the pack's spat is no longer compared with the one-step adv of another budget
    assert not any(k[1] == "spat - adv" for k in rows)
    # kept results made on other test images are not compared
    kept["settings"] = {**settings, "n": N // 2}
    (tmp_path / "first.json").write_text(json.dumps(kept))
    assert not any(k[1] == "spat (first reading) - adv" for k in by_comparison(related_rows(r)))


def test_cost_row_falls_back_on_the_measured_per_step_ratio(tmp_path):
    r = report(tmp_path)
    manifest = {
        "variants": {
            "gsct": {"seconds_per_epoch": 1300.0, "step_cost_vs_adv": {"ratio": 3.2, "source": "bench"}}
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    cost = next(row for row in related_rows(r) if row.comparison == "gsct / adv")
    assert "3.2x adv's time per step (bench)" in cost.shown and cost.verdict.startswith("holds")
    manifest["variants"]["gsct"]["step_cost_vs_adv"]["ratio"] = 6.0
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    cost = next(row for row in related_rows(r) if row.comparison == "gsct / adv")
    assert cost.verdict.startswith("does not hold")
