"""Prepared decks: a talk built into a deck holds exactly the maps a live grid computes,
an interrupted build is refused and then finished, and a deck never serves maps of other
weights."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import make_pack

from sc_viz.deck import (
    DeckError,
    Slide,
    TalkError,
    append_slide,
    build_deck,
    open_deck,
    read_talk,
    slide_units,
)
from sc_viz.explain import explain_grid
from sc_viz.explain.settings import ExplainSettings, grid_target, load_image
from sc_viz.packs import load_pack, read_weights, save_weights

METHODS = ["gradcam", "saliency", "lime"]


def saliency_slide(pack_dir, index, **kw) -> dict:
    settings = ExplainSettings(
        pack=str(pack_dir),
        image={"dataset_split": "test", "index": index},
        variants=["standard", "c", "adv"],
        methods=METHODS,
        budgets={"lime": 60},
        **kw,
    )
    return {"page": "Saliency", "settings": json.loads(settings.to_json())}


def write_talk(path, slides) -> None:
    path.write_text(json.dumps({"format": "sc-viz-talk/1", "slides": slides}))


@pytest.fixture
def pack_dir(tmp_path):
    return make_pack(tmp_path / "packs" / "tiny", seed=3)


@pytest.fixture
def talk(tmp_path, pack_dir):
    path = tmp_path / "talk.json"
    write_talk(
        path,
        [
            saliency_slide(pack_dir, 5),
            {"page": "Models", "pack": str(pack_dir), "image": None},
            saliency_slide(pack_dir, 9, target_mode="predicted"),
        ],
    )
    return path


def live_grid(slide: Slide, pack):
    x, label = load_image(slide.settings, pack)
    models = {v: pack.models[v] for v in slide.settings.variants}
    grid = explain_grid(
        models,
        x,
        methods=METHODS,
        target=grid_target(slide.settings, label),
        options=slide.settings.method_options(),
    )
    return grid, x.reshape(1, 3, 32, 32), label


def test_a_deck_holds_the_live_grid_bit_for_bit(tmp_path, talk, data_root):
    deck, computed, kept = build_deck(talk, tmp_path / "deck", device="cpu")
    assert kept == 0 and computed == 2 * (2 * 3 + 1)  # gradcam, saliency per variant; LIME once
    deck = open_deck(tmp_path / "deck")
    assert [s["page"] for s in deck.slides] == ["Saliency", "Models", "Saliency"]
    pack = load_pack(read_talk(talk)[0].pack, device="cpu")
    for slide in (s for s in read_talk(talk) if s.page == "Saliency"):
        grid, x, label = live_grid(slide, pack)
        units = list(slide_units(pack, x, slide.settings, label))
        assert [u.method for u in units][:3] == ["saliency"] * 3  # cheapest first, a variant at a time
        for u in units:
            stored = deck.get(u.key)
            assert stored is not None and set(stored) == set(u.variants)
            for v, exp in stored.items():
                live = grid.cells[(v, u.method)]
                assert torch.equal(exp.map, live.map) and exp.target == live.target
                assert exp.signed == live.signed and exp.method == u.method


def test_an_interrupted_build_is_refused_then_finished(tmp_path, talk):
    out = tmp_path / "deck"

    def stop_after_three(done, total, label):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_deck(talk, out, device="cpu", progress=stop_after_three)
    with pytest.raises(DeckError, match="half-written"):
        open_deck(out)
    deck, computed, kept = build_deck(talk, out, device="cpu")
    assert kept == 3 and computed == 14 - 3
    assert open_deck(out).slides == deck.slides


def test_a_damaged_unit_is_computed_live_not_shown(tmp_path, talk):
    deck, _, _ = build_deck(talk, tmp_path / "deck", device="cpu")
    key = deck.slides[0]["units"][0]
    f = tmp_path / "deck" / deck.manifest["entries"][key]["file"]
    f.write_bytes(f.read_bytes()[:-7] + b"garbage")
    assert open_deck(tmp_path / "deck").get(key) is None
    f.unlink()
    with pytest.raises(DeckError, match="missing"):
        open_deck(tmp_path / "deck")


def test_a_deck_for_other_weights_is_refused(tmp_path, talk, pack_dir):
    build_deck(talk, tmp_path / "deck", device="cpu")
    deck = open_deck(tmp_path / "deck")
    pack = load_pack(pack_dir, device="cpu")
    current = {v: pack.weights_sha256(v) for v in pack.models}
    assert deck.weights_note(pack_dir, current) is None
    # retrain "c": new weights in the same file
    path = pack_dir / "c.safetensors"
    _, info = read_weights(path)
    model = pack.models["c"]
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    save_weights(path, model, info["model"], info.get("config", {}))
    pack = load_pack(pack_dir, device="cpu")
    note = deck.weights_note(pack_dir, {v: pack.weights_sha256(v) for v in pack.models})
    assert note and "other weights of c" in note and "sc-viz deck build" in note
    slide = read_talk(talk)[0]
    x, label = load_image(slide.settings, pack)
    hits = {u.variants: deck.get(u.key) is not None for u in slide_units(pack, x, slide.settings, label)}
    assert hits[("standard",)] and not hits[("c",)] and not hits[("standard", "c", "adv")]


def test_talk_files(tmp_path, pack_dir):
    path = tmp_path / "t" / "talk.json"
    slide = read_talk_slide(pack_dir)
    assert append_slide(path, slide) == 1 and append_slide(path, slide) == 2
    again = read_talk(path)
    assert len(again) == 2 and again[0].settings == slide.settings
    (tmp_path / "bad.json").write_text(json.dumps({"format": "sc-viz-talk/1", "slides": [{"page": "Nope"}]}))
    with pytest.raises(TalkError, match="slide 1: page must be one of"):
        read_talk(tmp_path / "bad.json")
    (tmp_path / "rel").mkdir()
    shutil.copytree(pack_dir, tmp_path / "rel" / "pk")
    write_talk(tmp_path / "rel" / "talk.json", [{"page": "Robustness", "pack": "pk", "image": "cat.png"}])
    (s,) = read_talk(tmp_path / "rel" / "talk.json")
    assert s.pack == str((tmp_path / "rel" / "pk").resolve()) and s.image.endswith("rel/cat.png")


def read_talk_slide(pack_dir) -> Slide:
    settings = ExplainSettings(
        pack=str(pack_dir), image={"dataset_split": "test", "index": 1}, methods=["gradcam"]
    )
    return Slide("Saliency", settings.pack, settings.image, {"measures": "0"}, settings)
