"""Embeddings page: one plot per variant, violation counts, projection/level switching,
a too-small same-class set for t-SNE giving a short message."""
from apptest_helpers import tiny_packs_env  # noqa: F401 (a fixture)
from apptest_helpers import assert_clean, open_app, real_photo_bytes

PAGE = "pages/2_Embeddings.py"


def charts(at):
    return list(at.main.get("plotly_chart"))


def test_pca_on_the_demo_pack():
    at = open_app(PAGE, query={"level": "2"})
    assert_clean(at)
    variants = at.multiselect(key="variants").value
    assert len(charts(at)) == len(variants)
    assert at.select_slider(key="level").value == 2
    rows = at.dataframe[0].value
    assert list(rows["variant"]) == variants and {"brightness", "hue"} <= set(rows.columns)


def test_switching_and_small_sets(tiny_packs_env):
    at = open_app(PAGE, pack=tiny_packs_env)
    assert len(charts(at)) == 4
    at.multiselect(key="variants").set_value(["standard", "advc"]).run()
    at.slider(key="same_count").set_value(10).run()
    at.radio(key="projection").set_value("tsne").run()
    assert_clean(at)
    assert any("tsne needs at least" in w.value for w in at.warning)  # 15 points < perplexity 30
    at.slider(key="same_count").set_value(30).run()
    assert_clean(at)
    assert len(charts(at)) == 2 and not at.warning


def test_upload_asks_for_its_class(tiny_packs_env):
    at = open_app(PAGE, pack=tiny_packs_env)
    at.radio(key="img_source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value(("cat.jpg", real_photo_bytes(), "image/jpeg")).run()
    at.slider(key="same_count").set_value(20).run()
    assert_clean(at)
    at.selectbox(key="upload_class").set_value(3).run()
    assert_clean(at)
    assert len(charts(at)) == 4
