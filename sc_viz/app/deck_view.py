"""The app's side of prepared decks (sc_viz.deck): the sidebar's Deck group (the talk file,
"Add this view to the talk", the deck folder and its state), the slide steps of
presentation mode (keys N and P), and the lookups the pages make before they compute: a
Saliency unit (`read_unit`), another page's piece of work (`fetcher`).

A slide is applied like a link: its values go into the view (and the widgets' keys, as a
click would set them) and the app switches to its page on the next run (`pending_page`,
called by app.py before any widget)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import streamlit as st

from sc_viz.app import loaders, state, views
from sc_viz.deck import Deck, DeckError, Slide, TalkError, append_slide, image_sha256, open_deck, save_upload
from sc_viz.deck.talk import SALIENCY
from sc_viz.deck.work import Fetch, Work
from sc_viz.explain.settings import ExplainSettings
from sc_viz.packs import Pack

SLIDE = "_sc_slide"  # the deck slide shown last (0-based); absent: none yet
GOTO = "_sc_goto"  # the page a slide step asked for, switched to on the next run
OFFERED = "_sc_offered"  # (page, ExplainSettings JSON) the Saliency page drew last
SERVED = "_sc_served"  # (units shown from the deck, units) of the Saliency page's last grid
WORK_LOG = "_sc_work_log"  # this run's pieces of work (other pages): [(name, "deck" | "live")]
IGNORED = "_sc_slide_ignored"  # what the shown slide asked for and no widget offers
ADDED = "_sc_added"  # the last "Add to the talk" outcome: (ok, line)
ADD_HELP = (
    "Appends this view (page, pack, image and every setting) to the talk file. "
    "Then `sc-viz deck build TALK --out DECK` computes its results once, and presentation "
    "mode with that deck shows them without waiting."
)


@st.cache_resource(max_entries=4, show_spinner=False)
def _open(path: str, stamp: str) -> tuple[Optional[Deck], Optional[str]]:
    try:
        return open_deck(path), None
    except DeckError as err:
        return None, str(err)


def _stamp(path: str) -> str:
    """The manifest's mtime and size: a rebuilt deck is read again, not served from cache."""
    try:
        st_ = (Path(path).expanduser() / "manifest.json").stat()
    except OSError:
        return "missing"
    return f"{st_.st_mtime_ns}:{st_.st_size}"


def current_deck() -> tuple[Optional[Deck], Optional[str]]:
    """(the deck the sidebar names, None) or (None, why it cannot be shown); (None, None)
    when no deck is chosen."""
    path = (state.value("deck") or "").strip()
    if not path:
        return None, None
    return _open(path, _stamp(path))


@st.cache_data(max_entries=128, show_spinner=False)
def _read(path: str, stamp: str, key: str, unit: bool, _deck: Deck):
    """One stored Saliency unit (`unit`) or piece of work, read and its checksum verified
    once per version of the deck, not again on every rerun of the page (the cache keys on
    the deck's folder, its manifest's stamp and the piece's key)."""
    return _deck.get(key) if unit else _deck.get_result(key)


def read_unit(deck: Deck, key: str):
    """A Saliency unit's maps from the deck, or None (see Deck.get)."""
    return _read(str(deck.path), _stamp(str(deck.path)), key, True, deck)


def read_result(deck: Deck, key: str):
    """Another page's piece of work from the deck, or None (see Deck.get_result)."""
    return _read(str(deck.path), _stamp(str(deck.path)), key, False, deck)


def pack_note(deck: Optional[Deck], pack: Optional[Pack]) -> Optional[str]:
    """The line shown when the deck was built for other weights of the current pack."""
    if deck is None or pack is None:
        return None
    return deck.weights_note(pack.path, {v: pack.weights_sha256(v) for v in pack.models})


def offer_settings(settings: ExplainSettings) -> None:
    """The Saliency page's grid settings, for "Add this view to the talk"."""
    st.session_state[OFFERED] = (SALIENCY, settings.to_json())


def current_slide(page: str, pack: Pack, image) -> Slide:
    """The view on screen as a slide (an upload is saved beside the talk file)."""
    talk = _talk_path()
    if image is not None and image.index is None:
        kept = state.kept_upload()
        picture = save_upload(talk, kept[0], kept[1], image.key.split(":", 1)[1]) if kept else None
    else:
        picture = {"dataset_split": "test", "index": int(image.index)} if image is not None else None
    query = views.query_of(state.store())
    offered = st.session_state.get(OFFERED)
    if page == SALIENCY and offered and offered[0] == SALIENCY:
        settings = ExplainSettings.from_json(offered[1])
        settings.image = picture if picture is not None else settings.image
        return Slide(page, settings.pack, settings.image, query, settings)
    return Slide(page, str(pack.path.resolve()), picture, query)


def _talk_path() -> Path:
    return Path(state.value("talk") or "talk.json").expanduser()


