"""`sc-viz eval` on a tiny pack with --limit: exit code, report files, resume."""

import json

import pytest
import torch

from sc_viz.cli import main
from sc_viz.evaluate import load_report


@pytest.fixture(autouse=True)
def one_thread():  # many small batches: one thread is faster on a loaded 2-core machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_eval_writes_report_json_md_and_figures(tiny_pack, tmp_path, capsys):
    out = tmp_path / "tiny"
    rc = main(
        [
            "eval",
            "--pack",
            str(tiny_pack),
            "--suite",
            "continuity",
            "robustness",
            "disruption",
            "--limit",
            "24",
            "--seed",
            "1",
            "--out",
            str(out),
            "--no-progress",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report["suites"]) == {"continuity", "robustness", "disruption"}
    assert all(s["state"] == "complete" for s in report["status"].values())
    assert report["settings"]["continuity"]["n"] == 24
    mean_ds = report["suites"]["continuity"]["mean_ds"]
    assert set(mean_ds) == {"standard", "c", "adv", "advc"}
    assert set(mean_ds["c"]["hue"]) == {"1", "2", "3", "4"}
    r = report["suites"]["robustness"]["advc"]
    assert 0 <= r["pgd_acc"] <= 1 and 0 <= r["clean_acc"] <= 1 and r["n"] == 24
    md = (out / "report.md").read_text()
    assert "Table 2" in md and "66.99%" in md  # the paper's number beside ours
    assert f"{100 * r['clean_acc']:.2f}%" in md
    for name in ("fig4_mean_ds", "fig1_violations", "table2_robustness", "tables7_9_11_disruption"):
        assert (out / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert "plotly" in (out / "figures.html").read_text()[:5_000_000].lower()
    assert load_report(tiny_pack, reports_root=tmp_path)["pack"]["hash"] == report["pack"]["hash"]
    assert "report.md" in capsys.readouterr().out

    # --resume keeps complete suites with the same settings
    rc = main(
        [
            "eval",
            "--pack",
            str(tiny_pack),
            "--suite",
            "all",
            "--limit",
            "24",
            "--seed",
            "1",
            "--out",
            str(out),
            "--no-progress",
            "--resume",
            "--device",
            "cpu",
            "--explain-limit",
            "2",
            "--stability-limit",
            "1",
            "--lime-samples",
            "20",
            "--sanity-limit",
            "1",
            "--methods",
            "saliency",
            "gradcam",
            "--no-figures",
        ]
    )
    assert rc == 0
    again = json.loads((out / "report.json").read_text())
    assert again["status"]["robustness"] == report["status"]["robustness"]
    assert again["suites"]["robustness"] == report["suites"]["robustness"]
    assert again["status"]["saliency"]["state"] == "complete"
    assert set(again["suites"]["explanation-stability"]["methods"]) == {"saliency", "gradcam"}
    assert again["status"]["sanity"]["state"] == "complete" and again["suites"]["sanity"]["n"] == 1


def test_eval_rejects_bad_arguments(tiny_pack, tmp_path, capsys):
    assert main(["eval", "--pack", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "manifest" in capsys.readouterr().err
    assert main(["eval", "--pack", str(tiny_pack), "--limit", "0", "--out", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        main(["eval", "--pack", str(tiny_pack), "--suite", "nope"])
