"""sweep-lambda, transfer and fairness end to end on tiny data (tinycnn, 1 epoch)."""

import json
import shutil

import pytest
import torch

from sc_viz import load_pack
from sc_viz.cli import main
from sc_viz.data import colour_is_red, load_split
from sc_viz.evaluate import run_suites
from sc_viz.evaluate.report import experiment_links
from sc_viz.evaluate.stats import FAILS, HOLDS, NOISE
from sc_viz.experiments.summary import summary
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


def test_sweep_lambda_seeds_saliency_and_resume(tmp_path):
    out = tmp_path / "sweep"
    args = [
        "sweep-lambda",
        "--arch",
        "tinycnn",
        "--lambdas",
        "0",
        "1",
        "--seeds",
        "0",
        "1",
        "--out",
        str(out),
    ]
    sal = ["--saliency-images", "3", "--saliency-methods", "saliency"]
    assert main(args + sal + TINY) == 0
    result = json.loads((out / "sweep_lambda.json").read_text())
    assert list(result["lambdas"]) == ["0", "1"] and result["seeds"] == [0, 1]
    for key, lam in (("0", 0.0), ("1", 1.0)):
        row = result["lambdas"][key]
        for seed in (0, 1):  # one pack per seed and lambda
            cfg = load_pack(out / f"seed-{seed}" / f"lam-{key}", device="cpu").manifest["variants"]["c"][
                "config"
            ]
            assert (cfg["lam"], cfg["seed"]) == (lam, seed)
        acc = row["accuracy"]
        assert row["n"] == 64 and len(acc["per_seed"]) == 2 and acc["n_seeds"] == 2
        assert acc["min"] <= acc["mean"] <= acc["max"] and acc["ci"][0] <= acc["mean"] <= acc["ci"][1]
        tv = row["saliency"]["saliency"]["total_variation"]
        assert tv["ci"][0] <= tv["mean"] <= tv["ci"][1] and len(tv["per_seed"]) == 2
        assert row["level1_ds_sum"]["mean"] == pytest.approx(sum(row["level1_ds"].values()), rel=1e-4)
    trend = result["trend"]["saliency"]["total_variation"]
    assert trend["verdict"] in (HOLDS, FAILS, NOISE) and len(trend["per_seed"]) == 2
    assert (out / "fig5_lambda.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "saliency_total_variation_lambda.png").read_bytes()[:4] == b"\x89PNG"
    assert "Saliency smoothness vs lambda" in (out / "sweep_lambda.md").read_text()
    # the saliency suite's own images: `sc-viz eval --suite saliency` on the same model
    # with the same seed and explain_limit gives the same per-image TV
    lam0 = out / "seed-0" / "lam-0"
    report = run_suites(
        lam0,
        ["saliency"],
        seed=0,
        out=None,
        progress=False,
        figures=False,
        log=lambda *a: None,
        device="cpu",
        options={"explain_limit": 3, "methods": ["saliency"]},
    )
    scores = json.loads((lam0 / "sweep_scores.json").read_text())["scores"]
    assert (
        scores["saliency"]["per_image"]["saliency"]["total_variation"]
        == (report["suites"]["saliency"]["per_image"]["c"]["saliency"]["total_variation"])
    )
    assert len(result["saliency_images"]["indices"]) == 3
    text = summary(result, "w/")
    assert f"{trend['difference']:+.3f} ({trend['verdict']})" in text and "2 seed(s)" in text
    # resume: nothing trained or explained again
    stamp = load_pack(out / "seed-1" / "lam-1", device="cpu").manifest["variants"]["c"]["trained_at"]
    scored = (out / "seed-1" / "lam-1" / "sweep_scores.json").stat().st_mtime_ns
    assert main(args + sal + TINY + ["--resume"]) == 0
    assert load_pack(out / "seed-1" / "lam-1", device="cpu").manifest["variants"]["c"]["trained_at"] == stamp
    assert (out / "seed-1" / "lam-1" / "sweep_scores.json").stat().st_mtime_ns == scored


def test_transfer_seeds_probe_and_resume(tiny_pack, tmp_path):
    out = tmp_path / "transfer"
    args = [
        "transfer",
        "--pack",
        str(tiny_pack),
        "--target",
        "fashion-mnist",
        "--variants",
        "standard",
        "adv",
    ]
    args += ["--seeds", "0", "1", "--probe", "--val-fraction", "0.004", "--patience", "1", "--out", str(out)]
    assert main(args + TINY) == 0
    result = json.loads((out / "transfer.json").read_text())
    assert result["target"] == "fashion-mnist" and result["seeds"] == [0, 1] and result["n_test"] == 64
    source = load_pack(tiny_pack, device="cpu")
    for method in ("finetune", "probe"):
        part = result["methods"][method]
        assert list(part["variants"]) == ["standard", "adv"]
        for row in part["variants"].values():
            acc = row["accuracy"]
            assert list(row["per_seed"]) == ["0", "1"] and acc["n_seeds"] == 2
            assert acc["min"] <= acc["mean"] <= acc["max"]
            assert acc["per_seed"] == [row["per_seed"][s]["accuracy"] for s in ("0", "1")]
            assert all(r["n"] == 64 and "correct" not in r for r in row["per_seed"].values())
        assert part["ordering"]["order"] == ["adv", "standard"]
        assert part["ordering"]["pairs"]["adv > standard"]["verdict"] in (HOLDS, FAILS, NOISE)
    for seed in (0, 1):
        for v in ("standard", "adv"):
            run = out / f"seed-{seed}" / v
            assert (run / "finetune.json").exists() and (run / "probe.json").exists()
            ft = json.loads((run / "finetune.json").read_text())
            assert 1 <= ft["best_epoch"] <= ft["epochs_run"] <= 1 and ft["n_val"] == 240
            start, _ = read_weights(out / f"seed-{seed}" / "init" / f"{v}.safetensors")
            src = source.models[v].state_dict()
            body = [k for k in src if not k.startswith(("normalize.", "net.fc."))]
            assert all(torch.equal(start[k], src[k]) for k in body)  # the source's features
    assert result["reinitialised"]["adv"] == ["net.fc.weight", "net.fc.bias"]  # other classes
    assert result["timing"]["finetune_s"] > 0 and result["timing"]["device"] == "cpu"
    md = (out / "transfer.md").read_text()
    assert "linear probe" in md and "adv > standard" in md and "84.61%" in md
    # the report's and the README's summary: means over seeds, the ordering's verdicts
    report = tmp_path / "report"
    (report / "experiments" / "transfer-fashion-mnist").mkdir(parents=True)
    for name in ("transfer.json", "transfer.md"):
        shutil.copy(out / name, report / "experiments" / "transfer-fashion-mnist" / name)
    (link,) = experiment_links(report)
    pair = result["methods"]["probe"]["ordering"]["pairs"]["adv > standard"]
    mean = result["methods"]["probe"]["variants"]["adv"]["accuracy"]["mean"]
    assert "experiments/transfer-fashion-mnist/transfer.md" in link and "2 seed(s)" in link
    assert f"`adv` {100 * mean:.2f}%" in link and f"adv > standard: {pair['verdict']}" in link
    # resume keeps finished runs; without --resume they are refused
    done = (out / "seed-1" / "adv" / "finetune.json").stat().st_mtime_ns
    assert main(args + TINY + ["--resume"]) == 0
    assert (out / "seed-1" / "adv" / "finetune.json").stat().st_mtime_ns == done
    assert main(args + TINY) == 2


def test_cifar10_lowres_target(data_root):
    from sc_viz.data import LOWRES_SIZE

    low = load_split("cifar10-lowres", "test", data_root)
    full = load_split("cifar10", "test", data_root)
    assert low.images.shape == full.images.shape and torch.equal(low.labels, full.labels)
    expected = torch.nn.functional.interpolate(
        torch.nn.functional.interpolate(full.images[:200].float(), size=(LOWRES_SIZE,) * 2, mode="area"),
        size=(32, 32),
        mode="bilinear",
    )
    assert (low.images[:200].float() - expected).abs().max() <= 0.5  # 16 px, scaled back up

    def detail(images):  # mean absolute difference of horizontal neighbours
        x = images[:200].float()
        return (x[..., 1:] - x[..., :-1]).abs().mean()

    assert detail(low.images) < 0.6 * detail(full.images)


def test_fashion_mnist_location_from_the_environment(tmp_path, monkeypatch, data_root):
    from sc_viz.data import DataNotFound, fashion_dirs

    folder = tmp_path / "fm"
    folder.mkdir()
    found = next(d for d in fashion_dirs(data_root) if (d / "t10k-labels-idx1-ubyte.gz").exists())
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).symlink_to(found / name)
    monkeypatch.setenv("SC_VIZ_FASHION_MNIST", str(folder))
    assert fashion_dirs(tmp_path)[0] == folder
    assert len(load_split("fashion-mnist", "test", tmp_path / "empty")) == 10000
    monkeypatch.setattr("sc_viz.data.FASHION_DIRS", ("fashion-mnist",))
    with pytest.raises(DataNotFound, match="SC_VIZ_FASHION_MNIST"):
        load_split("fashion-mnist", "train", tmp_path / "empty")


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
