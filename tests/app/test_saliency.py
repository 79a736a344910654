"""Saliency page: the variants x methods grid, switching, uploads in a row (good and bad),
the view kept across uploads, page switches and links, downloads."""

import pytest
from apptest_helpers import (
    HOME,
    PHOTOS,
    ROBUSTNESS,
    SALIENCY,
    assert_clean,
    image_captions,
    images,
    open_app,
    photo_upload,
    png_bytes,
    real_photo_bytes,
    reopen,
    url_query,
    widget_values,
)

FAST = {"m": "saliency,gradcam"}


def grid_size(at):
    """Cells drawn: one image column plus one per method, per variant (the colour bars under
    the column titles have no caption); in presentation mode, the HTML grid's cells."""
    html = [h.proto.body for h in at.main.get("html") if "sc-grid" in h.proto.body]
    drawn = sum(body.count('class="sc-cell"') for body in html)
    return drawn + sum(1 for im in images(at) if any(im.captions))


def full_grid(at):
    return len(at.multiselect(key="variants").value) * (len(at.multiselect(key="methods").value) + 1)


def test_default_grid_on_the_demo_pack():
    at = open_app(SALIENCY, query={"ig": "8"})
    assert_clean(at)
    variants, methods = at.multiselect(key="variants").value, at.multiselect(key="methods").value
    assert methods == ["gradcam", "ig", "lime"]  # the default, cheapest first
    assert grid_size(at) == len(variants) * (len(methods) + 1)


def test_grid_cells_and_switching(tiny_packs_env):
    at = open_app(SALIENCY, pack=tiny_packs_env, query=FAST)
    assert_clean(at)
    assert grid_size(at) == 4 * 3
    at.multiselect(key="variants").set_value(["c", "adv"]).run()
    at.multiselect(key="methods").set_value(["smoothgrad", "saliency", "gradcam"]).run()
    assert_clean(at)
    assert grid_size(at) == 2 * 4
    assert at.query_params["v"] == ["c,adv"] or at.query_params["v"] == "c,adv"
    at.selectbox(key="target_mode").set_value("class").run()
    at.selectbox(key="target_class").set_value(7).run()
    assert_clean(at)
    targets = [c for c in image_captions(at) if c.startswith("target:")]
    assert len(targets) == 2 * 3 and all(c == "target: horse" for c in targets)


@pytest.mark.parametrize("mode", ["predicted", "class"])
def test_the_url_reopens_every_widget(tiny_packs_env, mode):
    at = open_app(SALIENCY, pack=tiny_packs_env, query=FAST)
    at.selectbox(key="img_class").set_value(3).run()
    at.selectbox(key="img_index").select_index(2).run()
    at.multiselect(key="variants").set_value(["adv", "advc"]).run()
    at.multiselect(key="methods").set_value(["gradcam"]).run()
    at.selectbox(key="target_mode").set_value(mode).run()
    if mode == "class":
        at.selectbox(key="target_class").set_value(5).run()
    at.slider(key="ig_steps").set_value(16).run()
    at.slider(key="lime_samples").set_value(300).run()
    at.slider(key="opacity").set_value(0.8).run()
    at.toggle(key="with_measures").set_value(False).run()
    at.toggle(key="present").set_value(True).run()
    assert_clean(at)
    before = widget_values(at)
    assert before["target_mode"] == mode and before["opacity"] == 0.8 and before["present"]
    again = reopen(at, SALIENCY)
    assert_clean(again)
    assert widget_values(again) == before
    assert grid_size(again) == 2 * 2 and url_query(again) == url_query(at)


def test_a_bad_link_names_what_it_ignored(tiny_packs_env):
    at = open_app(SALIENCY, pack=tiny_packs_env, query={"img": "99999", "m": "foo,gradcam", "v": "zzz"})
    assert_clean(at)
    (warning,) = at.warning
    for part in ("img=99999", "m=foo", "v=zzz"):
        assert part in warning.value
    assert at.multiselect(key="methods").value == ["gradcam"]
    assert at.multiselect(key="variants").value == ["standard", "c", "adv", "advc"]
    assert grid_size(at) == 4 * 2
    at = open_app(SALIENCY, query={"pack": "nope", **FAST})
    assert "pack=nope" in at.warning[0].value and at.selectbox(key="pack").value == "cifar10-resnet20"


def test_deep_link_reopens_the_view(tiny_packs_env):
    at = open_app(SALIENCY, pack=tiny_packs_env, query={"img": "123", "v": "advc", "m": "gradcam"})
    assert_clean(at)
    assert at.selectbox(key="img_index").value == 123
    assert at.multiselect(key="variants").value == ["advc"]
    assert grid_size(at) == 2


