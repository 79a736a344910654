"""The Models page's headline: accuracies as percentages, eps as k/255, lambda only where a
continuity term exists, and curves without lines for variants that logged nothing."""

import json

from conftest import REPO

from sc_viz.app import catalog
from sc_viz.app import models_view as mv

DEMO = REPO / "checkpoints" / "cifar10-resnet20"


def test_headline_of_the_demo_pack():
    rows = mv.headline_rows(json.loads((DEMO / "manifest.json").read_text()))
    # the paper's four first, then the related variants (registry order)
    assert [r["Variant"] for r in rows] == ["standard", "c", "adv", "advc", "spat", "sns", "gsct"]
    assert list(rows[0])[:3] == ["Variant", "Clean accuracy", "PGD accuracy"]
    by = {r["Variant"]: r for r in rows}
    assert by["standard"]["Clean accuracy"] == "86.6%" and by["adv"]["PGD accuracy"] == "31.6%"
    assert {r["PGD ε"] for r in rows} == {"8/255"}
    assert by["standard"]["λ"] == by["adv"]["λ"] == mv.NOT_AVAILABLE  # no continuity term
    assert by["c"]["λ"] == by["advc"]["λ"] == "0.1"
    assert by["spat"]["λ"] == mv.NOT_AVAILABLE and by["sns"]["λ"] == "sns_lambda = 0.5"


def test_headline_of_a_partial_manifest():
    manifest = {
        "variants": {
            "robust": {"metrics": {"clean_acc": 0.5}, "config": {"lam": 0.3}},
            "c": {"status": "training"},
        }
    }
    rows = mv.headline_rows(manifest)
    assert [r["Variant"] for r in rows] == ["c", "robust"]
    assert rows[0]["Clean accuracy"] == rows[0]["PGD ε"] == mv.NOT_AVAILABLE
    assert rows[1]["Clean accuracy"] == "50.0%" and rows[1]["λ"] == mv.NOT_AVAILABLE
    assert mv.eps_text(4 / 255) == "4/255" and mv.eps_text(0.01) == "0.01"


def test_curves_list_only_lines_that_exist():
    curves = mv.present_curves(catalog.training_curves(DEMO))
    # standard and c never ran PGD during training
    assert set(curves["test_pgd_acc"]) == {"epoch", "adv", "advc", "spat", "sns", "gsct"}
    assert set(curves["loss"]) == {"epoch", "standard", "c", "adv", "advc", "spat", "sns", "gsct"}
    assert mv.present_curves({"x": {"epoch": [1], "c": [None]}}) == {}
    assert mv.curve_title("test_pgd_acc") == "Test PGD accuracy"


def test_lambda_follows_the_weighted_terms():
    assert mv.weight_fields("standard") == [] and mv.weight_fields("advc") == ["lam"]
    assert mv.weight_text("c", {"lam": 0.25}) == "0.25"
    assert mv.weight_text("adv", {"lam": 0.25}) == mv.NOT_AVAILABLE
    assert mv.weight_text("robust", {"lam": 0.25}) == mv.NOT_AVAILABLE
