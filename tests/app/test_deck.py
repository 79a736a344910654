"""Prepared decks in the app: "Add this view to the talk" writes the view, presentation
mode steps through a built deck with N and P (pages switch, the view follows), and each
Saliency slide is shown from the deck (nothing computed) with the exact cells a live
computation draws; a deck for other weights is refused with a clear line."""

from __future__ import annotations

import json

import numpy as np
from apptest_helpers import SALIENCY, assert_clean, open_app
from conftest import make_pack

from sc_viz.app import deck_view, present
from sc_viz.app import saliency_view as sv
from sc_viz.app.slide_work import PAGES
from sc_viz.deck import build_deck, read_talk
from sc_viz.explain import explain_grid
from sc_viz.explain.settings import ExplainSettings, grid_target, load_image
from sc_viz.packs import load_pack, read_weights, save_weights

SHOWN = "_sc_saliency_cells"  # the drawn cells (saliency_grid.LAST_CELLS)
FAST = {"m": "saliency,gradcam"}


def saliency_slide(pack_dir, index, **kw) -> dict:
    settings = ExplainSettings(
        pack=str(pack_dir),
        image={"dataset_split": "test", "index": index},
        variants=["standard", "c"],
        methods=["gradcam", "saliency", "lime"],
        budgets={"lime": 100, "ig": 8},
        opacity=0.4,
        **kw,
    )
    return {"page": "Saliency", "settings": json.loads(settings.to_json())}


def make_deck(tmp_path, pack_dir) -> tuple:
    talk = tmp_path / "talk.json"
    slides = [
        saliency_slide(pack_dir, 5),
        {"page": "Models", "pack": str(pack_dir), "image": None},
        saliency_slide(pack_dir, 9, target_mode="predicted"),
    ]
    talk.write_text(json.dumps({"format": "sc-viz-talk/1", "slides": slides}))
    deck, _, _ = build_deck(talk, tmp_path / "deck", device="cpu")
    return talk, deck


def live_cells(slide, pack) -> dict:
    """The cells a live computation draws in presentation mode, {(variant, method): pixels}."""
    x, label = load_image(slide.settings, pack)
    s = slide.settings
    grid = explain_grid(
        {v: pack.models[v] for v in s.variants},
        x,
        methods=s.methods,
        target=grid_target(s, label),
        options=s.method_options(),
    )
    size = present.cell_cap_px(pack.input_size)
    return {k: sv.cell(x, exp, pack.classes, s.opacity, size=size).image for k, exp in grid.cells.items()}


def assert_deck_slide(at, slide, pack) -> None:
    assert_clean(at)
    served, units = at.session_state[deck_view.SERVED]
    assert units == 5 and served == units  # 2 variants x (gradcam, saliency) + LIME once
    assert at.selectbox(key="img_index").value == slide.settings.image["index"]
    assert at.multiselect(key="methods").value == slide.settings.methods
    drawn = at.session_state[SHOWN]
    for key, pixels in live_cells(slide, pack).items():
        np.testing.assert_array_equal(drawn[key].image, pixels, err_msg=str(key))


def test_n_and_p_step_through_a_deck(tiny_packs_env, tmp_path):
    pack_dir = make_pack(tmp_path / "packs" / "decked", seed=5)
    talk, deck = make_deck(tmp_path, pack_dir)
    slides, pack = read_talk(talk), load_pack(pack_dir, device="cpu")
    at = open_app(SALIENCY, pack=tiny_packs_env, query={**FAST, "present": "1", "deck": str(deck.path)})
    assert_clean(at)
    assert "3 slides" in " ".join(m.value for m in at.markdown)
    at.button(key="present-next").click().run()  # N: slide 1, this page
    assert_deck_slide(at, slides[0], pack)
    assert at.selectbox(key="pack").value == str(pack_dir)
    at.button(key="present-next").click().run()  # N: slide 2, the Models page
    assert_clean(at)
    assert not [h for h in at.main.get("html") if present.GRID_CLASS in h.proto.body]
    assert "Slide 2/3" in " ".join(m.value for m in at.markdown)
    at.button(key="present-next").click().run()  # N: slide 3, Saliency again
    assert_deck_slide(at, slides[2], pack)
    assert at.selectbox(key="target_mode").value == "predicted"
    at.button(key="present-prev").click().run()  # P, P: back to slide 1
    at.button(key="present-prev").click().run()
    assert_deck_slide(at, slides[0], pack)
    # A live change mid-talk: computed (the deck is a cache, not a screenshot)
    at.multiselect(key="methods").set_value(["gradcam"]).run()
    assert_clean(at)
    assert at.session_state[deck_view.SERVED] == (2, 2)  # still in the deck: gradcam's units
    at.slider(key="opacity").set_value(0.9).run()
    at.selectbox(key="target_mode").set_value("class").run()
    at.selectbox(key="target_class").set_value(3).run()  # not the image's class (0)
    assert_clean(at)
    assert at.session_state[deck_view.SERVED] == (0, 2)


