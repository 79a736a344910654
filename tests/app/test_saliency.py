"""Saliency page: the variants x methods grid, switching, uploads (good and bad), downloads."""
from apptest_helpers import tiny_packs_env  # noqa: F401 (a fixture)
from apptest_helpers import assert_clean, image_captions, images, open_app, png_bytes, real_photo_bytes

PAGE = "pages/1_Saliency.py"
FAST = {"m": "saliency,gradcam"}


def grid_size(at):
    """Cells drawn: one image column plus one per method, per variant."""
    return len(images(at))


def test_default_grid_on_the_demo_pack():
    at = open_app(PAGE, query={"ig_steps": "8"})
    assert_clean(at)
    variants, methods = at.multiselect(key="variants").value, at.multiselect(key="methods").value
    assert methods == ["gradcam", "ig", "lime"]  # the default, cheapest first
    assert grid_size(at) == len(variants) * (len(methods) + 1)


def test_grid_cells_and_switching(tiny_packs_env):
    at = open_app(PAGE, pack=tiny_packs_env, query=FAST)
    assert_clean(at)
    assert grid_size(at) == 4 * 3
    at.multiselect(key="variants").set_value(["c", "adv"]).run()
    at.multiselect(key="methods").set_value(["smoothgrad", "saliency", "gradcam"]).run()
    assert_clean(at)
    assert grid_size(at) == 2 * 4
    assert at.query_params["v"] == "c,adv" and at.query_params["m"] == "saliency,gradcam,smoothgrad"
    at.selectbox(key="target_mode").set_value("class").run()
    at.selectbox(key="target_class").set_value(7).run()
    assert_clean(at)
    targets = [c for c in image_captions(at) if c.startswith("target:")]
    assert len(targets) == 2 * 3 and all(c == "target: horse" for c in targets)


def test_deep_link_reopens_the_view(tiny_packs_env):
    at = open_app(PAGE, pack=tiny_packs_env, query={"img": "123", "v": "advc,zzz", "m": "gradcam"})
    assert_clean(at)
    assert at.selectbox(key="img_index").value == 123
    assert at.multiselect(key="variants").value == ["advc"]
    assert grid_size(at) == 2


def test_upload_real_image_and_export_bundle(tiny_packs_env):
    at = open_app(PAGE, pack=tiny_packs_env, query=FAST)
    at.radio(key="img_source").set_value("Upload").run()
    assert any("Upload an image" in i.value for i in at.info)
    at.file_uploader(key="upload").set_value(("cat.jpg", real_photo_bytes(), "image/jpeg")).run()
    assert_clean(at)
    assert grid_size(at) == 4 * 3
    assert "img" not in at.query_params  # uploads are not linkable
    bundle = next(b for b in at.get("download_button") if b.proto.label.startswith("Export"))
    assert bundle.proto.label and not bundle.proto.disabled


def test_bad_uploads_give_one_line(tiny_packs_env):
    at = open_app(PAGE, pack=tiny_packs_env, query=FAST)
    at.radio(key="img_source").set_value("Upload").run()
    for name, data in [("empty.png", b""), ("notes.png", b"just some text"),
                       ("cut.png", png_bytes()[:60])]:
        at.file_uploader(key="upload").set_value((name, data, "image/png")).run()
        assert_clean(at)
        assert len(at.error) == 1 and name in at.error[0].value and "\n" not in at.error[0].value
    at.file_uploader(key="upload").set_value(("rgba.png", png_bytes(mode="RGBA", colour=(0, 0, 0, 0)),
                                              "image/png")).run()
    assert_clean(at)
    assert not at.error and grid_size(at) == 12


def test_pack_without_its_data_set(tiny_packs_env, tmp_path, monkeypatch):
    photo = real_photo_bytes()
    monkeypatch.setenv("SC_VIZ_DATA", str(tmp_path))  # no cifar10 here
    at = open_app(PAGE, pack=tiny_packs_env, query=FAST)
    assert_clean(at)
    assert any("Gallery unavailable" in i.value for i in at.sidebar.info)
    assert at.radio(key="img_source").options == ["Upload"]
    at.file_uploader(key="upload").set_value(("cat.jpg", photo, "image/jpeg")).run()
    assert_clean(at)
    assert grid_size(at) == 4 * 3
    at.switch_page("pages/2_Embeddings.py").run()
    assert_clean(at)
    assert any("same-class images" in w.value for w in at.warning)
