"""Decks hold the other pages' work too: a talk's Robustness, Neurons and Sanity slides are
built into the deck through each page's own pieces of work, every piece the page asks for
is there and equal to a live computation, a rebuild computes nothing, and a stored result
that is not plain data is refused rather than run."""

from __future__ import annotations

import dataclasses
import io
import json
import pickle

import pytest
import torch
from conftest import make_pack

from sc_viz.app import views
from sc_viz.app.slide_work import PAGES
from sc_viz.app.views import slide_values
from sc_viz.deck import build_deck, image_sha256, open_deck, read_talk
from sc_viz.deck.store import Deck
from sc_viz.deck.work import Work, decode_result, encode_result
from sc_viz.explain.settings import ExplainSettings, load_image
from sc_viz.packs import load_pack

IMAGE = {"dataset_split": "test", "index": 3}


@pytest.fixture
def pack_dir(tmp_path):
    return make_pack(tmp_path / "packs" / "pages", seed=11)


def page_slides(pack_dir) -> list[dict]:
    pack = str(pack_dir)
    return [
        {
            "page": "Robustness",
            "pack": pack,
            "image": IMAGE,
            "view": {"eps": "4", "adv": "gradcam", "spat": "1"},
        },
        {"page": "Neurons", "pack": pack, "image": IMAGE, "view": {"v": "standard,adv", "k": "3"}},
        {"page": "Sanity", "pack": pack, "image": IMAGE, "view": {"v": "c", "sm": "saliency,gradcam"}},
        {"page": "Continuity", "pack": pack, "image": IMAGE},
        {
            "page": "Embeddings",
            "pack": pack,
            "image": IMAGE,
            "view": {"v": "c,adv", "n": "40", "proj": "tsne"},
        },
        # too few points for t-SNE: the page says so when shown; the build notes it
        {"page": "Embeddings", "pack": pack, "image": IMAGE, "view": {"n": "10", "proj": "tsne"}},
        {"page": "Models", "pack": pack, "image": None},  # kept as a view
    ]


def write_talk(tmp_path, slides):
    talk = tmp_path / "talk.json"
    talk.write_text(json.dumps({"format": "sc-viz-talk/1", "slides": slides}))
    return talk


def assert_same(a, b, where: str = "") -> None:
    """Equal down to every tensor's bits (dataclasses, dicts, lists, numbers)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif dataclasses.is_dataclass(a):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and a != a:  # NaN (an undefined similarity)
        assert b != b, where
    else:
        assert a == b, where


def replay(deck: Deck, slide, pack, data_root) -> list[str]:
    """Run the page's slide work again, live, with a fetch that also reads the deck: every
    piece must be in the deck and equal to the live one. Returns the pieces' names."""
    x, label = load_image(ExplainSettings(pack=slide.pack, image=slide.image), pack, data_root)
    x = x.reshape(1, *x.shape[-3:])
    names = []

    def fetch(work: Work, compute):
        key = work.key_in(pack, image_sha256(x))
        stored, live = deck.get_result(key), compute()
        assert stored is not None, f"{work.name} {work.params} not in the deck"
        assert_same(stored, live, work.name)
        names.append(work.name)
        return live

    PAGES[slide.page](pack, x, label, slide.to_dict(), fetch, data_root)
    return names


def test_a_deck_holds_every_piece_of_the_pages_work(tmp_path, pack_dir, data_root):
    talk = write_talk(tmp_path, page_slides(pack_dir))
    deck, computed, kept = build_deck(talk, tmp_path / "deck", pages=PAGES, device="cpu", data_root=data_root)
    assert kept == 0 and computed == len(deck.manifest["entries"])
    slides, pack = read_talk(talk), load_pack(pack_dir, device="cpu")
    deck = open_deck(deck.path)
    names = [replay(deck, s, pack, data_root) for s in slides[:5]]
    # Robustness: 4 variants x (PGD, maps, SPAT); Neurons: probes + consensus; Sanity: 2
    # units; Continuity: one DS table per variant; Embeddings: one projection
    assert sorted(set(names[0])) == ["robustness.maps", "robustness.pgd", "robustness.spat"]
    assert len(names[0]) == 12
    assert names[1] == ["neurons.probes", "neurons.consensus"]
    assert names[2] == ["sanity.check", "sanity.check"]
    assert names[3] == ["continuity.ds"] * 4
    assert names[4] == ["embeddings.projection"]
    assert [len(s["units"]) for s in deck.slides] == [12, 2, 2, 4, 1, 0, 0]
    assert "tsne needs at least" in deck.slides[5]["note"] and "note" not in deck.slides[4]
    # A rebuild finds every piece (the maps need their PGD image read back, not computed)
    again, computed, kept = build_deck(
        talk, tmp_path / "deck", pages=PAGES, device="cpu", data_root=data_root
    )
    assert computed == 0 and kept == 21
    assert again.slides == deck.slides


def test_a_slide_view_is_read_as_the_page_reads_it(pack_dir):
    """Values the widgets do not offer fall back as the page's widgets would."""
    values, ignored = slide_values(
        {
            "page": "Robustness",
            "pack": str(pack_dir),
            "image": IMAGE,
            "view": {"eps": "3", "adv": "nope", "v": "adv,ghost"},
        }
    )
    pack = load_pack(pack_dir, device="cpu")
    assert views.fitted("eps", values["eps"], views.EPS_CHOICES) == 8  # the field's default
    assert views.fitted("adv_method", values["adv_method"], ["none", "saliency"]) == "saliency"
    assert views.chosen_variants(values, pack) == ["adv"]
    assert views.chosen_variants({"variants": None}, pack) == ["standard", "c", "adv", "advc"]


class _Runs:
    """A pickle that would run code when loaded."""

    def __reduce__(self):
        return (print, ("this ran",))


def test_a_stored_result_that_is_not_plain_data_is_refused(tmp_path):
    buffer = io.BytesIO()
    torch.save({"x": _Runs()}, buffer)
    with pytest.raises(pickle.UnpicklingError):
        decode_result(buffer.getvalue())
    plain = {"a": torch.arange(3), "b": [1.5, "s", None]}
    assert_same(decode_result(encode_result(plain)), plain)


@dataclasses.dataclass
class _Result:
    a: torch.Tensor
    b: int = 0


def test_a_result_written_before_its_class_gained_a_field_is_refused(monkeypatch):
    """A deck older than the code: its object lacks a field the page would read, so it is
    treated as missing (computed live), never shown half-built."""
    monkeypatch.setattr("sc_viz.deck.work.RESULT_TYPES", [_Result])
    old = _Result(torch.zeros(2))
    del old.__dict__["b"]  # as an instance written before `b` existed
    with pytest.raises(ValueError, match="lacks b"):
        decode_result(encode_result({"v": [old]}))
    assert decode_result(encode_result({"v": [_Result(torch.ones(2), 3)]}))["v"][0].b == 3
