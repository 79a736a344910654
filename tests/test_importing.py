"""`sc-viz import`: users' checkpoints in the layouts met in the wild become packs whose
models give the users' logits; refusals leave nothing behind."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from sc_viz import packs
from sc_viz.cli import main
from sc_viz.explain.grid import explain_grid
from sc_viz.importing import ImportRefused, clean_state, import_pack, read_classes
from sc_viz.models import CifarResNet

MEAN, STD = (0.45, 0.4, 0.35), (0.25, 0.2, 0.3)
VIT = "timm:vit_tiny_patch16_224"
VIT_OPTIONS = {"depth": 2, "embed_dim": 32, "num_heads": 2}  # a 51k-parameter ViT


def _randomise_bn(model: torch.nn.Module) -> torch.nn.Module:
    """Random BatchNorm statistics, so a lost buffer changes the logits."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def resnet18(seed: int, num_classes: int = 10) -> torch.nn.Module:
    torch.manual_seed(seed)
    return _randomise_bn(torchvision.models.resnet18(num_classes=num_classes))


def cifar_resnet(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return _randomise_bn(CifarResNet(3, 10))


def tiny_vit(seed: int) -> torch.nn.Module:
    import timm

    torch.manual_seed(seed)
    return timm.create_model(
        VIT.partition(":")[2], pretrained=False, num_classes=10, img_size=64, **VIT_OPTIONS
    ).eval()


def assert_same_logits(pack_dir, variant, user_model, mean, std, size):
    """The pack's model on x in [0, 1] == the user's model on the normalised x."""
    pack = packs.load_pack(pack_dir, device="cpu")
    assert not pack.errors
    x = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(1))  # (3, 3, S, S)
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = user_model((x - m) / s)
        got = pack.models[variant](x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    return pack


def assert_nothing_written(out):
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]  # no temp folder


@pytest.fixture(scope="module")
def resnet_pack(tmp_path_factory):
    """torchvision ResNet-18 at 64 px: DataParallel prefix, nested dict, safetensors."""
    tmp = tmp_path_factory.mktemp("resnet")
    users = {name: resnet18(seed) for seed, name in enumerate(["dp", "nested", "st"])}
    torch.save({"module." + k: v for k, v in users["dp"].state_dict().items()}, tmp / "dp.pth")
    torch.save(
        {"epoch": 7, "model_state_dict": users["nested"].state_dict(), "best_acc": 0.9}, tmp / "nested.pt"
    )
    save_file({k: v.contiguous() for k, v in users["st"].state_dict().items()}, tmp / "st.safetensors")
    result = import_pack(
        "torchvision:resnet18",
        {"dp": tmp / "dp.pth", "nested": tmp / "nested.pt", "st": tmp / "st.safetensors"},
        tmp / "pack",
        input_size=64,
        mean=MEAN,
        std=STD,
    )
    return result, users


def test_resnet18_layouts_give_the_users_logits(resnet_pack):
    result, users = resnet_pack
    for name, user in users.items():
        pack = assert_same_logits(result.pack_dir, name, user, MEAN, STD, 64)
    assert pack.classes == read_classes("cifar10")[1]  # matched to the 10-output head
    m = pack.manifest
    assert (m["arch"], m["input_size"], m["mean"], m["std"]) == (
        "torchvision:resnet18",
        64,
        list(MEAN),
        list(STD),
    )
    assert m["gradcam_layer"] == "layer4" and m["gradcam_reshape"] is None
    assert m["variants"]["dp"]["source"]["prefixes_stripped"] == ["module."]
    assert m["variants"]["nested"]["source"]["layout"] == "state dict under 'model_state_dict'"
    assert m["variants"]["st"]["source"]["read"] == "safetensors"
    assert m["preprocessing"] == {"resize": 73, "crop": 64, "interpolation": "bilinear"}  # 256/224
    text = "\n".join(result.lines)
    assert "'module.' stripped" in text and "11,181,642 parameters" in text
    assert "next: SC_VIZ_PACKS=" in result.lines[-1]