def _add(page: str, pack: Pack, image) -> None:
    """Button callback: append the view to the talk file and say so (or why not)."""
    try:
        n = append_slide(_talk_path(), current_slide(page, pack, image))
        st.session_state[ADDED] = (True, f"Slide {n} added to {_talk_path()}.")
    except (TalkError, OSError, ValueError) as err:
        st.session_state[ADDED] = (False, f"Not added: {str(err).splitlines()[0][:200]}")


def sidebar_group(page: str, pack: Optional[Pack], image) -> None:
    """Sidebar: the Deck group, folded unless a deck is in use."""
    deck, why = current_deck()
    note = pack_note(deck, pack)
    with st.sidebar.expander("Deck", expanded=bool(state.value("deck"))):
        st.text_input("Talk file", key=state.bind("talk"), help="Where Add writes: a JSON file of slides.")
        st.button(
            "Add this view to the talk",
            key="deck-add",
            icon=":material/playlist_add:",
            on_click=_add,
            args=(page, pack, image),
            disabled=pack is None,
            help=ADD_HELP,
        )
        ok, line = st.session_state.get(ADDED, (None, None))  # kept: a run cut short by a rerun
        if line:
            (st.success if ok else st.error)(line)
        st.text_input(
            "Deck folder",
            key=state.bind("deck"),
            placeholder="a folder sc-viz deck build wrote",
            help="Presentation mode then steps through its slides (keys N and P).",
        )
        if st.session_state.get(IGNORED):
            st.warning("Ignored from the deck: " + "; ".join(st.session_state[IGNORED]) + ".")
        if why:
            st.warning(why)
        elif deck is not None:
            st.caption(f"{len(deck.slides)} slides" + (f". {note}" if note else ", built for these weights."))
    if note and page != "Models":  # in the page too: presentation mode hides the sidebar
        st.warning(note)


def slide_count() -> int:
    deck, _ = current_deck()
    return len(deck.slides) if deck is not None else 0


def slide_label() -> str:
    n = slide_count()
    at = st.session_state.get(SLIDE)
    return f"Slide {at + 1}/{n}" if at is not None and n else f"{n} slides"


def step_slide(delta: int) -> None:
    """Button callback (N, P): show the next (+1) or previous (-1) slide of the deck."""
    deck, _ = current_deck()
    if deck is None or not deck.slides:
        return
    at = st.session_state.get(SLIDE)
    at = 0 if at is None else (at + delta) % len(deck.slides)
    st.session_state[SLIDE] = at
    apply_slide(deck.talk[at])


def apply_slide(raw: dict) -> None:
    """Set the view to a slide's and ask for its page."""
    values, ignored = views.slide_values(raw)
    state.set_view(values)
    st.session_state[IGNORED] = [f"slide {st.session_state.get(SLIDE, 0) + 1}: {i}" for i in ignored]
    image = (raw.get("settings") or {}).get("image", raw.get("image"))
    if isinstance(image, str) and os.path.isfile(image):
        state.keep_upload(Path(image).name, Path(image).read_bytes())
    st.session_state[GOTO] = raw["page"]


def pending_page() -> Optional[str]:
    """The page a slide step asked for (once), else None."""
    return st.session_state.pop(GOTO, None)


# ---------------------------------------------------------------- other pages' work
@st.cache_data(max_entries=256, show_spinner=False)
def _computed(pack_key: str, image_key: str, name: str, params_json: str, variants: tuple, _compute):
    """One piece of a page's work, cached by what fixes it (the pack and image keys stand
    for the weights and the pixels; `_compute` is not hashed)."""
    return _compute()


def begin_run() -> None:
    """app.py, before the page: this run's work log starts empty."""
    st.session_state[WORK_LOG] = []


def fetcher(pack: Pack, image, spinners: Optional[dict[str, str]] = None, cache: bool = True) -> Fetch:
    """The pages' `fetch(work, compute)` (sc_viz.deck.work): from the deck the sidebar names
    when it holds the piece, else computed and cached for the session's server (`cache`
    off: `compute` caches its own result). `image`: the sidebar's chosen image (key, x).
    `spinners`: work name -> the line shown while it computes."""
    deck, _ = current_deck()
    pack_key = loaders.pack_key(pack)
    image_sha = image_sha256(image.x) if deck is not None else ""

    def fetch(work: Work, compute):
        log = st.session_state.setdefault(WORK_LOG, [])
        if deck is not None:
            found = read_result(deck, work.key_in(pack, image_sha))
            if found is not None:
                log.append((work.name, "deck"))
                return found
        log.append((work.name, "live"))
        if not cache:
            return compute()
        with st.spinner((spinners or {}).get(work.name, "Computing...")):
            return _computed(pack_key, image.key, work.name, work.params_json(), work.variants, compute)

    return fetch


def holds(pack: Pack, image, works: Callable[[], list[Work]]) -> bool:
    """Whether the chosen deck holds every one of `works()` (called only when a deck is
    chosen), so a page may skip its Compute button."""
    deck, _ = current_deck()
    if deck is None:
        return False
    sha = image_sha256(image.x)
    keys = [w.key_in(pack, sha) for w in works()]
    return all(k in deck.manifest["entries"] for k in keys)
