"""The README's results block is exactly what scripts/readme_results.py writes from the
committed report and experiments: no number in it is typed by hand."""

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_results_block_is_generated_from_the_report():
    spec = importlib.util.spec_from_file_location("readme_results", REPO / "scripts" / "readme_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    report_dir = "reports/cifar10-resnet20"
    report = json.loads((REPO / report_dir / "report.json").read_text())
    block = f"{mod.START}\n{mod.results_block(report, report_dir)}\n{mod.END}"
    assert block in (REPO / "README.md").read_text()
    assert report["settings"]["robustness"]["limit"] is None  # the whole test set
    assert all(st["state"] == "complete" for st in report["status"].values())
