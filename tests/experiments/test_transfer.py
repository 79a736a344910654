"""experiments.transfer: the linear probe, the train/validation split and early stopping
with resume (tiny in-memory data, TinyCNN)."""

import numpy as np
import pytest
import torch

from sc_viz.data import CIFAR10_CLASSES, DATASETS, Split
from sc_viz.experiments import transfer
from sc_viz.models import build_model
from sc_viz.training.trainer import TrainConfig

SPEC = DATASETS["cifar10"]


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return build_model("tinycnn", 10, SPEC.mean, SPEC.std).eval()


def colour_split(n: int, seed: int) -> Split:
    """Class 0: reddish noise images, class 1: bluish ones (separable by colour)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    x = torch.rand(n, 3, 32, 32, generator=g) * 0.4
    x[labels == 0, 0] += 0.6
    x[labels == 1, 2] += 0.6
    return Split(labels, ["red", "blue"], images=(x * 255).round().byte())


def test_linear_probe_separates_a_separable_target():
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cs = (0.1, 1.0)
    out = transfer.linear_probe(model, colour_split(120, 0), colour_split(40, 1), colour_split(80, 2), cs=cs)
    assert out["accuracy"] >= 0.95 and out["n"] == 80 and out["features"] == 16
    assert out["wilson"][0] < out["accuracy"] <= out["wilson"][1] + 1e-9
    assert out["C"] in cs and set(out["val_accuracy_by_C"]) == {"0.1", "1"}
    assert out["correct"].mean() == out["accuracy"]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # frozen


def test_penultimate_features_are_the_heads_input():
    model = tiny_model()
    split = colour_split(10, 0)
    feats = transfer.penultimate_features(model, split)
    x = split.images.float() / 255
    with torch.no_grad():
        logits = model(x)
    assert transfer.head_name(model) == "net.fc"
    with torch.no_grad():
        from_features = model.net.fc(torch.from_numpy(feats))
    assert np.allclose(from_features.numpy(), logits.numpy(), atol=1e-5)


def test_train_validation_split_is_disjoint_and_seeded():
    split = Split(torch.arange(100), [], images=torch.arange(100).view(100, 1, 1, 1).byte())
    tr, va = transfer.split_train_val(split, 0.2, seed=3, train_limit=50)
    assert len(va) == 20 and len(tr) == 50
    assert not set(tr.labels.tolist()) & set(va.labels.tolist())
    tr2, va2 = transfer.split_train_val(split, 0.2, seed=3, train_limit=50)
    assert torch.equal(va.labels, va2.labels) and torch.equal(tr.labels, tr2.labels)
    assert not torch.equal(va.labels, transfer.split_train_val(split, 0.2, seed=4)[1].labels)


class ScriptedValidation:
    """Stands in for metrics.accuracy in fine_tune: returns the scripted validation
    accuracies in turn and keeps a copy of the weights each was 'measured' on."""

    def __init__(self, accuracies, fail_at=None):
        self.accuracies, self.fail_at, self.weights = list(accuracies), fail_at, []

    def __call__(self, model, split, **kw):
        if self.fail_at is not None and len(self.weights) == self.fail_at:
            raise KeyboardInterrupt
        self.weights.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return self.accuracies[len(self.weights) - 1]


def cfg(epochs=8):
    return TrainConfig(
        dataset="cifar10",
        arch="tinycnn",
        variant="standard",
        epochs=epochs,
        batch_size=16,
        lr=0.05,
        optimizer="sgd",
        schedule="constant",
        precision="fp32",
        seed=0,
    )


def test_early_stopping_keeps_the_best_validation_epoch(tmp_path, monkeypatch):
    scripted = ScriptedValidation([0.5, 0.8, 0.6, 0.7, 0.9])
    monkeypatch.setattr("sc_viz.metrics.accuracy", scripted)
    model = tiny_model()
    result = transfer.fine_tune(model, cfg(), colour_split(48, 0), colour_split(8, 1), tmp_path, patience=2)
    # epoch 2 is the best; epochs 3 and 4 are not better: stop after 4 (epoch 5's 0.9 never comes)
    assert (result.best_epoch, result.epochs_run, result.stopped_early) == (2, 4, True)
    assert [h["val_acc"] for h in result.history] == [0.5, 0.8, 0.6, 0.7]
    kept = model.state_dict()
    assert all(torch.equal(kept[k], scripted.weights[1][k]) for k in kept)  # epoch 2's weights
    assert not all(torch.equal(kept[k], scripted.weights[3][k]) for k in kept)  # not the last epoch's


def test_an_interrupted_fine_tune_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr("sc_viz.metrics.accuracy", ScriptedValidation([0.5, 0.8, 0.6], fail_at=2))
    with pytest.raises(KeyboardInterrupt):
        transfer.fine_tune(tiny_model(), cfg(), colour_split(48, 0), colour_split(8, 1), tmp_path, patience=2)
    assert (tmp_path / transfer.STATE_FILE).exists()
    with pytest.raises(transfer.TransferError, match="--resume"):
        transfer.fine_tune(tiny_model(), cfg(), colour_split(48, 0), colour_split(8, 1), tmp_path, patience=2)
    with pytest.raises(transfer.TransferError, match="other settings"):
        transfer.fine_tune(
            tiny_model(), cfg(9), colour_split(48, 0), colour_split(8, 1), tmp_path, patience=2, resume=True
        )
    go_on = ScriptedValidation([0.6, 0.7])  # epochs 3 and 4
    monkeypatch.setattr("sc_viz.metrics.accuracy", go_on)
    result = transfer.fine_tune(
        tiny_model(), cfg(), colour_split(48, 0), colour_split(8, 1), tmp_path, patience=2, resume=True
    )
    assert [h["val_acc"] for h in result.history] == [0.5, 0.8, 0.6, 0.7] and result.best_epoch == 2
    assert len(go_on.weights) == 2  # epochs 1-2 were not trained again


def test_init_weights_keeps_or_reinitialises_the_head(tmp_path):
    from sc_viz.packs import model_facts, new_manifest, read_weights

    source = tiny_model(1)
    manifest = new_manifest("cifar10-lowres", "tinycnn", CIFAR10_CLASSES, 32, SPEC.mean, SPEC.std)
    assert transfer.init_weights(source, manifest, 10, 0, tmp_path / "a.safetensors") == []
    fresh = transfer.init_weights(source, manifest, 10, 0, tmp_path / "b.safetensors", keep_head=False)
    assert fresh == ["net.fc.weight", "net.fc.bias"]
    kept, _ = read_weights(tmp_path / "a.safetensors")
    new, _ = read_weights(tmp_path / "b.safetensors")
    assert torch.equal(kept["net.fc.weight"], source.state_dict()["net.fc.weight"])
    assert not torch.equal(new["net.fc.weight"], source.state_dict()["net.fc.weight"])
    assert torch.equal(new["net.features.0.weight"], source.state_dict()["net.features.0.weight"])
    assert model_facts(manifest)["dataset"] == "cifar10-lowres"
