"""Issue 15 in the app: packs made by `sc-viz import` (1,000 ImageNet classes, 224 px, no
data set on this machine) on the Saliency, Embeddings and Models pages; a pack opened by
its path in the link and from several SC_VIZ_PACKS roots; inputs cropped as the
architecture's own transforms crop them; the user's own same-class images."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import torch
import torchvision
from apptest_helpers import (
    EMBEDDINGS,
    HOME,
    SALIENCY,
    assert_clean,
    image_captions,
    images,
    open_app,
    photo_path,
    photo_upload,
    url_query,
)
from PIL import Image
from safetensors.torch import save_file

from sc_viz.app import catalog, maps
from sc_viz.app import embeddings_view as ev
from sc_viz.app import saliency_view as sv
from sc_viz.images import fit_to_input, load_input
from sc_viz.importing import import_pack

CHELSEA = ("chelsea.png", "image/png")  # a real photo (a cat), 451 x 300


def _save_state(model: torch.nn.Module, path, drop=(), extra=None) -> str:
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k not in drop}
    save_file({**state, **(extra or {})}, str(path))
    return str(path)


@pytest.fixture(scope="module")
def resnet50_pack(tmp_path_factory):
    """Two random-init torchvision ResNet-50s ("standard", "robust"), imported as a user
    would: 1,000 ImageNet classes at 224 px."""
    root = tmp_path_factory.mktemp("byom50")
    files = {}
    for seed, name in enumerate(("standard", "robust")):
        torch.manual_seed(seed)
        files[name] = _save_state(torchvision.models.resnet50(weights=None), root / f"{name}.safetensors")
    return import_pack(
        "torchvision:resnet50",
        files,
        root / "packs" / "imagenet-resnet50",
        classes="imagenet",
        input_size=224,
    ).pack_dir


@pytest.fixture(scope="module")
def resnet18_pack(tmp_path_factory):
    """Two small ResNet-18s at 96 px, imported with --non-strict: "robust" lacks its head and
    holds a key the architecture does not have."""
    root = tmp_path_factory.mktemp("byom18")
    torch.manual_seed(0)
    standard = _save_state(torchvision.models.resnet18(weights=None), root / "standard.safetensors")
    torch.manual_seed(1)
    robust = _save_state(
        torchvision.models.resnet18(weights=None),
        root / "robust.safetensors",
        drop=("fc.weight", "fc.bias"),
        extra={"projector.weight": torch.zeros(4, 4)},
    )
    return import_pack(
        "torchvision:resnet18",
        {"standard": standard, "robust": robust},
        root / "packs" / "imagenet-resnet18",
        classes="imagenet",
        input_size=96,
        non_strict=True,
    ).pack_dir


def _grid_cells(at) -> int:
    return sum(1 for im in images(at) if any(im.captions))


def _photo_bytes(size=(80, 60), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- the test
def test_imported_resnet50_renders_the_saliency_grid_at_224(resnet50_pack):
    """One imported ResNet-50 pack at 224 px, opened by its path in the link, renders the
    grid of an upload (no data set here): top-3 labels per variant, the Grad-CAM layer."""
    at = open_app(
        SALIENCY, query={"pack": str(resnet50_pack), "m": "saliency,gradcam,ig", "ig": "8", "measures": "0"}
    )
    assert_clean(at)
    assert at.selectbox(key="pack").value == str(resnet50_pack)
    assert at.radio(key="img_source").options == ["Upload"]  # no ImageNet test set here
    at.file_uploader(key="upload").set_value(photo_upload(*CHELSEA)).run()
    assert_clean(at)
    variants = at.multiselect(key="variants").value
    assert variants == ["standard", "robust"]
    assert _grid_cells(at) == 2 * (3 + 1)
    rows = [c for c in image_captions(at) if c.split(":")[0] in variants]
    assert len(rows) == 2 and all(r.count("%") == 3 for r in rows)  # top-3 of 1,000 classes
    captions = [c.value for c in at.caption]
    assert "Grad-CAM layer: layer4 (recorded in the pack)." in " ".join(captions)
    assert any("At 224 px the defaults are IG steps 16 (not 32), to keep" in c for c in captions)
    assert at.slider(key="lime_samples").value == 200 and at.slider(key="ig_steps").value == 8
    assert len(at.selectbox(key="target_mode").options) == 3
    assert url_query(at)["pack"] == str(resnet50_pack)


# ---------------------------------------------------------------- defaults by input size
def test_large_inputs_start_with_fewer_steps_and_links_keep_them(resnet18_pack):
    at = open_app(SALIENCY, query={"pack": str(resnet18_pack), "m": "gradcam", "measures": "0"})
    at.file_uploader(key="upload").set_value(photo_upload(*CHELSEA)).run()
    assert_clean(at)
    assert (at.slider(key="ig_steps").value, at.slider(key="lime_samples").value) == (16, 200)
    assert "ig" not in url_query(at) and "lime" not in url_query(at)  # the pack's default
    at.slider(key="ig_steps").set_value(24).run()
    assert url_query(at)["ig"] == "24"
    at.slider(key="ig_steps").set_value(16).run()  # back to the pack's default: out of the URL
    assert "ig" not in url_query(at) and at.slider(key="ig_steps").value == 16
    at.selectbox(key="target_mode").set_value("class").run()
    picker = at.selectbox(key="target_class")
    assert len(picker.options) == 1000 and picker.options[207] == "golden retriever"
    picker.set_value(207).run()
    assert_clean(at)
    assert {c for c in image_captions(at) if c.startswith("target:")} == {"target: golden retriever"}
    assert maps.class_label(["crane", "cat", "crane"], 2) == "crane (#2)"
    assert maps.class_label(["crane", "cat", "crane"], 1) == "cat"


def test_small_packs_keep_their_defaults(tiny_packs_env):
    at = open_app(SALIENCY, pack=tiny_packs_env, query={"m": "gradcam", "measures": "0"})
    assert_clean(at)
    assert (at.slider(key="ig_steps").value, at.slider(key="lime_samples").value) == (32, 500)
    assert not any("defaults are" in c.value for c in at.caption)
    assert sv.default_budgets(32) == {"smoothgrad": 25, "ig": 32, "lime": 500}
    assert sv.default_budgets(224) == {"smoothgrad": 25, "ig": 16, "lime": 200}
    assert sv.defaults_note(224, ["gradcam", "lime"]) == (
        "At 224 px the defaults are LIME samples 200 (not 500), to keep a grid under a minute on CPU; "
        "raise them for smoother maps."
    )


# ---------------------------------------------------------------- Models page
def test_models_page_shows_the_import_and_the_keys_that_did_not_fit(resnet18_pack, tmp_path, monkeypatch):
    other = tmp_path / "second-root"
    other.mkdir()
    monkeypatch.setenv("SC_VIZ_PACKS", f"{resnet18_pack.parent}{os.pathsep}{other}")
    at = open_app(HOME)
    assert_clean(at)
    assert resnet18_pack.name in at.selectbox(key="pack").options
    imported = [t.value for t in at.table if "Imported from" in t.value.columns]
    assert len(imported) == 1
    table = imported[0]
    assert list(table["Variant"]) == ["standard", "robust"]
    assert list(table["Status"]) == ["imported", "imported"]
    assert table["Keys"].iloc[0] == "all keys fit"
    assert table["Keys"].iloc[1] == "2 missing (random init), 1 unexpected (ignored)"
    (warning,) = [w.value for w in at.warning if "--non-strict" in w.value]
    assert warning.startswith("robust: imported with --non-strict: 2 missing keys")
    codes = [c.value for c in at.code]
    assert "fc.weight\nfc.bias" in codes and "projector.weight" in codes
    assert any("Grad-CAM layer `layer4`" in m.value and "resized to 110 px" in m.value for m in at.markdown)


def test_several_roots_and_a_bad_pack_path(resnet18_pack, tiny_pack, monkeypatch):
    monkeypatch.setenv("SC_VIZ_PACKS", f"{tiny_pack.parent}{os.pathsep}{resnet18_pack.parent}")
    roots = catalog.pack_roots(catalog.Path("/nonexistent"))
    found = catalog.discover_packs(roots)
    assert tiny_pack in found and resnet18_pack in found
    at = open_app(HOME, query={"pack": "/nonexistent/pack"})
    assert_clean(at)
    assert {tiny_pack.name, resnet18_pack.name} <= set(at.selectbox(key="pack").options)
    assert any("pack=/nonexistent/pack (no such pack here)" in w.value for w in at.warning)


def test_pack_labels_keep_a_linked_path(resnet18_pack):
    assert catalog.linked_pack_folder(str(resnet18_pack)) == resnet18_pack
    assert catalog.linked_pack_folder(resnet18_pack.name) is None  # a name, not a path
    assert catalog.linked_pack_folder(str(resnet18_pack.parent)) is None  # no manifest there
    labels = catalog.pack_labels([resnet18_pack], {str(resnet18_pack): resnet18_pack})
    assert labels == {str(resnet18_pack): resnet18_pack}


# ---------------------------------------------------------------- inputs as the arch crops them
def test_inputs_follow_the_architectures_transforms(resnet50_pack):
    """Resize the short side to 232 (bilinear), centre-crop 224: torchvision's own eval
    transforms for ResNet-50 give the same pixels up to resampling rounding."""
    from sc_viz.packs import read_manifest

    prep = read_manifest(resnet50_pack)["preprocessing"]
    assert prep == {"resize": 232, "crop": 224, "interpolation": "bilinear"}
    data = photo_path(CHELSEA[0]).read_bytes()
    shown, x = load_input(data, 224, prep)
    assert shown.size == (224, 224) and x.shape == (1, 3, 224, 224)
    ref = torchvision.models.ResNet50_Weights.DEFAULT.transforms()
    im = Image.open(io.BytesIO(data)).convert("RGB")
    theirs = torchvision.transforms.functional.to_tensor(
        torchvision.transforms.functional.center_crop(
            torchvision.transforms.functional.resize(im, ref.resize_size, antialias=True), ref.crop_size
        )
    )
    assert (x[0] - theirs).abs().mean() < 0.01
    # our own packs' rule (resize to size/0.875 = 256) crops a different region
    _, ours = load_input(data, 224)
    assert (ours[0] - theirs).abs().mean() > 2 * (x[0] - theirs).abs().mean()
    # an unusable rule falls back to ours instead of failing
    assert np.array_equal(np.asarray(fit_to_input(im, 224, {"resize": "x"})), np.asarray(_ours(im)))


def _ours(im):
    from sc_viz.data import center_resize

    return center_resize(im, 224)


# ---------------------------------------------------------------- the user's same-class set
def test_a_folder_of_images_is_the_same_class_set(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    for i in range(5):
        (folder / f"img{i}.png").write_bytes(_photo_bytes(seed=i))
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(_photo_bytes())
    (folder / "sub").mkdir()
    (folder / "sub" / "deeper.png").write_bytes(_photo_bytes())
    prep = {"resize": 110, "crop": 96, "interpolation": "bilinear"}
    found = ev.images_from_folder(str(folder), 96, prep)
    assert found.images.shape == (5, 3, 96, 96) and found.names == [f"img{i}.png" for i in range(5)]
    assert len(found.skipped) == 1 and found.skipped[0].startswith("notes.txt (")
    first = fit_to_input(Image.open(folder / "img0.png").convert("RGB"), 96, prep)
    assert torch.equal(found.images[0], torch.from_numpy(np.asarray(first).copy()).permute(2, 0, 1) / 255)
    assert found.note("the folder", shown=3).startswith("5 same-class images from the folder, the first 3")
    assert "Skipped 1 file: notes.txt" in found.note("x")
    assert ev.images_from_folder(str(folder), 96, prep, limit=2).more == 4  # img2-4, notes.txt
    assert ev.images_from_folder(str(folder), 96, prep).key == found.key  # same pixels, same key
    for bad, why in [
        (tmp_path / "missing", "no such folder"),
        (folder / "img0.png", "a file, not a folder"),
        (tmp_path / "sub-empty", "holds no files"),
    ]:
        if bad.name == "sub-empty":
            bad.mkdir()
        with pytest.raises(ev.SameClassError, match=why):
            ev.images_from_folder(str(bad), 96)
    only_text = tmp_path / "texts"
    only_text.mkdir()
    (only_text / "a.txt").write_text("hello")
    with pytest.raises(ev.SameClassError, match="none of the 1 files is an image"):
        ev.images_from_folder(str(only_text), 96)


def test_embeddings_page_with_a_folder_and_with_files(resnet18_pack, tmp_path):
    folder = tmp_path / "cats"
    folder.mkdir()
    for i in range(12):
        (folder / f"cat{i:02d}.png").write_bytes(_photo_bytes(seed=i))
    (folder / "readme.txt").write_text("twelve cats")
    at = open_app(EMBEDDINGS, query={"pack": str(resnet18_pack)})
    at.file_uploader(key="upload").set_value(photo_upload(*CHELSEA)).run()
    assert_clean(at)
    assert at.radio(key="same_source").options == ["a folder", "your files"]  # no test set here
    assert any("Type the path of a folder" in i.value for i in at.info)
    at.text_input(key="same_folder").set_value(str(tmp_path / "nope")).run()
    assert_clean(at)
    assert [e.value for e in at.error] == [f"{tmp_path / 'nope'}: no such folder"]
    at.text_input(key="same_folder").set_value(str(folder)).run()
    assert_clean(at)
    assert not at.error
    assert len(at.main.get("plotly_chart")) == 2
    assert any(
        c.value.startswith(f"12 same-class images from {folder}. Skipped 1 file: readme.txt")
        for c in at.caption
    )
    rows = at.dataframe[0].value
    assert list(rows["Same-class images"]) == [12, 12]
    assert url_query(at)["samedir"] == str(folder) and url_query(at)["same"] == "folder"
    at.radio(key="same_source").set_value("files").run()
    assert any("Upload several images" in i.value for i in at.info)
    # What the uploader keeps for the page (AppTest's multi-file uploader returns no files
    # inside this app's pages, so the kept files are set as the uploader's callback sets them).
    at.session_state["_sc_same_files"] = [(f"cat{i}.png", _photo_bytes(seed=i)) for i in range(5)] + [
        ("notes.txt", b"not an image")
    ]
    at.run()
    assert_clean(at)
    assert any(
        c.value.startswith("5 same-class images from your files. Skipped 1 file: notes.txt")
        for c in at.caption
    )
    assert list(at.dataframe[0].value["Same-class images"]) == [5, 5]


def _sized_app():
    import streamlit as st

    from sc_viz.app import state

    state.begin()
    notes = st.empty()
    st.slider("IG steps", 8, 128, step=8, key=state.bind("ig_steps", default=16))
    state.show_notes(notes)
    state.publish()


def test_a_pack_default_is_not_a_change_of_the_view():
    """The view holds None while the slider shows the pack's default: reruns keep a link's
    notes, a linked value equal to the default stays, setting the default leaves the URL."""
    from streamlit.testing.v1 import AppTest

    os.environ["SC_VIZ_WARMUP"] = "0"
    at = AppTest.from_function(_sized_app, default_timeout=60)
    at.query_params["ig"] = "7"
    at.run()
    assert at.slider(key="ig_steps").value == 16 and "ig=7 (outside 8..128)" in at.warning[0].value
    at.run()
    assert at.warning and url_query(at) == {}  # a rerun is no change: the note stays
    at.slider(key="ig_steps").set_value(24).run()
    assert url_query(at) == {"ig": "24"} and not at.warning
    at.slider(key="ig_steps").set_value(16).run()
    assert url_query(at) == {} and at.slider(key="ig_steps").value == 16
    linked = AppTest.from_function(_sized_app, default_timeout=60)
    linked.query_params["ig"] = "16"
    linked.run()
    linked.run()
    assert url_query(linked) == {"ig": "16"}  # the link's own value, kept while untouched
