"""sweep-lambda, transfer and fairness end to end on tiny data (tinycnn, 1 epoch)."""

import json

import pytest
import torch

from sc_viz import load_pack
from sc_viz.cli import main
from sc_viz.cli.transfer import init_weights
from sc_viz.data import colour_is_red, load_split
from sc_viz.packs import read_weights

TINY = [
    "--train-limit",
    "200",
    "--test-limit",
    "64",
    "--epoch-eval-limit",
    "32",
    "--epochs",
    "1",
    "--batch-size",
    "64",
    "--precision",
    "fp32",
    "--no-progress",
]


@pytest.fixture(autouse=True)
def one_thread():  # tiny batches: one thread is faster on a loaded 2-core machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_sweep_lambda(tmp_path):
    out = tmp_path / "sweep"
    assert main(["sweep-lambda", "--arch", "tinycnn", "--lambdas", "0", "1", "--out", str(out)] + TINY) == 0
    result = json.loads((out / "sweep_lambda.json").read_text())
    assert list(result["lambdas"]) == ["0", "1"]
    for key, lam in (("0", 0.0), ("1", 1.0)):
        row = result["lambdas"][key]
        assert 0 <= row["accuracy"] <= 1 and row["n"] == 64
        assert row["level1_ds_sum"] == pytest.approx(sum(row["level1_ds"].values()))
        pack = load_pack(out / f"lam-{key}", device="cpu")
        assert pack.manifest["variants"]["c"]["config"]["lam"] == lam
        assert pack.metrics("c")["clean_acc"] == pytest.approx(row["accuracy"])  # same subset
    assert (out / "fig5_lambda.png").read_bytes()[:4] == b"\x89PNG"
    assert "| 1 |" in (out / "sweep_lambda.md").read_text()
    stamp = load_pack(out / "lam-1", device="cpu").manifest["variants"]["c"]["trained_at"]
    assert (
        main(["sweep-lambda", "--arch", "tinycnn", "--lambdas", "1", "--out", str(out), "--resume"] + TINY)
        == 0
    )
    assert load_pack(out / "lam-1", device="cpu").manifest["variants"]["c"]["trained_at"] == stamp


def test_transfer_fine_tunes_each_variant_from_its_weights(tiny_pack, tmp_path):
    out = tmp_path / "transfer"
    assert (
        main(
            [
                "transfer",
                "--pack",
                str(tiny_pack),
                "--target",
                "fashion-mnist",
                "--variants",
                "standard",
                "adv",
                "--out",
                str(out),
            ]
            + TINY
        )
        == 0
    )
    result = json.loads((out / "transfer.json").read_text())
    assert list(result["variants"]) == ["standard", "adv"] and result["target"] == "fashion-mnist"
    source = load_pack(tiny_pack, device="cpu")
    for v in ("standard", "adv"):
        ft = load_pack(out / v, device="cpu")
        assert ft.dataset == "fashion-mnist" and ft.input_size == 32
        assert result["variants"][v]["accuracy"] == ft.metrics("standard")["clean_acc"]
        start, _ = read_weights(out / "init" / f"{v}.safetensors")  # = the source's weights
        src = source.models[v].state_dict()
        assert all(torch.equal(start[k], src[k]) for k in src if not k.startswith("normalize."))
        assert result["variants"][v]["reinitialised"] == []  # 10 -> 10 classes: head kept
    assert "84.61%" in (out / "transfer.md").read_text()  # the paper's number beside ours


def test_transfer_reinitialises_the_head_when_classes_differ(tiny_pack, tmp_path):
    source = load_pack(tiny_pack, device="cpu")
    manifest = dict(source.manifest, classes=[f"k{i}" for i in range(5)], dataset="fashion-mnist")
    fresh = init_weights(source.models["c"], manifest, 5, 0, tmp_path / "init.safetensors")
    assert fresh == ["net.fc.weight", "net.fc.bias"]
    state, _ = read_weights(tmp_path / "init.safetensors")
    assert state["net.fc.weight"].shape == (5, 16)


def test_colour_biased_fashion_mnist(data_root):
    test = load_split("colour-fashion-mnist", "test", data_root)
    red_train, red_test = colour_is_red("train", 60000), colour_is_red("test", len(test))
    assert 0.94 < red_train.float().mean() < 0.96 and 0.04 < red_test.float().mean() < 0.06
    grey = load_split("fashion-mnist", "test", data_root).images[:, 0].float() / 255  # (N, 28, 28)
    for i in (0, 1, 2, 3):  # g * white + (1 - g) * background, per pixel
        bg = torch.tensor((0.9, 0.1, 0.1) if red_test[i] else (0.1, 0.1, 0.9))[:, None, None]
        expected = ((grey[i] + (1 - grey[i]) * bg) * 255).round()
        assert torch.allclose(test.images[i].float(), expected, atol=1)
    assert torch.equal(test.labels, load_split("fashion-mnist", "test", data_root).labels)


def test_fairness(tmp_path):
    out = tmp_path / "fair"
    assert main(["fairness", "--arch", "tinycnn", "--out", str(out)] + TINY) == 0
    result = json.loads((out / "fairness.json").read_text())
    pack = load_pack(out / "pack", device="cpu")
    assert pack.dataset == "colour-fashion-mnist" and set(pack.models) == {"standard", "c"}
    for v in ("standard", "c"):
        row = result["variants"][v]
        assert row["accuracy"] == pack.metrics(v)["clean_acc"]  # the subset train() scored
        assert row["n_red"] + row["n_blue"] == row["n"] == 64
        assert row["n_blue"] > row["n_red"]  # test backgrounds are mostly blue
        both = (
            row["accuracy_red_background"] * row["n_red"] + row["accuracy_blue_background"] * row["n_blue"]
        ) / row["n"]
        assert both == pytest.approx(row["accuracy"])
    assert "96.01%" in (out / "fairness.md").read_text()
