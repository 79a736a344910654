"""The trainer on tiny data: each variant's step lowers its loss; resume is exact; the
pack it writes satisfies the contract other parts rely on."""

import json

import pytest
import torch

from sc_viz import load_model_file, load_pack, packs
from sc_viz.data import seeded_subset
from sc_viz.models import build_model
from sc_viz.training.trainer import TrainConfig, train, training_step
from sc_viz.variants import VARIANTS

TINY = dict(
    arch="tinycnn",
    optimizer="sgd",
    lr=0.05,
    epochs=2,
    batch_size=64,
    train_limit=256,
    test_limit=64,
    epoch_eval_limit=64,
    epoch_pgd_limit=32,
    attack_steps=2,
    precision="fp32",
)


@pytest.mark.parametrize("variant", VARIANTS.names())
def test_a_few_steps_lower_the_variants_loss(variant, cifar_test):
    cfg = TrainConfig(variant=variant, **TINY)
    batch = seeded_subset(cifar_test, 64, seed=1)
    x, y = batch.images.float() / 255, batch.labels
    torch.manual_seed(0)
    model = build_model("tinycnn", 10, (0.5,) * 3, (0.25,) * 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def loss_now():  # same perturbations and attack start every time: comparable values
        return training_step(model, model, x, y, cfg, torch.Generator().manual_seed(7), None)[0]

    before = loss_now().item()
    for _ in range(15):
        loss = loss_now()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss_now().item() < before - 0.05


# docs/method.md#variants: what the cross-entropy sees and which pairs the continuity term
# compares ("photo": x and a random photometric T(x); "adv": x and PGD(x)).
METHOD_TERMS = {
    "standard": ("clean", []),
    "c": ("clean", ["photo"]),
    "adv": ("adv", []),
    "advc": ("adv", ["adv", "photo"]),
}


@pytest.mark.parametrize("variant", METHOD_TERMS)
def test_variant_terms_are_the_ones_of_method_md(variant, cifar_test):
    from sc_viz.attacks import pgd
    from sc_viz.losses import continuity_loss
    from sc_viz.perturb import random_photometric

    batch = seeded_subset(cifar_test, 16, seed=2)
    x, y = batch.images.float() / 255, batch.labels  # (16, 3, 32, 32)
    torch.manual_seed(0)
    # no batch norm: each image's logits do not depend on what else is in the batch
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    cfg = TrainConfig(variant=variant, lam=0.5, **TINY)
    loss, ce, sc, _ = training_step(model, model, x, y, cfg, torch.Generator().manual_seed(0), None)

    ce_on, pairs = METHOD_TERMS[variant]
    g = torch.Generator().manual_seed(0)  # the step draws the attack's start first, then T
    views = {"clean": x}
    if ce_on == "adv" or "adv" in pairs:
        views["adv"] = pgd(model, x, y, cfg.train_attack, generator=g)
    if "photo" in pairs:
        views["photo"] = random_photometric(x, g, cfg.perturbations, cfg.levels)
    with torch.no_grad():
        ce_expected = torch.nn.functional.cross_entropy(model(views[ce_on]), y)
        sc_expected = sum((continuity_loss(model(x), model(views[p])) for p in pairs), torch.tensor(0.0))
    assert ce.item() == pytest.approx(ce_expected.item(), rel=1e-5)
    assert sc.item() == pytest.approx(sc_expected.item(), rel=1e-5, abs=1e-7)
    assert loss.item() == pytest.approx(ce_expected.item() + 0.5 * sc_expected.item(), rel=1e-5)


@pytest.fixture(scope="module")
def trained_pack(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("train") / "pack"
    metrics = train(TrainConfig(variant="standard", **TINY), out, progress=False, log=lambda m: None)
    return out, metrics


def test_pack_contract(trained_pack):
    out, metrics = trained_pack
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dataset"] == "cifar10" and manifest["arch"] == "tinycnn"
    assert manifest["classes"][0] == "airplane" and len(manifest["classes"]) == 10
    assert manifest["input_size"] == 32
    entry = manifest["variants"]["standard"]
    assert entry["file"] == "standard.safetensors" and entry["status"] == "complete"
    assert entry["config"] == TrainConfig(variant="standard", **TINY).to_dict()
    m = entry["metrics"]
    assert m == json.loads(json.dumps(metrics))
    assert 0 <= m["pgd_acc"] <= 1 and 0 <= m["clean_acc"] <= 1 and m["test_n"] == 64
    assert m["pgd"] == {
        "eps": 8 / 255,
        "step_size": 2 / 255,
        "steps": 10,
        "random_start": True,
        "norm": "Linf",
    }
    assert set(m["ds_level2"]) == {"brightness", "contrast", "saturation", "hue"}
    log = packs.read_jsonl(out / "train_log.jsonl")
    epochs = [r for r in log if "epoch" in r]
    assert [r["epoch"] for r in epochs] == [1, 2]
    for key in ("loss", "ce", "sc", "train_acc", "test_acc", "images_per_s", "wall_s", "lr"):
        assert all(isinstance(r[key], float) for r in epochs), key
    assert not (out / ".resume" / "standard.pt").exists()  # removed once complete


def test_save_load_round_trip_is_bit_exact(trained_pack):
    out, _ = trained_pack
    pack = load_pack(out, device="cpu")
    model = pack.models["standard"]
    assert not model.training and pack.errors == {}
    state, info = packs.read_weights(out / "standard.safetensors")
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    copy = out.parent / "copy.safetensors"
    packs.save_weights(copy, model, info["model"], info["config"])
    assert copy.read_bytes() == (out / "standard.safetensors").read_bytes()
    rebuilt, meta = load_model_file(copy, device="cpu")  # from the file alone
    x = torch.rand(3, 3, 32, 32)
    assert torch.equal(rebuilt(x), model(x))
    assert meta["config"]["variant"] == "standard"


@pytest.mark.parametrize("variant", ["advc", "gsct"])  # a paper variant and a related one
def test_resume_goes_on_from_the_saved_epoch_and_matches_an_uninterrupted_run(variant, tmp_path, data_root):
    cfg = TrainConfig(variant=variant, schedule="onecycle", **{**TINY, "epochs": 3})
    train(cfg, tmp_path / "full", progress=False, log=lambda m: None)
    train(cfg, tmp_path / "cut", progress=False, log=lambda m: None, stop_after_epochs=1)
    state = torch.load(tmp_path / "cut" / ".resume" / f"{variant}.pt", weights_only=True)
    assert state["epoch"] == 1
    lines = []
    train(cfg, tmp_path / "cut", resume=True, progress=False, log=lines.append)
    assert lines[0] == f"{variant}: resuming after epoch 1/3"
    a, _ = packs.read_weights(tmp_path / "full" / f"{variant}.safetensors")
    b, _ = packs.read_weights(tmp_path / "cut" / f"{variant}.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = packs.read_jsonl(tmp_path / "cut" / "train_log.jsonl")
    assert [r["epoch"] for r in log if "epoch" in r] == [1, 2, 3]
    entry = packs.read_manifest(tmp_path / "cut")["variants"][variant]
    assert len(entry["epoch_seconds"]) == 3 and entry["seconds_per_epoch"] > 0
