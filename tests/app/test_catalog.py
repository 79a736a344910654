import json

from conftest import make_pack

from sc_viz.app import catalog
from sc_viz.packs import TRAIN_LOG


def test_discover_dedupes_and_skips_missing_roots(tiny_pack, tmp_path):
    roots = [tiny_pack.parent, tiny_pack, tmp_path / "missing"]
    assert catalog.discover_packs(roots) == [tiny_pack]


def test_roots_include_env_and_typed(monkeypatch, tmp_path):
    monkeypatch.setenv(catalog.PACKS_ENV, f"{tmp_path / 'a'}{__import__('os').pathsep}{tmp_path / 'b'}")
    roots = catalog.pack_roots(tmp_path, f"  {tmp_path / 'c'} ")
    assert roots[-3:] == [tmp_path / "a", tmp_path / "b", tmp_path / "c"]


def test_default_pack_prefers_link_then_demo(tmp_path):
    paths = [tmp_path / "x", tmp_path / catalog.DEMO_PACK_NAME, tmp_path / "y"]
    assert catalog.default_pack(paths, "y") == paths[2]
    assert catalog.default_pack(paths, "nope") == paths[1]
    assert catalog.default_pack([], None) is None


def test_summarize_reports_a_broken_manifest(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    s = catalog.summarize(tmp_path / "bad")
    assert s.manifest is None and "not valid JSON" in s.error


def test_variant_rows_and_curves(tmp_path):
    pack = make_pack(tmp_path / "p", variants=("c", "standard"))
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["variants"]["standard"]["metrics"] = {"clean_acc": 0.9}
    rows = catalog.variant_rows(manifest)
    assert [r["variant"] for r in rows] == ["standard", "c"]
    assert rows[0]["clean_acc"] == 0.9 and rows[0]["status"] == "complete"
    log = [
        {"variant": "standard", "epoch": 1, "loss": 2.0, "test_acc": 0.3},
        {"variant": "standard", "epoch": 1, "loss": 1.5, "test_acc": 0.4},  # resumed
        {"variant": "c", "epoch": 2, "loss": 1.0, "test_acc": 0.5},
    ]
    (pack / TRAIN_LOG).write_text("\n".join(map(json.dumps, log)) + "\n{cut")
    curves = catalog.training_curves(pack)
    assert curves["loss"] == {"epoch": [1, 2], "standard": [1.5, None], "c": [None, 1.0]}
    assert "test_pgd_acc" not in curves


def test_device_description():
    assert catalog.device_description(__import__("torch").device("cpu")).startswith("CPU")


def test_pack_labels_are_names_unless_two_packs_share_one(tmp_path):
    a, b, c = tmp_path / "r1" / "demo", tmp_path / "r2" / "demo", tmp_path / "r1" / "other"
    assert catalog.pack_labels([a, c]) == {"demo": a, "other": c}
    assert catalog.pack_labels([a, b, c]) == {str(a): a, str(b): b, "other": c}


def test_holds_packs(tiny_pack, tmp_path):
    assert catalog.holds_packs(str(tiny_pack.parent), [tiny_pack])
    assert catalog.holds_packs(f" {tiny_pack} ", [tiny_pack])
    assert not catalog.holds_packs(str(tmp_path), [tiny_pack])


def test_pack_card_lists_why_a_pack_or_variant_does_not_load(tmp_path):
    from sc_viz.app.loaders import load_or_explain

    pack = make_pack(tmp_path / "p", variants=("standard", "c"))
    (pack / "c.safetensors").write_bytes(b"broken")
    card = catalog.pack_card(pack, load_or_explain)
    assert [r["variant"] for r in card.rows] == ["standard", "c"]
    assert len(card.load_errors) == 1 and card.load_errors[0].startswith("c not loaded:")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    card = catalog.pack_card(tmp_path / "bad", load_or_explain)
    assert card.summary.error and card.rows == [] and card.load_errors == []
