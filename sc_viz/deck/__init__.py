"""Prepared decks: a talk (the views to show, as JSON) precomputed into a folder the app
reads instead of computing, so a slide appears without waiting."""

from sc_viz.deck.build import build_deck, slide_units
from sc_viz.deck.store import Deck, DeckError, image_sha256, open_deck, unit_key
from sc_viz.deck.talk import Slide, TalkError, append_slide, read_talk, save_upload

__all__ = [
    "Deck",
    "DeckError",
    "Slide",
    "TalkError",
    "append_slide",
    "build_deck",
    "image_sha256",
    "open_deck",
    "read_talk",
    "save_upload",
    "slide_units",
    "unit_key",
]
