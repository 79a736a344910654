"""The demo pack's committed report.md is what the report code writes from the committed
report.json (its per-image values included: the claims tables' intervals come from them),
so a change to a suite's section or to the layout shows here before a report is rerun."""

import json
from pathlib import Path

import pytest

from sc_viz.evaluate.report import render_markdown

REPORT = Path(__file__).resolve().parents[2] / "reports" / "cifar10-resnet20"


@pytest.mark.skipif(not (REPORT / "report.json").exists(), reason="no committed demo report")
def test_the_committed_report_md_is_rendered_from_its_report_json():
    report = json.loads((REPORT / "report.json").read_text())
    # notes: the figures' failures, none when the committed report was written
    assert render_markdown(report, [], REPORT) == (REPORT / "report.md").read_text()
