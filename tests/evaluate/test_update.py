"""Updating a report for some variants only (evaluate/update.py): the named variants'
results equal a full run's on the new weights, the others stay as they were, and a report
whose other variants changed is refused."""

import json
import shutil

import pytest
import torch
from conftest import make_pack

from sc_viz import packs
from sc_viz.cli import main
from sc_viz.evaluate.update import UpdateRefused, merge_variant_results, update_variants
from sc_viz.models import build_model

SUITES = ["robustness", "continuity", "embeddings"]
ARGS = dict(limit=16, seed=0, progress=False)


def eval_all(pack, out):
    rc = main(
        ["eval", "--pack", str(pack), "--suite", *SUITES, "--limit", "16", "--out", str(out)]
        + ["--no-progress", "--no-figures", "--device", "cpu"]
    )
    assert rc == 0
    return json.loads((out / "report.json").read_text())


def retrain(pack, variant, seed):
    """New weights for one variant, written the way the trainer writes them."""
    manifest = packs.read_manifest(pack)
    torch.manual_seed(seed)
    model = build_model("tinycnn", 10, manifest["mean"], manifest["std"]).eval()
    entry = manifest["variants"][variant]
    entry["sha256"] = packs.save_weights(pack / entry["file"], model, packs.model_facts(manifest), {})
    packs.write_variant_entry(pack, manifest, variant, entry)


def test_merge_replaces_named_variants_at_any_depth_and_in_lists():
    known = {"a", "b", "c"}
    old = {
        "x": {"a": 1, "b": 2, "c": 3},
        "n": 5,
        "items": [{"coords": {"a": 1, "b": 2}}],
        "claim": {"a": 9, "b": 8},
    }
    new = {"x": {"b": 20}, "n": 5, "items": [{"coords": {"b": 21}}], "claim": {}}
    merged = merge_variant_results(old, new, ["b"], known)
    assert merged == {
        "x": {"a": 1, "b": 20, "c": 3},
        "n": 5,
        "items": [{"coords": {"a": 1, "b": 21}}],
        "claim": {"a": 9},
    }
    assert list(merged["x"]) == ["a", "b", "c"]  # the old order kept


def test_update_equals_a_full_run_for_the_named_variant_and_keeps_the_others(tmp_path):
    pack = make_pack(tmp_path / "packs" / "tiny")
    before = eval_all(pack, tmp_path / "before")
    retrain(pack, "adv", seed=99)
    full = eval_all(pack, tmp_path / "full")  # the reference: every variant on the new weights

    out = tmp_path / "updated"
    shutil.copytree(tmp_path / "before", out)
    report = update_variants(pack, ["adv"], SUITES, out=out, device="cpu", figures=False, **ARGS)
    rob, rob_full, rob_before = (r["suites"]["robustness"] for r in (report, full, before))
    assert rob["adv"] == rob_full["adv"] != rob_before["adv"]
    assert rob["standard"] == rob_before["standard"]
    cont = report["suites"]["continuity"]
    assert cont["mean_ds"]["adv"] == full["suites"]["continuity"]["mean_ds"]["adv"]
    assert cont["mean_ds"]["c"] == before["suites"]["continuity"]["mean_ds"]["c"]
    assert report["suites"]["embeddings"] == full["suites"]["embeddings"]  # joint: all rerun
    assert report["pack"]["hash"] == full["pack"]["hash"]
    assert report["pack"]["variant_hashes"] == full["pack"]["variant_hashes"]
    assert "adv" in report["status"]["robustness"]["updated_variants"]
    assert json.loads((out / "report.json").read_text())["pack"]["hash"] == full["pack"]["hash"]


def test_update_refuses_when_another_variant_changed(tmp_path):
    pack = make_pack(tmp_path / "packs" / "tiny")
    eval_all(pack, tmp_path / "r")
    before = (tmp_path / "r" / "report.json").read_text()
    retrain(pack, "adv", seed=99)
    retrain(pack, "c", seed=98)
    with pytest.raises(UpdateRefused, match=r"\['c'\] changed"):
        update_variants(pack, ["adv"], ["robustness"], out=tmp_path / "r", device="cpu", **ARGS)
    assert (tmp_path / "r" / "report.json").read_text() == before  # nothing written


def test_update_refuses_other_settings(tmp_path):
    pack = make_pack(tmp_path / "packs" / "tiny")
    eval_all(pack, tmp_path / "r")
    retrain(pack, "adv", seed=99)
    with pytest.raises(UpdateRefused, match="other settings"):
        update_variants(
            pack, ["adv"], ["robustness"], out=tmp_path / "r", device="cpu", **{**ARGS, "limit": 8}
        )


def test_an_update_run_again_keeps_the_suites_it_already_updated(tmp_path):
    pack = make_pack(tmp_path / "packs" / "tiny")
    eval_all(pack, tmp_path / "r")
    retrain(pack, "adv", seed=99)
    first = update_variants(
        pack, ["adv"], ["robustness"], out=tmp_path / "r", device="cpu", figures=False, **ARGS
    )
    said = []
    again = update_variants(
        pack,
        ["adv"],
        ["robustness"],
        out=tmp_path / "r",
        device="cpu",
        figures=False,
        log=said.append,
        **ARGS,
    )
    assert any("already updated" in line for line in said)
    assert again["suites"]["robustness"] == first["suites"]["robustness"]
