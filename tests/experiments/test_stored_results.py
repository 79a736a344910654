"""The committed experiments' Markdown is what their writers make from the committed JSON
(the seeded results: today's writers read only those; the older ones are read by
experiments.summary, tests/experiments/test_summary.py)."""

import json
from pathlib import Path

import pytest

from sc_viz.experiments import sweep, transfer

EXPERIMENTS = Path(__file__).resolve().parents[2] / "reports" / "cifar10-resnet20" / "experiments"
WRITERS = {"sweep_lambda": sweep.markdown, "transfer": transfer.markdown}


def seeded_results() -> list[Path]:
    found = [p for stem in WRITERS for p in sorted(EXPERIMENTS.glob(f"*/{stem}.json"))]
    return [p for p in found if "seeds" in json.loads(p.read_text()) and p.with_suffix(".md").exists()]


@pytest.mark.parametrize("path", seeded_results(), ids=lambda p: p.parent.name)
def test_the_committed_markdown_is_written_from_its_json(path):
    result = json.loads(path.read_text())
    assert WRITERS[path.stem](result) == path.with_suffix(".md").read_text()
