"""Home / Models page: packs found, variant rows, device, broken packs shown with a reason."""
from apptest_helpers import DEMO_PACK, assert_clean, open_app


def test_home_lists_the_demo_pack_and_device():
    at = open_app()
    assert_clean(at)
    assert any(s.value == DEMO_PACK.name for s in at.subheader)
    assert any("Device:" in m.value and ("CPU" in m.value or "GPU" in m.value) for m in at.markdown)
    assert at.dataframe, "the variants table is shown"
    assert at.selectbox(key="pack").value.endswith(DEMO_PACK.name)


def test_broken_pack_shows_why_and_others_work(tiny_pack, tmp_path, monkeypatch):
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "manifest.json").write_text('{"dataset": "cifar10"}')
    monkeypatch.setenv("SC_VIZ_PACKS", f"{tmp_path}:{tiny_pack.parent}")
    at = open_app(pack=tiny_pack.name)
    assert_clean(at)
    assert any("missing field" in e.value for e in at.error)
    assert {s.value for s in at.subheader} >= {"broken", tiny_pack.name}
    assert at.selectbox(key="pack").value.endswith(tiny_pack.name)
    at.switch_page("pages/3_Continuity.py").run()
    assert_clean(at)
    assert at.get("plotly_chart")


def test_typed_folder_adds_packs(tiny_pack):
    at = open_app()
    at.text_input(key="pack_folder").set_value(str(tiny_pack.parent)).run()
    assert_clean(at)
    assert any(o.endswith(tiny_pack.name) for o in at.selectbox(key="pack").options)
    at.text_input(key="pack_folder").set_value("/nonexistent/packs").run()
    assert_clean(at)
    assert any("No pack" in w.value for w in at.sidebar.warning)