def test_ema_weights_on_request(tmp_path):
    plain, ema = cifar_resnet(0), cifar_resnet(1)
    torch.save(
        {
            "state_dict": plain.state_dict(),
            "model_ema": {"module." + k: v for k, v in ema.state_dict().items()},
        },
        tmp_path / "c.pt",
    )
    used = import_pack(
        "resnet20", {"ema": tmp_path / "c.pt"}, tmp_path / "with", mean=MEAN, std=STD, ema=True
    )
    assert_same_logits(used.pack_dir, "ema", ema, MEAN, STD, 32)
    skipped = import_pack("resnet20", {"plain": tmp_path / "c.pt"}, tmp_path / "without", mean=MEAN, std=STD)
    assert_same_logits(skipped.pack_dir, "plain", plain, MEAN, STD, 32)
    assert any("also present under 'model_ema'" in line for line in skipped.lines)
    with pytest.raises(ImportRefused, match="EMA weights asked for"):
        import_pack(
            "resnet20", {"x": _save(tmp_path / "p.pt", plain.state_dict())}, tmp_path / "none", ema=True
        )
    assert_nothing_written(tmp_path / "none")


def _save(path, obj):
    torch.save(obj, path)
    return path


def test_robustness_zoo_checkpoint_with_normaliser_buffers(tmp_path):
    """robustness-lib layout: module.normalizer.new_mean/new_std, module.model.*, and an
    attacker copy module.attacker.*; the normalisation comes from the buffers."""
    user = cifar_resnet(3)
    state = {f"module.model.{k}": v for k, v in user.state_dict().items()}
    state.update({f"module.attacker.model.{k}": v + 1 for k, v in user.state_dict().items()})
    for prefix in ("module.normalizer.", "module.attacker.normalize."):
        state[prefix + "new_mean"] = torch.tensor(MEAN).view(3, 1, 1)
        state[prefix + "new_std"] = torch.tensor(STD).view(3, 1, 1)
    torch.save({"model": state, "optimizer": {"lr": 0.1}, "epoch": 150}, tmp_path / "robust.pt")
    result = import_pack("resnet20", {"robust": tmp_path / "robust.pt"}, tmp_path / "pack")
    pack = assert_same_logits(result.pack_dir, "robust", user, MEAN, STD, 32)
    assert pack.manifest["mean"] == pytest.approx(MEAN) and pack.manifest["std"] == pytest.approx(STD)
    source = pack.manifest["variants"]["robust"]["source"]
    assert source["prefixes_stripped"] == ["module.", "model."]
    assert "normalizer.new_mean" in source["dropped"]
    assert sum(k.startswith("attacker.") for k in source["dropped"]) == len(user.state_dict()) + 2
    assert any("normalizer.new_mean/normalizer.new_std" in line for line in result.lines)


def test_clean_state_other_buffers_and_prefixes():
    model_keys = ["conv.weight", "fc.weight"]
    state = {
        "_orig_mod.base_model.conv.weight": torch.ones(1),
        "_orig_mod.base_model.fc.weight": torch.ones(1),
        "_orig_mod.mu": torch.tensor([0.1, 0.2, 0.3]),
        "_orig_mod.sigma": torch.tensor([1.0, 2.0, 3.0]),
    }
    out = clean_state(state, model_keys)
    assert sorted(out.state) == model_keys and out.prefixes == ["_orig_mod.", "base_model."]
    assert out.normaliser[0] == pytest.approx([0.1, 0.2, 0.3]) and out.normaliser[1] == [1.0, 2.0, 3.0]
    assert out.normaliser[2] == "mu/sigma"
    # a prefix the architecture's own keys carry is never stripped
    assert clean_state({"model.a": torch.ones(1)}, ["model.a"]).state == {"model.a": torch.ones(1)}


@pytest.fixture(scope="module")
def vit_pack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vit")
    user = tiny_vit(0)
    save_file({k: v.contiguous() for k, v in user.state_dict().items()}, tmp / "vit.safetensors")
    (tmp / "names.txt").write_text("\n".join(f"thing {i}" for i in range(10)) + "\n")
    result = import_pack(
        VIT,
        {"standard": tmp / "vit.safetensors"},
        tmp / "pack",
        input_size=64,
        classes=str(tmp / "names.txt"),
        arch_options=VIT_OPTIONS,
    )
    return result, user


