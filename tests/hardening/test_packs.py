"""Unsafe and broken checkpoint files and manifests: refused with a message naming the
file, never unpickled, never half-loaded; the pack's other variants still load."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from conftest import make_pack

from sc_viz import PackError, load_model_file, load_pack, packs


class Sentinel:
    """Unpickling this creates a file: proof that code from the file ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def pack(tmp_path) -> Path:
    return make_pack(tmp_path / "pack", variants=("standard", "c", "adv", "advc"))


def manifest_of(pack: Path) -> dict:
    return json.loads((pack / "manifest.json").read_text())


def write_manifest(pack: Path, m: dict) -> None:
    (pack / "manifest.json").write_text(json.dumps(m))


def assert_only_bad_refused(pack: Path, bad: str, *words) -> str:
    p = load_pack(pack, device="cpu")
    assert bad not in p.models, "a refused variant must not be half-loaded"
    assert set(p.models) == {"standard", "c", "adv", "advc"} - {bad}
    assert all(not m.training for m in p.models.values())
    msg = p.errors[bad]
    assert "\n" not in msg and len(msg) < 400, msg
    for w in words:
        assert w in msg, msg
    return msg


# ------------------------------------------------------------------ weights files
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL, "torch"])
def test_pickle_posing_as_safetensors_never_runs(pack, tmp_path, protocol):
    sentinel = tmp_path / "PWNED"
    target = pack / "c.safetensors"
    payload = {"net.fc.weight": Sentinel(sentinel)}
    if protocol == "torch":
        torch.save(payload, target)  # a real torch checkpoint (zip + pickle) renamed
    else:
        target.write_bytes(pickle.dumps(payload, protocol=protocol))
    assert not sentinel.exists()
    msg = assert_only_bad_refused(pack, "c", str(target), "not a valid safetensors")
    assert not sentinel.exists(), "unpickling ran code from the checkpoint"
    with pytest.raises(PackError):
        load_model_file(target, device="cpu")
    with pytest.raises(PackError):
        packs.read_weights(target)
    assert not sentinel.exists()
    assert "c.safetensors" in msg


def test_zero_byte_safetensors(pack):
    (pack / "adv.safetensors").write_bytes(b"")
    assert_only_bad_refused(pack, "adv", "adv.safetensors", "empty")


@pytest.mark.parametrize("keep", [8, 40, 0.5, -1])
def test_truncated_safetensors(pack, keep):
    f = pack / "advc.safetensors"
    data = f.read_bytes()
    if isinstance(keep, int) and keep > 0:
        cut = keep
    else:
        cut = len(data) - 1 if keep == -1 else int(len(data) * keep)
    f.write_bytes(data[:cut])
    assert_only_bad_refused(pack, "advc", "advc.safetensors")


def test_random_bytes_safetensors(pack):
    (pack / "standard.safetensors").write_bytes(os.urandom(20_000))
    assert_only_bad_refused(pack, "standard", "standard.safetensors")


def test_header_claiming_huge_length(pack):
    # an 8-byte header length of 2**60: must not try to allocate it
    (pack / "c.safetensors").write_bytes((2**60).to_bytes(8, "little") + b"{}")
    assert_only_bad_refused(pack, "c", "c.safetensors")


def test_weights_of_another_architecture(pack, tmp_path):
    other = make_pack(tmp_path / "other", arch="resnet20", variants=("standard",))
    shutil.copy(other / "standard.safetensors", pack / "adv.safetensors")
    msg = assert_only_bad_refused(pack, "adv", "adv.safetensors", "do not fit")
    assert "resnet20" in msg  # says where the weights came from


def test_weights_with_other_class_count(pack, tmp_path):
    other = make_pack(tmp_path / "other", variants=("standard",), num_classes=7)
    shutil.copy(other / "standard.safetensors", pack / "c.safetensors")
    assert_only_bad_refused(pack, "c", "c.safetensors", "do not fit")


def test_load_model_file_of_bad_files_raises_packerror(tmp_path, pack):
    f = tmp_path / "m.safetensors"
    for data in (b"", b"\x00" * 7, os.urandom(100), pickle.dumps({"a": 1})):
        f.write_bytes(data)
        with pytest.raises(PackError, match="m.safetensors"):
            load_model_file(f, device="cpu")
    # valid safetensors without sc_viz metadata
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(f))
    with pytest.raises(PackError, match="metadata"):
        load_model_file(f, device="cpu")


def test_load_model_file_with_lying_metadata(tmp_path, pack):
    """Metadata claiming arch resnet20 on tinycnn weights: a PackError, not a traceback."""
    state, info = packs.read_weights(pack / "standard.safetensors")
    info["model"]["arch"] = "resnet20"
    from safetensors.torch import save_file

    f = tmp_path / "liar.safetensors"
    save_file(state, str(f), metadata={"sc_viz": json.dumps(info)})
    with pytest.raises(PackError, match="liar.safetensors"):
        load_model_file(f, device="cpu")
    info["model"]["arch"] = "no-such-net"
    save_file(state, str(f), metadata={"sc_viz": json.dumps(info)})
    with pytest.raises(PackError, match="liar.safetensors"):
        load_model_file(f, device="cpu")
    save_file(state, str(f), metadata={"sc_viz": "[1, 2]"})  # valid JSON, wrong shape
    with pytest.raises(PackError, match="liar.safetensors"):
        load_model_file(f, device="cpu")


