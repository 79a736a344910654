"""The shipped demo pack loads and scores the clean accuracy its manifest records."""

import json

import pytest
from conftest import DEMO_PACK

from sc_viz import load_pack
from sc_viz.metrics import accuracy


@pytest.fixture(scope="module")
def demo():
    assert (DEMO_PACK / "manifest.json").exists(), "the demo pack is part of the repository"
    return load_pack(DEMO_PACK, device="cpu")


def test_demo_pack_loads_every_variant(demo):
    assert demo.errors == {}
    assert demo.dataset == "cifar10" and demo.arch == "resnet20" and demo.input_size == 32
    assert set(demo.models) == set(demo.manifest["variants"]) and "standard" in demo.models
    for variant, entry in demo.manifest["variants"].items():
        assert entry["config"]["variant"] == variant


def test_demo_pack_scores_its_recorded_clean_accuracy(demo, cifar_test):
    scored = 0
    for variant, entry in demo.manifest["variants"].items():
        metrics = entry.get("metrics") or {}
        if entry.get("status") != "complete":
            continue  # a variant still training has no final numbers yet
        assert metrics["test_n"] == len(cifar_test) == 10000
        acc = accuracy(demo.models[variant], cifar_test, batch_size=1000)
        assert acc == pytest.approx(metrics["clean_acc"], abs=0.005), variant
        scored += 1
    assert scored >= 1


def test_demo_pack_training_log_has_every_epoch():
    log = [json.loads(line) for line in (DEMO_PACK / "train_log.jsonl").read_text().splitlines()]
    manifest = json.loads((DEMO_PACK / "manifest.json").read_text())
    for variant, entry in manifest["variants"].items():
        epochs = [r["epoch"] for r in log if r.get("variant") == variant and "epoch" in r]
        # a resumed run may repeat an epoch it had not saved; every saved one is there
        assert sorted(set(epochs)) == list(range(1, entry["epochs_done"] + 1)), variant