def test_uploads_in_a_row_keep_the_view(tiny_packs_env, tmp_path, monkeypatch):
    """The issue's sequence: real photos of every mode one after the other, a non-image, a
    photo again; after each, the full grid and every widget as the user left it."""
    monkeypatch.setenv("SC_VIZ_DATA", str(tmp_path))  # no data set: upload only
    at = open_app(SALIENCY, pack=tiny_packs_env, query=FAST)
    assert any("Upload an image" in i.value for i in at.info)
    at.file_uploader(key="upload").set_value(photo_upload(*PHOTOS[-1])).run()
    at.multiselect(key="variants").set_value(["standard", "advc"]).run()
    at.selectbox(key="target_mode").set_value("predicted").run()
    at.slider(key="ig_steps").set_value(16).run()
    at.slider(key="opacity").set_value(0.3).run()
    view = widget_values(at)
    uploads = [photo_upload(*p) for p in PHOTOS]
    uploads.insert(len(uploads) - 1, ("notes.png", b"just some text", "image/png"))
    for name, data, mime in uploads:
        at.file_uploader(key="upload").set_value((name, data, mime)).run()
        assert_clean(at)
        shown = widget_values(at)
        assert shown == {k: v for k, v in view.items() if k in shown}, name
        if name == "notes.png":  # one line, and the page stops before its widgets
            assert len(at.error) == 1 and "notes.png" in at.error[0].value
        else:
            assert shown == view, name
            assert not at.error and grid_size(at) == full_grid(at) == 2 * 3, name
            assert any(name in c for c in at.sidebar.get("image")[0].captions)


def test_upload_survives_gallery_and_page_switches(tiny_packs_env):
    at = open_app(SALIENCY, pack=tiny_packs_env, query=FAST)
    at.slider(key="opacity").set_value(0.7).run()
    at.radio(key="img_source").set_value("Upload").run()
    assert any("Upload an image" in i.value for i in at.info)
    at.file_uploader(key="upload").set_value(("cat.jpg", real_photo_bytes(), "image/jpeg")).run()
    assert grid_size(at) == 4 * 3
    at.radio(key="img_source").set_value("Gallery").run()
    at.radio(key="img_source").set_value("Upload").run()
    assert_clean(at)
    assert grid_size(at) == 4 * 3 and any("cat.jpg" in c for c in at.sidebar.get("image")[0].captions)
    view = widget_values(at)
    for page in [HOME, ROBUSTNESS, SALIENCY]:
        at.switch_page(page).run()
        assert_clean(at)
    assert widget_values(at) == view and grid_size(at) == 4 * 3
    assert "img" not in at.query_params  # uploads are not linkable


def test_export_bundle_of_an_upload(tiny_packs_env):
    at = open_app(SALIENCY, pack=tiny_packs_env, query=FAST)
    at.radio(key="img_source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value(("cat.jpg", real_photo_bytes(), "image/jpeg")).run()
    assert_clean(at)
    bundle = next(b for b in at.get("download_button") if b.proto.label.startswith("Export"))
    assert bundle.proto.label and not bundle.proto.disabled


def test_bad_uploads_give_one_line(tiny_packs_env):
    at = open_app(SALIENCY, pack=tiny_packs_env, query=FAST)
    at.radio(key="img_source").set_value("Upload").run()
    for name, data in [("empty.png", b""), ("notes.png", b"just some text"), ("cut.png", png_bytes()[:60])]:
        at.file_uploader(key="upload").set_value((name, data, "image/png")).run()
        assert_clean(at)
        assert len(at.error) == 1 and name in at.error[0].value and "\n" not in at.error[0].value
    at.file_uploader(key="upload").set_value(
        ("rgba.png", png_bytes(mode="RGBA", colour=(0, 0, 0, 0)), "image/png")
    ).run()

    assert_clean(at)
    assert not at.error and grid_size(at) == 12


def test_pack_without_its_data_set(tiny_packs_env, tmp_path, monkeypatch):
    photo = real_photo_bytes()
    monkeypatch.setenv("SC_VIZ_DATA", str(tmp_path))  # no cifar10 here
    at = open_app(SALIENCY, pack=tiny_packs_env, query=FAST)
    assert_clean(at)
    assert any("Gallery unavailable" in i.value for i in at.sidebar.info)
    assert at.radio(key="img_source").options == ["Upload"]
    at.file_uploader(key="upload").set_value(("cat.jpg", photo, "image/jpeg")).run()
    assert_clean(at)
    assert grid_size(at) == 4 * 3
    at.switch_page("app_pages/2_Embeddings.py").run()
    assert_clean(at)
    assert any("same-class images" in w.value for w in at.warning)