def test_a_deck_for_other_weights_is_refused(tiny_packs_env, tmp_path):
    pack_dir = make_pack(tmp_path / "packs" / "changed", seed=7)
    talk, deck = make_deck(tmp_path, pack_dir)
    path = pack_dir / "c.safetensors"  # "c" retrained after the deck was built
    _, info = read_weights(path)
    model = load_pack(pack_dir, device="cpu").models["c"]
    next(model.parameters()).data.mul_(0.5)
    save_weights(path, model, info["model"], info.get("config", {}))
    at = open_app(SALIENCY, pack=tiny_packs_env, query={**FAST, "present": "1", "deck": str(deck.path)})
    at.button(key="present-next").click().run()
    assert_clean(at)
    lines = [w.value for w in [*at.warning, *at.sidebar.get("caption")] if isinstance(w.value, str)]
    assert any("built for other weights of c" in line for line in lines), lines
    served, units = at.session_state[deck_view.SERVED]
    assert units == 5 and served == 2  # standard's gradcam and saliency only; c and LIME live


def test_add_this_view_then_build(tiny_packs_env, tiny_pack, tmp_path):
    talk = tmp_path / "my talk.json"
    at = open_app(SALIENCY, pack=tiny_packs_env, query={**FAST, "img": "12", "talk": str(talk)})
    at.multiselect(key="variants").set_value(["adv", "advc"]).run()
    at.slider(key="opacity").set_value(0.3).run()
    at.button(key="deck-add").click().run()
    assert_clean(at)
    assert any("Slide 1 added" in s.value for s in at.success), [
        e.value for e in [*at.error, *at.success, *at.warning]
    ]
    (slide,) = read_talk(talk)
    s = slide.settings
    assert slide.page == "Saliency" and s.image == {"dataset_split": "test", "index": 12}
    assert s.variants == ["adv", "advc"] and s.methods == ["saliency", "gradcam"] and s.opacity == 0.3
    assert s.pack == str(tiny_pack.resolve())
    deck, _, _ = build_deck(talk, tmp_path / "deck", device="cpu")
    at.text_input(key="deck").set_value(str(deck.path)).run()
    assert_clean(at)
    assert at.session_state[deck_view.SERVED] == (4, 4)


def test_a_slide_wins_over_a_stale_url(tiny_packs_env, tmp_path):
    """The browser may send the key press with the URL from before the last run's update;
    the slide the callback set must not be undone by that URL (a race a busy CPU showed)."""
    pack_dir = make_pack(tmp_path / "packs" / "stale", seed=9)
    talk, deck = make_deck(tmp_path, pack_dir)
    at = open_app(SALIENCY, pack=tiny_packs_env, query={**FAST, "present": "1", "deck": str(deck.path)})
    at.query_params["img"] = "7"  # an older URL than the one the session last wrote
    at.button(key="present-next").click().run()
    assert_clean(at)
    assert at.selectbox(key="img_index").value == 5  # slide 1's image, not the URL's
    assert at.session_state[deck_view.SERVED] == (5, 5)


def test_robustness_and_sanity_slides_are_shown_from_the_deck(tiny_packs_env, tmp_path, data_root):
    """N to a Robustness slide: every PGD, map and SPAT attack from the deck; N to a Sanity
    slide: its checks at once (no Compute click), from the deck; a live change computes."""
    pack_dir = make_pack(tmp_path / "packs" / "paged", seed=13)
    image = {"dataset_split": "test", "index": 6}
    slides = [
        {
            "page": "Robustness",
            "pack": str(pack_dir),
            "image": image,
            "view": {"eps": "4", "adv": "gradcam", "spat": "1"},
        },
        {"page": "Sanity", "pack": str(pack_dir), "image": image, "view": {"v": "c,adv", "sm": "saliency"}},
    ]
    talk = tmp_path / "talk.json"
    talk.write_text(json.dumps({"format": "sc-viz-talk/1", "slides": slides}))
    deck, _, _ = build_deck(talk, tmp_path / "deck", pages=PAGES, device="cpu", data_root=data_root)
    # opened on Robustness: AppTest runs its first page again after a switch_page run
    at = open_app(
        "app_pages/4_Robustness.py", pack=tiny_packs_env, query={"present": "1", "deck": str(deck.path)}
    )
    at.button(key="present-next").click().run()  # N: the Robustness slide
    assert_clean(at)
    assert at.select_slider(key="eps").value == 4 and at.toggle(key="spat").value
    log = at.session_state[deck_view.WORK_LOG]
    assert len(log) == 12 and {source for _, source in log} == {"deck"}, log
    at.select_slider(key="eps").set_value(2).run()  # a live change mid-talk
    assert_clean(at)
    sources = [source for name, source in at.session_state[deck_view.WORK_LOG] if name == "robustness.pgd"]
    assert sources == ["live"] * 4
    at.button(key="present-next").click().run()  # N: the Sanity slide, no Compute click
    assert_clean(at)
    assert len(at.dataframe) == 1  # the summary table: the checks are shown
    assert at.session_state[deck_view.WORK_LOG] == [("sanity.check", "deck")] * 2


