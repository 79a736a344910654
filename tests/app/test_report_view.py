"""report_view: the stored report as the Continuity and Robustness pages read it."""

import json
import shutil

from sc_viz.app import report_view
from sc_viz.evaluate import run_suites
from sc_viz.packs import load_pack


def make_report(pack_dir, reports_root, suites=("continuity", "robustness")):
    return run_suites(
        pack_dir,
        suites,
        limit=12,
        seed=1,
        out=reports_root / pack_dir.name,
        progress=False,
        figures=False,
        log=lambda *a: None,
        device="cpu",
        options={"pgd_steps": 1},
    )


def test_rows_come_from_the_report(tiny_pack, tmp_path):
    made = make_report(tiny_pack, tmp_path)
    stored = report_view.stored_report(load_pack(tiny_pack, device="cpu"), tmp_path)
    assert stored.message is None
    rows = report_view.robustness_rows(stored, ["advc", "standard"])
    assert [r["variant"] for r in rows] == ["advc", "standard"]
    r = made["suites"]["robustness"]["advc"]
    assert rows[0]["clean accuracy"] == f"{100 * r['clean_acc']:.2f}%"
    assert rows[0]["PGD accuracy"] == f"{100 * r['pgd_acc']:.2f}%"
    # the paper's Table 2 (docs/method.md#the-papers-numbers)
    assert rows[0]["paper: ResNet50 (ImageNet)"] == "50.66% / 32.55%"
    caption = report_view.robustness_caption(stored)
    assert "n = 12 test images" in caption and "PGD-1" in caption and "eps 8/255" in caption
    means = report_view.continuity_means(stored, ["c"])
    assert means == {"c": made["suites"]["continuity"]["mean_ds"]["c"]}
    assert report_view.continuity_means(stored, ["not-a-variant"]) is None
    rates = report_view.continuity_means(stored, ["adv"], key="violation_rate")
    assert rates == {"adv": made["suites"]["continuity"]["violation_rate"]["adv"]}


def test_missing_report_and_missing_suite(tiny_pack, tmp_path):
    pack = load_pack(tiny_pack, device="cpu")
    none = report_view.stored_report(pack, tmp_path)
    assert none.report is None and "sc-viz eval --pack" in none.message
    assert report_view.robustness_rows(none, ["c"]) is None
    assert report_view.continuity_means(none, ["c"]) is None
    make_report(tiny_pack, tmp_path, suites=["continuity"])
    only = report_view.stored_report(pack, tmp_path)
    assert only.message is None and report_view.robustness_rows(only, ["c"]) is None
    assert report_view.robustness_caption(only) == ""


def test_partial_suite_is_not_shown(tiny_pack, tmp_path):
    make_report(tiny_pack, tmp_path)
    path = tmp_path / tiny_pack.name / "report.json"
    report = json.loads(path.read_text())
    report["status"]["robustness"]["state"] = "partial"
    path.write_text(json.dumps(report))
    stored = report_view.stored_report(load_pack(tiny_pack, device="cpu"), tmp_path)
    assert report_view.robustness_rows(stored, ["c"]) is None
    assert report_view.continuity_means(stored, ["c"]) is not None


def test_stale_and_unreadable_reports_are_messages(tiny_pack, tmp_path):
    pack_dir = tmp_path / "packs" / tiny_pack.name
    shutil.copytree(tiny_pack, pack_dir)
    make_report(pack_dir, tmp_path / "reports")
    # retrain one variant: another variant's weights take its place
    shutil.copy(pack_dir / "c.safetensors", pack_dir / "adv.safetensors")
    manifest = json.loads((pack_dir / "manifest.json").read_text())
    manifest["variants"]["adv"].pop("sha256", None)
    (pack_dir / "manifest.json").write_text(json.dumps(manifest))
    stale = report_view.stored_report(load_pack(pack_dir, device="cpu"), tmp_path / "reports")
    assert stale.report is not None and "other weights" in stale.message
    (tmp_path / "reports" / tiny_pack.name / "report.json").write_text("{not json")
    broken = report_view.stored_report(load_pack(pack_dir, device="cpu"), tmp_path / "reports")
    assert broken.report is None and broken.message


def test_intervals_for_error_bars(tiny_pack, tmp_path):
    made = make_report(tiny_pack, tmp_path)
    pack = load_pack(tiny_pack, device="cpu")
    stored = report_view.stored_report(pack, tmp_path)
    ci = report_view.continuity_intervals(stored, ["c"])
    assert ci == {"c": made["suites"]["continuity"]["ci"]["mean_ds"]["c"]}
    low, high = ci["c"]["hue"]["2"]
    assert low <= made["suites"]["continuity"]["mean_ds"]["c"]["hue"]["2"] <= high
    acc = report_view.robustness_intervals(stored, ["advc"])
    r = made["suites"]["robustness"]["advc"]
    assert acc["advc"]["clean"][0] <= r["clean_acc"] <= acc["advc"]["clean"][1]
    # a report stored before the intervals: Wilson still works, bootstrap ones are None
    path = tmp_path / tiny_pack.name / "report.json"
    report = json.loads(path.read_text())
    del report["suites"]["continuity"]["ci"]
    path.write_text(json.dumps(report))
    old = report_view.stored_report(pack, tmp_path)
    assert report_view.continuity_intervals(old, ["c"]) is None
    assert report_view.robustness_intervals(old, ["advc"]) == acc