def test_variant_file_is_a_directory_or_missing(pack):
    (pack / "c.safetensors").unlink()
    (pack / "c.safetensors").mkdir()
    (pack / "adv.safetensors").unlink()
    p = load_pack(pack, device="cpu")
    assert set(p.models) == {"standard", "advc"}
    assert "c.safetensors" in p.errors["c"] and "adv.safetensors" in p.errors["adv"]


def test_fifo_variant_file_does_not_hang(pack):
    (pack / "c.safetensors").unlink()
    os.mkfifo(pack / "c.safetensors")
    assert_only_bad_refused(pack, "c", "c.safetensors")


# ------------------------------------------------------------------ manifests
@pytest.mark.parametrize("field", ["dataset", "arch", "classes", "input_size", "mean", "std", "variants"])
def test_manifest_missing_field(pack, field):
    m = manifest_of(pack)
    del m[field]
    write_manifest(pack, m)
    with pytest.raises(PackError) as info:
        load_pack(pack, device="cpu")
    assert str(pack / "manifest.json") in str(info.value) and field in str(info.value)


@pytest.mark.parametrize(
    "field,value",
    [
        ("dataset", 3),
        ("arch", ["tinycnn"]),
        ("classes", "airplane"),
        ("classes", []),
        ("classes", [1, 2, 3]),
        ("input_size", "32"),
        ("input_size", True),
        ("input_size", 0),
        ("input_size", -32),
        ("mean", 0.5),
        ("mean", ["a", "b", "c"]),
        ("mean", [0.5, 0.5]),
        ("std", [0.2, 0.0, 0.2]),
        ("std", [0.2, None, 0.2]),
        ("variants", []),
        ("arch", "nonet"),
    ],
)
def test_manifest_wrong_types(pack, field, value):
    m = manifest_of(pack)
    m[field] = value
    write_manifest(pack, m)
    with pytest.raises(PackError) as info:
        load_pack(pack, device="cpu")
    msg = str(info.value)
    assert str(pack / "manifest.json") in msg and field in msg and "\n" not in msg


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "null", "\xff\xfe garbage"])
def test_manifest_not_json_object(pack, text):
    (pack / "manifest.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(PackError, match="manifest.json"):
        load_pack(pack, device="cpu")


@pytest.mark.parametrize("entry", [None, "c.safetensors", {"file": 5}, {"status": "complete"}])
def test_variant_entry_wrong_type(pack, entry):
    m = manifest_of(pack)
    m["variants"]["c"] = entry
    write_manifest(pack, m)
    assert_only_bad_refused(pack, "c", "manifest.json", "'c'")


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink", "symlink_dir"])
def test_variant_path_escaping_the_pack(pack, tmp_path, how):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(pack / "adv.safetensors", outside / "adv.safetensors")  # valid weights!
    m = manifest_of(pack)
    if how == "dotdot":
        m["variants"]["adv"]["file"] = "../outside/adv.safetensors"
    elif how == "absolute":
        m["variants"]["adv"]["file"] = str(outside / "adv.safetensors")
    elif how == "symlink":
        (pack / "adv.safetensors").unlink()
        (pack / "adv.safetensors").symlink_to(outside / "adv.safetensors")
    else:
        (pack / "sub").symlink_to(outside)
        m["variants"]["adv"]["file"] = "sub/adv.safetensors"
    write_manifest(pack, m)
    msg = assert_only_bad_refused(pack, "adv", "outside the pack")
    assert "adv" in msg


def test_symlink_inside_the_pack_is_fine(pack):
    (pack / "weights").mkdir()
    shutil.move(pack / "c.safetensors", pack / "weights" / "c.safetensors")
    (pack / "c.safetensors").symlink_to(pack / "weights" / "c.safetensors")
    p = load_pack(pack, device="cpu")
    assert set(p.models) == {"standard", "c", "adv", "advc"}


def test_refused_variant_leaves_other_models_exact(pack):
    """The variants that load are bit-exact to their files, whatever failed beside them."""
    (pack / "c.safetensors").write_bytes(b"junk")
    p = load_pack(pack, device="cpu")
    for v in ("standard", "adv", "advc"):
        state, _ = packs.read_weights(pack / f"{v}.safetensors")
        assert all(torch.equal(state[k], t) for k, t in p.models[v].state_dict().items())


def test_info_command_reports_a_bad_variant(pack, capsys):
    from sc_viz.cli import main

    (pack / "c.safetensors").write_bytes(b"junk")
    assert main(["info", str(pack)]) == 0
    out = capsys.readouterr().out
    assert "NOT LOADED" in out and "c.safetensors" in out


# ------------------------------------------------------------------ resume state
def test_torch_load_weights_only_refuses_code(tmp_path):
    """The resume path reads its state with torch.load(weights_only=True): a pickle that
    would run code is refused and the code never runs."""
    sentinel = tmp_path / "PWNED"
    f = tmp_path / "state.pt"
    torch.save({"epoch": 1, "evil": Sentinel(sentinel)}, f)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(f, map_location="cpu", weights_only=True)
    assert not sentinel.exists()
    f.write_bytes(pickle.dumps({"epoch": Sentinel(sentinel)}))  # legacy (non-zip) pickle
    with pytest.raises(pickle.UnpicklingError):
        torch.load(f, map_location="cpu", weights_only=True)
    assert not sentinel.exists()