def test_a_neurons_slide_is_shown_from_the_deck(tiny_packs_env, tmp_path, data_root):
    """N to a Neurons slide: the channel probes and the saliency consensus come from the
    deck (the page's layer, channels and x' as the slide's view sets them)."""
    pack_dir = make_pack(tmp_path / "packs" / "neurons", seed=17)
    view = {"v": "standard,adv", "k": "3", "follow": "adv", "cm": "gradcam"}
    slide = {
        "page": "Neurons",
        "pack": str(pack_dir),
        "image": {"dataset_split": "test", "index": 8},
        "view": view,
    }
    talk = tmp_path / "talk.json"
    talk.write_text(json.dumps({"format": "sc-viz-talk/1", "slides": [slide]}))
    deck, _, _ = build_deck(talk, tmp_path / "deck", pages=PAGES, device="cpu", data_root=data_root)
    at = open_app(
        "app_pages/5_Neurons.py", pack=tiny_packs_env, query={"present": "1", "deck": str(deck.path)}
    )
    at.button(key="present-next").click().run()
    assert_clean(at)
    assert at.slider(key="neuron_k").value == 3 and at.selectbox(key="neuron_follow").value == "adv"
    assert at.session_state[deck_view.WORK_LOG] == [("neurons.probes", "deck"), ("neurons.consensus", "deck")]
    at.slider(key="neuron_k").set_value(4).run()  # a live change: the probes are computed
    assert at.session_state[deck_view.WORK_LOG] == [("neurons.probes", "live"), ("neurons.consensus", "deck")]


def test_continuity_and_embeddings_slides_are_shown_from_the_deck(tiny_packs_env, tmp_path, data_root):
    """N to a Continuity slide: each variant's distance scores from the deck; N to an
    Embeddings slide: its projection from the deck."""
    pack_dir = make_pack(tmp_path / "packs" / "projected", seed=19)
    image = {"dataset_split": "test", "index": 4}
    slides = [
        {"page": "Continuity", "pack": str(pack_dir), "image": image, "view": {"v": "standard,c"}},
        {"page": "Embeddings", "pack": str(pack_dir), "image": image, "view": {"proj": "pca", "n": "30"}},
    ]
    talk = tmp_path / "talk.json"
    talk.write_text(json.dumps({"format": "sc-viz-talk/1", "slides": slides}))
    deck, _, _ = build_deck(talk, tmp_path / "deck", pages=PAGES, device="cpu", data_root=data_root)
    at = open_app(
        "app_pages/3_Continuity.py", pack=tiny_packs_env, query={"present": "1", "deck": str(deck.path)}
    )
    at.button(key="present-next").click().run()
    assert_clean(at)
    assert at.session_state[deck_view.WORK_LOG] == [("continuity.ds", "deck")] * 2
    at.button(key="present-next").click().run()  # the Embeddings page
    assert_clean(at)
    assert at.slider(key="same_count").value == 30
    assert at.session_state[deck_view.WORK_LOG] == [("embeddings.projection", "deck")]


def test_a_robustness_slide_for_other_weights_says_so_on_the_page(tiny_packs_env, tmp_path, data_root):
    """Presentation mode hides the sidebar: the line about other weights is on the page,
    and only the retrained variant's pieces are computed."""
    pack_dir = make_pack(tmp_path / "packs" / "retrained", seed=23)
    slide = {"page": "Robustness", "pack": str(pack_dir), "image": {"dataset_split": "test", "index": 2}}
    talk = tmp_path / "talk.json"
    talk.write_text(json.dumps({"format": "sc-viz-talk/1", "slides": [slide]}))
    deck, _, _ = build_deck(talk, tmp_path / "deck", pages=PAGES, device="cpu", data_root=data_root)
    path = pack_dir / "c.safetensors"  # "c" retrained after the deck was built
    _, info = read_weights(path)
    model = load_pack(pack_dir, device="cpu").models["c"]
    next(model.parameters()).data.mul_(0.5)
    save_weights(path, model, info["model"], info.get("config", {}))
    at = open_app(
        "app_pages/4_Robustness.py", pack=tiny_packs_env, query={"present": "1", "deck": str(deck.path)}
    )
    at.button(key="present-next").click().run()
    assert_clean(at)
    assert any("built for other weights of c" in w.value for w in at.main.warning), [
        w.value for w in at.main.warning
    ]
    sources = {name: [] for name, _ in at.session_state[deck_view.WORK_LOG]}
    for name, source in at.session_state[deck_view.WORK_LOG]:
        sources[name].append(source)
    assert sources["robustness.pgd"] == ["deck", "live", "deck", "deck"]  # standard, c, adv, advc
