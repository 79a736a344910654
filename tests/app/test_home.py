"""Home / Models page: packs found, variant rows, device, broken packs shown with a reason;
visiting it keeps the view of the other pages."""

from apptest_helpers import DEMO_PACK, HOME, SALIENCY, assert_clean, open_app, url_query, widget_values


def test_home_lists_the_demo_pack_and_device():
    at = open_app()
    assert_clean(at)
    assert any(s.value == DEMO_PACK.name for s in at.subheader)
    assert any("Device:" in m.value and ("CPU" in m.value or "GPU" in m.value) for m in at.markdown)
    assert at.dataframe, "the variants table is shown"
    assert at.selectbox(key="pack").value == DEMO_PACK.name


def test_visiting_the_models_page_keeps_the_image(tiny_pack, monkeypatch):
    """Issue 11: frog 6000 and ship 8004 became airplane 0 after a Models page visit."""
    monkeypatch.setenv("SC_VIZ_PACKS", str(tiny_pack.parent))
    at = open_app(SALIENCY, pack=tiny_pack.name, query={"m": "gradcam", "img": "6000"})
    assert at.selectbox(key="img_index").value == 6000 and at.selectbox(key="img_class").value == 6
    at.slider(key="ig_steps").set_value(24).run()
    view, query = widget_values(at), url_query(at)
    at.switch_page(HOME).run()
    assert_clean(at)
    assert url_query(at) == query  # the URL keeps the whole view: one history entry per page
    at.switch_page(SALIENCY).run()
    assert_clean(at)
    assert widget_values(at) == view


def test_broken_pack_shows_why_and_others_work(tiny_pack, tmp_path, monkeypatch):
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "manifest.json").write_text('{"dataset": "cifar10"}')
    monkeypatch.setenv("SC_VIZ_PACKS", f"{tmp_path}:{tiny_pack.parent}")
    at = open_app(pack=tiny_pack.name)
    assert_clean(at)
    assert any("missing field" in e.value for e in at.error)
    assert {s.value for s in at.subheader} >= {"broken", tiny_pack.name}
    assert at.selectbox(key="pack").value == tiny_pack.name
    at.switch_page("app_pages/3_Continuity.py").run()
    assert_clean(at)
    assert at.get("plotly_chart")


def test_typed_folder_adds_packs(tiny_pack):
    at = open_app()
    at.text_input(key="pack_folder").set_value(str(tiny_pack.parent)).run()
    assert_clean(at)
    assert tiny_pack.name in at.selectbox(key="pack").options
    assert at.query_params["packs"] in (str(tiny_pack.parent), [str(tiny_pack.parent)])
    at.text_input(key="pack_folder").set_value("/nonexistent/packs").run()
    assert_clean(at)
    assert any("No pack" in w.value for w in at.sidebar.warning)
