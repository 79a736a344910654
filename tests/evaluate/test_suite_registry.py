"""The suites registry: a suite is one object (its computation, settings, report section and
charts), registered once; the runner and the report need nothing else of it."""

import re

import pytest

import sc_viz.evaluate
from sc_viz.evaluate import SUITE_MODULES, SUITES, Suite, run_suites
from sc_viz.evaluate.render import Chart, Panel, table
from sc_viz.registry import UnknownName


def test_suites_register_in_the_order_of_their_modules():
    # the order of `--suite all`, of the CLI help and of a new report's run log: the
    # modules' order, whatever else imports a suite module first
    assert len(SUITE_MODULES) == 10
    assert SUITES.names()[: len(SUITE_MODULES)] == [
        "continuity",
        "embeddings",
        "robustness",
        "robustness-budgets",
        "disruption",
        "saliency",
        "explanation-stability",
        "neurons",
        "consensus",
        "sanity",
    ]


def test_the_schema_lists_every_suite():
    doc = sc_viz.evaluate.__doc__
    schema = doc[doc.index("    suites:\n") : doc.index("\nUncertainty")]
    listed = re.findall(r"^ {6}([a-z][a-z-]*)\b", schema, re.MULTILINE)
    assert listed == SUITES.names()


# ---------------------------------------------------------------- a suite added through the registry alone
def toy_run(ctx) -> dict:
    """Each variant's accuracy on the test sample."""
    correct, n = dict.fromkeys(ctx.models, 0), 0
    for x, y in ctx.batches():
        for v, model in ctx.models.items():
            correct[v] += int((model(x).argmax(1) == y).sum())
        n += len(y)
    return {"accuracy": {v: c / n for v, c in correct.items()}, "n": n}


def toy_markdown(result: dict, settings: dict) -> str:
    rows = [[v, f"{a:.3f}"] for v, a in result["accuracy"].items()]
    return (
        f"## Toy suite\n\nn = {result['n']}, scale {settings['toy_scale']}.\n\n"
        + table(["variant", "accuracy"], rows)
        + "\n![toy](figures/toy_accuracy.png)\n"
    )


def toy_charts(result: dict) -> list[Chart]:
    series = {v: [a] for v, a in result["accuracy"].items()}
    return [Chart("toy_accuracy", "Toy accuracy", [Panel("accuracy", ["clean"], series, kind="bar")])]


TOY = Suite(
    toy_run,
    "toy: clean accuracy again",
    settings=lambda ctx: {"toy_scale": ctx.options.get("toy_scale", 1)},
    markdown=toy_markdown,
    charts=toy_charts,
)


@pytest.fixture
def toy_suite():
    SUITES.add("toy", TOY)
    yield "toy"
    SUITES.remove("toy")


def test_a_suite_added_to_the_registry_alone_is_run_and_reported(toy_suite, tiny_pack, tmp_path):
    report = run_suites(
        tiny_pack,
        ["disruption", "toy"],
        limit=8,
        out=tmp_path,
        progress=False,
        log=lambda *a: None,
        device="cpu",
        options={"toy_scale": 3, "disruption_strengths": {"channel_shift": [1]}},
    )
    assert report["failed"] == [] and report["status"]["toy"]["state"] == "complete"
    assert report["settings"]["toy"]["toy_scale"] == 3 and report["suites"]["toy"]["n"] == 8
    md = (tmp_path / "report.md").read_text()
    assert "## Toy suite\n\nn = 8, scale 3." in md
    # after the suites report.md places, before the run log (which lists it)
    assert md.index("## Semantic disruption") < md.index("## Toy suite") < md.index("## Runs")
    assert "| toy | complete |" in md
    assert (tmp_path / "figures" / "toy_accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert 'id="fig-toy_accuracy"' in (tmp_path / "figures.html").read_text()
    assert "toy" in SUITES.names()  # ... until the fixture removes it


def test_a_removed_suite_is_gone():
    SUITES.add("toy", TOY)
    assert SUITES.remove("toy") is TOY
    assert "toy" not in SUITES
    with pytest.raises(UnknownName):
        SUITES.remove("toy")
