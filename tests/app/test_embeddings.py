"""Embeddings page: one plot per variant, violation counts, projection/level switching,
a too-small same-class set for t-SNE giving a short message, the view in the URL."""

from apptest_helpers import EMBEDDINGS, assert_clean, open_app, real_photo_bytes, reopen, widget_values

from sc_viz.app.embeddings_view import violation_rows
from sc_viz.embed import SAME_CLASS_KIND, Embedding


def charts(at):
    return list(at.main.get("plotly_chart"))


def test_pca_on_the_demo_pack():
    at = open_app(EMBEDDINGS, query={"level": "2"})
    assert_clean(at)
    variants = at.multiselect(key="variants").value
    assert len(charts(at)) == len(variants)
    assert at.select_slider(key="level").value == 2
    rows = at.dataframe[0].value
    assert list(rows["Variant"]) == variants and {"Brightness", "Hue"} <= set(rows.columns)


def test_switching_and_small_sets(tiny_packs_env):
    at = open_app(EMBEDDINGS, pack=tiny_packs_env)
    assert len(charts(at)) == 4
    at.multiselect(key="variants").set_value(["standard", "advc"]).run()
    at.slider(key="same_count").set_value(10).run()
    at.radio(key="projection").set_value("tsne").run()
    assert_clean(at)
    assert any("tsne needs at least" in w.value for w in at.warning)  # 15 points < perplexity 30
    at.slider(key="same_count").set_value(30).run()
    assert_clean(at)
    assert len(charts(at)) == 2 and not at.warning


def test_the_url_reopens_every_widget(tiny_packs_env):
    at = open_app(EMBEDDINGS, pack=tiny_packs_env)
    at.multiselect(key="variants").set_value(["c", "advc"]).run()
    at.slider(key="same_count").set_value(20).run()
    at.radio(key="projection").set_value("umap").run()
    at.select_slider(key="level").set_value(3).run()
    at.toggle(key="joint").set_value(True).run()
    at.pills(key="shown_perturbations").set_value(["hue", "saturation"]).run()
    assert_clean(at)
    before = widget_values(at)
    assert before["projection"] == "umap" and before["joint"] and before["level"] == 3
    again = reopen(at, EMBEDDINGS)
    assert_clean(again)
    assert widget_values(again) == before and len(charts(again)) == 2


def test_upload_asks_for_its_class(tiny_packs_env):
    at = open_app(EMBEDDINGS, pack=tiny_packs_env)
    at.radio(key="img_source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value(("cat.jpg", real_photo_bytes(), "image/jpeg")).run()
    at.slider(key="same_count").set_value(20).run()
    assert_clean(at)
    at.selectbox(key="upload_class").set_value(3).run()
    at.slider(key="same_count").set_value(25).run()
    assert_clean(at)
    assert at.selectbox(key="upload_class").value == 3  # kept while the image stays
    assert len(charts(at)) == 4


def test_violation_rows():
    kinds = ["x", "hue", SAME_CLASS_KIND, SAME_CLASS_KIND]
    emb = Embedding("pca", False, 1, kinds, [-1, -1, 3, 4], {}, {}, {"c": {"hue": 1}, "adv": {"hue": 0}})
    assert violation_rows(emb, ["adv", "c"]) == [
        {"Variant": "adv", "Hue": 0, "Same-class images": 2},
        {"Variant": "c", "Hue": 1, "Same-class images": 2},
    ]
