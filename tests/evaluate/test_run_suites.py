"""run_suites: same seed -> same report; suite-by-suite saving; interrupts; resume."""

import json

import pytest

from sc_viz.evaluate import FORMAT, SUITES, Suite, load_report, run_suites
from sc_viz.evaluate.common import pack_hash
from sc_viz.packs import load_pack

QUICK = ["continuity", "robustness", "disruption"]


def run(pack, out=None, **kw):
    kw.setdefault("limit", 20)
    kw.setdefault("seed", 3)
    return run_suites(
        pack,
        kw.pop("suites", QUICK),
        out=out,
        progress=False,
        figures=False,
        log=lambda *a: None,
        device="cpu",
        **kw,
    )


def test_same_seed_same_report(tiny_pack):
    a, b = run(tiny_pack), run(tiny_pack)
    assert a["suites"] == b["suites"] and a["settings"] == b["settings"]
    c = run(tiny_pack, seed=4)
    assert c["suites"]["robustness"] != a["suites"]["robustness"]  # another subset
    assert a["settings"]["robustness"]["n"] == 20 and a["settings"]["robustness"]["seed"] == 3


def test_report_records_provenance(tiny_pack, tmp_path):
    report = run(tiny_pack, tmp_path / "tiny", suites=["disruption"])
    saved = json.loads((tmp_path / "tiny" / "report.json").read_text())
    assert saved["format"] == FORMAT
    assert saved["pack"]["hash"] == pack_hash(load_pack(tiny_pack, device="cpu"))
    assert saved["pack"]["variants"] == ["standard", "c", "adv", "advc"]
    assert saved["environment"]["torch"] and saved["environment"]["sc-viz"]
    assert saved["status"]["disruption"]["state"] == "complete"
    assert saved["suites"]["disruption"] == report["suites"]["disruption"]
    assert load_report(tiny_pack, reports_root=tmp_path) == saved
    assert load_report("no-such-pack", reports_root=tmp_path) is None


def test_a_failing_suite_is_recorded_and_the_others_run(tiny_pack, tmp_path, monkeypatch):
    def boom(ctx):
        raise RuntimeError("broken on purpose")

    monkeypatch.setitem(SUITES._items, "boom", Suite(boom, "fails"))
    report = run(tiny_pack, tmp_path, suites=["boom", "disruption"])
    assert report["failed"] == ["boom"]
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["status"]["boom"]["state"] == "failed"
    assert "broken on purpose" in saved["status"]["boom"]["error"]
    assert saved["status"]["disruption"]["state"] == "complete"


def test_interrupt_keeps_finished_suites_and_partial_results(tiny_pack, tmp_path, monkeypatch):
    def interrupted(ctx):
        ctx.checkpoint({"standard": {"half": "done"}})
        raise KeyboardInterrupt

    monkeypatch.setitem(SUITES._items, "interrupted", Suite(interrupted, "Ctrl-C midway"))
    with pytest.raises(KeyboardInterrupt):
        run(tiny_pack, tmp_path, suites=["disruption", "interrupted", "continuity"])
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["status"]["disruption"]["state"] == "complete"
    assert saved["status"]["interrupted"]["state"] == "partial"
    assert saved["suites"]["interrupted"] == {"standard": {"half": "done"}}
    assert "continuity" not in saved["suites"]


def test_resume_keeps_complete_suites_and_finishes_partial_ones(tiny_pack, tmp_path):
    first = run(tiny_pack, tmp_path, suites=["disruption", "robustness"])
    saved = json.loads((tmp_path / "report.json").read_text())
    # as if Ctrl-C came after robustness's first variant
    saved["status"]["robustness"]["state"] = "partial"
    saved["suites"]["robustness"] = {"standard": saved["suites"]["robustness"]["standard"]}
    saved["status"]["disruption"]["finished"] = "marker"
    (tmp_path / "report.json").write_text(json.dumps(saved))
    resumed = run(tiny_pack, tmp_path, suites=["disruption", "robustness"], resume=True)
    assert resumed["status"]["disruption"]["finished"] == "marker"  # not rerun
    assert resumed["status"]["robustness"]["state"] == "complete"
    assert resumed["suites"] == first["suites"]
    # other settings: nothing is reused
    again = run(tiny_pack, tmp_path, suites=["disruption"], resume=True, limit=10)
    assert again["status"]["disruption"]["finished"] != "marker"
    assert again["settings"]["disruption"]["n"] == 10
    assert "robustness" in again["suites"]  # suites not run this time are kept


def test_unknown_suite_fails_early(tiny_pack):
    with pytest.raises(KeyError, match="choose one of"):
        run(tiny_pack, suites=["nope"])


def test_report_links_the_training_experiments_beside_it(tiny_pack, tmp_path):
    from sc_viz.evaluate.report import write_report

    report = run(tiny_pack, tmp_path, suites=["disruption"])
    assert "Experiments that train" not in (tmp_path / "report.md").read_text()
    (tmp_path / "experiments" / "transfer").mkdir(parents=True)
    (tmp_path / "experiments" / "transfer" / "transfer.md").write_text("# Transfer\n")
    write_report(report, tmp_path, figures=False)
    md = (tmp_path / "report.md").read_text()
    assert "[experiments/transfer/transfer.md](experiments/transfer/transfer.md)" in md
    assert "sweep_lambda" not in md  # only what is there