def test_tiny_vit_from_timm(vit_pack):
    result, user = vit_pack
    mean, std = (0.5,) * 3, (0.5,) * 3  # timm's config for this ViT: no flags, no buffers
    pack = assert_same_logits(result.pack_dir, "standard", user, mean, std, 64)
    m = pack.manifest
    assert m["arch_options"] == dict(VIT_OPTIONS, img_size=64)  # 64 px: the size keyword added
    assert m["gradcam_layer"] == "blocks.1.norm1" and m["gradcam_reshape"] == "tokens"
    assert m["classes"][3] == "thing 3" and m["dataset"] == "custom"
    assert pack.models["standard"].gradcam_reshape == "tokens"
    alone, _ = packs.load_model_file(result.pack_dir / "standard.safetensors", device="cpu")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():  # the weights file alone rebuilds it (its metadata has the options)
        torch.testing.assert_close(alone(x), pack.models["standard"](x), atol=0, rtol=0)
    assert alone.gradcam_layer == "net.blocks.1.norm1" and alone.gradcam_reshape == "tokens"
    assert any("timm's pretrained config" in line for line in result.lines)


def test_vit_gradcam_is_pytorch_grad_cams_reshape(vit_pack):
    """Grad-CAM on the token layer == the map computed by hand: drop the class token, lay
    the 16 patch tokens on the 4 x 4 grid, weights = mean gradient per channel."""
    from sc_viz.explain import explain

    model = packs.load_pack(vit_pack[0].pack_dir, device="cpu").models["standard"]
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    exp = explain(model, x, method="gradcam", target=4)
    saved = {}
    layer = model.get_submodule("net.blocks.1.norm1")
    handle = layer.register_forward_hook(lambda mod, inp, out: saved.update(a=out))
    try:
        logit = model(x)[0, 4]
    finally:
        handle.remove()
    grad = torch.autograd.grad(logit, saved["a"])[0]  # (1, 17, 32)
    grid = lambda t: t[:, 1:].reshape(1, 4, 4, 32).permute(0, 3, 1, 2)  # noqa: E731  (1, 32, 4, 4)
    weights = grid(grad).mean(dim=(2, 3), keepdim=True)
    expected = torch.relu((weights * grid(saved["a"])).sum(1))[0]  # (4, 4)
    torch.testing.assert_close(exp.extras["low_res"], expected.detach(), atol=1e-6, rtol=1e-4)
    assert exp.extras["low_res"].abs().sum() > 0


@pytest.mark.parametrize("which", ["resnet", "vit"])
def test_explain_grid_every_method_on_imported_models(which, resnet_pack, vit_pack):
    result = resnet_pack[0] if which == "resnet" else vit_pack[0]
    pack = packs.load_pack(result.pack_dir, device="cpu")
    models = dict(list(pack.models.items())[:2])
    x = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(3))
    methods = ["saliency", "gradcam", "smoothgrad", "ig", "lime"]
    grid = explain_grid(
        models,
        x,
        methods=methods,
        options={
            "ig": {"n_steps": 8},
            "smoothgrad": {"n_samples": 4},
            "lime": {"n_samples": 60, "n_segments": 16},
        },
    )
    for v in models:
        for method in methods:
            heat = grid[v, method].map
            assert heat.shape == (64, 64) and torch.isfinite(heat).all()
            assert heat.abs().sum() > 0, (v, method)
    assert grid[next(iter(models)), "gradcam"].extras["low_res"].shape == (
        (2, 2) if which == "resnet" else (4, 4)
    )


def test_gradcam_layer_override(tmp_path):
    user = resnet18(5)
    save_file(dict(user.state_dict()), tmp_path / "w.safetensors")
    result = import_pack(
        "torchvision:resnet18",
        {"a": tmp_path / "w.safetensors"},
        tmp_path / "p",
        input_size=64,
        gradcam_layer="layer3",
        mean=MEAN,
        std=STD,
    )
    pack = packs.load_pack(result.pack_dir, device="cpu")
    assert pack.manifest["gradcam_layer"] == "layer3" and pack.models["a"].gradcam_layer == "net.layer3"
    with pytest.raises(ImportRefused, match="layer9"):
        import_pack(
            "torchvision:resnet18",
            {"a": tmp_path / "w.safetensors"},
            tmp_path / "q",
            input_size=64,
            gradcam_layer="layer9",
            mean=MEAN,
            std=STD,
        )
    assert_nothing_written(tmp_path / "q")


# ---------------------------------------------------------------- refusals
class Pickled(torch.nn.Module):  # a checkpoint that is a whole pickled model
    def forward(self, x):
        return x


def test_refuses_pickled_code_and_writes_nothing(tmp_path):
    torch.save(Pickled(), tmp_path / "whole_model.pt")
    with pytest.raises(ImportRefused, match="needs code") as err:
        import_pack("resnet20", {"a": tmp_path / "whole_model.pt"}, tmp_path / "pack")
    assert "test_importing.Pickled" in str(err.value) and "safetensors" in str(err.value)
    assert "model.state_dict()" in str(err.value)
    assert_nothing_written(tmp_path / "pack")


def test_refuses_wrong_head_size(tmp_path):
    save_file(dict(resnet18(0, num_classes=100).state_dict()), tmp_path / "r.safetensors")
    with pytest.raises(ImportRefused, match="head has 100 outputs but the classes given have 10"):
        import_pack(
            "torchvision:resnet18",
            {"a": tmp_path / "r.safetensors"},
            tmp_path / "pack",
            classes="cifar10",
            input_size=64,
        )
    assert_nothing_written(tmp_path / "pack")


def test_missing_keys_refused_or_listed_with_non_strict(tmp_path):
    user = cifar_resnet(0)
    state = {k: v for k, v in user.state_dict().items() if not k.startswith("layer3.2.")}
    state["extra.weight"] = torch.zeros(2)
    save_file(state, tmp_path / "cut.safetensors")
    weights = {
        "standard": tmp_path / "cut.safetensors",
        "second": _save(tmp_path / "ok.pt", user.state_dict()),
    }
    with pytest.raises(ImportRefused, match=r"10 missing: 'layer3\.2\.conv1\.weight'") as err:
        import_pack("resnet20", weights, tmp_path / "strict", mean=MEAN, std=STD)
    assert "'layer3.2.bn2.running_var'" in str(err.value)  # all 10 named (num_batches_tracked: benign)
    assert "1 unexpected: 'extra.weight'" in str(err.value) and "--non-strict" in str(err.value)
    assert_nothing_written(tmp_path / "strict")
    result = import_pack("resnet20", weights, tmp_path / "loose", mean=MEAN, std=STD, non_strict=True)
    source = result.manifest["variants"]["standard"]["source"]
    assert len(source["missing"]) == 10 and "layer3.2.bn2.running_var" in source["missing"]
    assert source["unexpected"] == ["extra.weight"] and source["non_strict"]
    assert any("NON-STRICT: 10 missing" in line for line in result.lines)
    assert_same_logits(result.pack_dir, "second", user, MEAN, STD, 32)


def test_refuses_non_empty_out_and_bad_names(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    save_file(dict(cifar_resnet(0).state_dict()), tmp_path / "w.safetensors")
    with pytest.raises(ImportRefused, match="not empty"):
        import_pack("resnet20", {"a": tmp_path / "w.safetensors"}, tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert (
        main(
            [
                "import",
                "--arch",
                "resnet20",
                "--weights",
                "../x=" + str(tmp_path / "w.safetensors"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )


# ---------------------------------------------------------------- command line, old packs
def test_cli_import_prints_what_it_found(tmp_path, capsys):
    user = cifar_resnet(1)
    torch.save({"net": {"module." + k: v for k, v in user.state_dict().items()}}, tmp_path / "w.pth")
    rc = main(
        [
            "import",
            "--arch",
            "resnet20",
            "--weights",
            f"mine={tmp_path / 'w.pth'}",
            "--classes",
            "cifar10",
            "--mean",
            ",".join(map(str, MEAN)),
            "--std",
            ",".join(map(str, STD)),
            "--out",
            str(tmp_path / "pack"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "state dict under 'net'" in out and "'module.' stripped" in out and "from --mean/--std" in out
    assert "Grad-CAM layer: layer3" in out and "max |diff| 0" in out
    assert_same_logits(tmp_path / "pack", "mine", user, MEAN, STD, 32)
    rc = main(
        [
            "import",
            "--arch",
            "torchvision:resnet18",
            "--weights",
            f"x={tmp_path / 'w.pth'}",
            "--out",
            str(tmp_path / "other"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "tensors have other shapes than the architecture's" in err
    assert_nothing_written(tmp_path / "other")


def test_old_packs_load_as_before_and_new_fields_are_checked(tiny_pack, tmp_path):
    pack = packs.load_pack(tiny_pack, device="cpu")
    assert set(pack.models) == {"standard", "c", "adv", "advc"} and not pack.errors
    assert pack.models["standard"].gradcam_layer == "net.features"
    assert pack.models["standard"].gradcam_reshape is None
    manifest = json.loads((tiny_pack / "manifest.json").read_text())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text(json.dumps(dict(manifest, gradcam_reshape="sideways")))
    with pytest.raises(packs.PackError, match="gradcam_reshape"):
        packs.load_pack(bad, device="cpu")
