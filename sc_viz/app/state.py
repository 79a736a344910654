"""The one owner of the user's view: every declared widget value (sc_viz.app.views), kept
for the whole visit and mirrored in the URL.

Why not leave the values to the widgets: Streamlit drops a widget's state when a run does
not draw it (another page, the Models page, or a run that stops early, e.g. while an
upload is being replaced), and a widget the browser mounts again shows the default in its
proto, not the server's value, unless the value is set through st.session_state in that
run. So the values live in one session dict (`STORE`), and every run:

1. `begin` (app.py, before any widget): takes in what the user changed since the last run
   (the widgets' keys in st.session_state), or, when the URL is not the one this session
   last wrote (a new session on a link, Back/Forward), takes the view from the URL.
2. `bind(key, options)` (just before each widget, which gets `key=` and no value/index/
   default): fits the stored value to the widget's options and sets it through
   st.session_state, so server and browser agree whatever happened before.
3. `publish` (app.py, after the sidebar and again after the page): writes the whole view
   into the URL (only the values that are not defaults). Because every page's values are in
   it and the navigation links carry it (sidebar.navigation), a page switch does not
   change the URL's query and the browser gets one history entry per page.

A link's values that cannot be used (unknown parameter, no such pack, variant, method or
test image) are listed by `show_notes`. Uploaded bytes are kept here too, because a
file uploader cannot be set from the server."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from typing import Any, Optional

import streamlit as st
from streamlit.runtime.scriptrunner import RerunException

from sc_viz.app import links, views

STORE = "_sc_view"  # {key: value} of every declared field
WRITTEN = "_sc_query"  # the query this session last wrote into (or read from) the URL
LINKED = "_sc_linked"  # keys whose value came from the URL and was not changed since
CHANGED = "_sc_changed"  # keys the user changed in the run before this one
NOTES = "_sc_notes"  # what the link asked for that was ignored
UPLOAD = "_sc_upload"  # (name, bytes) of the last uploaded file
RERUN = "_sc_rerun"  # the last run was cut short by a rerun (see publish)
SET_IN_CALLBACK = "_sc_set_in_callback"  # a button's callback set the view (set_view)
NOTES_SLOT = "_sc_notes_slot"  # where this run shows the notes
DERIVED = "_sc_derived"  # {key: token} of values derived from something else (new_for)
SHOWN = "_sc_shown"  # {key: the pack's default a widget showed while the view held None}


def _session():
    return st.session_state


def store() -> dict:
    """The view's values, {key: value} (a live dict)."""
    session = _session()
    if STORE not in session:
        session[STORE] = {f.key: f.fresh_default() for f in views.ALL}
    return session[STORE]


def value(key: str) -> Any:
    return store().get(key, views.BY_KEY[key].fresh_default())


def set_value(key: str, new) -> None:
    """Change a value from code (e.g. a derived choice); takes effect at its next bind."""
    store()[key] = new


def set_view(values: dict) -> None:
    """From a button's callback: set these view values as a link would (each widget then
    shows its value through `bind`), whatever URL the browser sends with the click."""
    session = _session()
    for key, value in values.items():
        store()[key] = list(value) if isinstance(value, tuple) else value
        # the widget's own state goes, so the run takes the view's value (bind)
        session.pop(key, None)
    session[SET_IN_CALLBACK] = True


def mark_set_in_callback() -> None:
    """From a callback that set a widget's value itself (Previous/Next image)."""
    _session()[SET_IN_CALLBACK] = True


def new_for(key: str, token: str) -> bool:
    """True once per new `token` for `key` (e.g. a new uploaded image), so a value derived
    from it (the class an upload is compared with) is derived again only then."""
    seen = _session().setdefault(DERIVED, {})
    if seen.get(key) == token:
        return False
    seen[key] = token
    return True


def changed(key: str) -> bool:
    """Whether the user changed `key`'s widget in the interaction that started this run."""
    return key in _session().get(CHANGED, ())


def _current_query() -> dict[str, str]:
    return {k: str(v) for k, v in st.query_params.to_dict().items()}


def begin(fields: Iterable[links.Field] = views.ALL) -> None:
    """Start of a run: the view from the user's widget changes, or from a new URL."""
    session, values = _session(), store()
    fields = list(fields)
    query = _current_query()
    rerun = session.pop(RERUN, False)
    # A callback that set the view (a deck slide, Previous/Next) wins over the URL: the
    # browser may send the click with the URL from before the last run's update.
    set_in_callback = session.pop(SET_IN_CALLBACK, False)
    # An empty query in a running session is a page switch that did not carry the URL
    # (AppTest, st.switch_page): not a link back to every default.
    page_switch = not query and WRITTEN in session
    if session.get(WRITTEN) != query and not rerun and not page_switch and not set_in_callback:
        linked, ignored = links.parse_query(query, fields)
        linked = views.upgrade_link(linked)
        values.clear()
        values.update({f.key: f.fresh_default() for f in fields})
        values.update(linked)
        session[LINKED] = set(linked)
        session[NOTES] = ignored
        session[CHANGED] = set()
        session[WRITTEN] = query
        return
    now_changed, shown = set(), session.get(SHOWN, {})
    for f in fields:
        if f.key not in session:
            continue
        new = session[f.key]
        if f.key in shown and new == shown[f.key]:
            if values.get(f.key) in (None, new):  # still what the widget showed: no change
                continue
            new = None  # set back to the pack's default: the view holds "default" (views.PACK_DEFAULTS)
        if new != values.get(f.key):
            values[f.key] = _copy(new)
            now_changed.add(f.key)
    session[CHANGED] = now_changed
    if now_changed:  # the user has moved on from the link
        session[LINKED] = set()
        session[NOTES] = []


def _copy(v):
    return list(v) if isinstance(v, (list, tuple)) else v


def bind(key: str, options: Optional[Sequence] = None, fallback=None, what: str = "", default=None) -> str:
    """Prepare widget `key`: its stored value, fitted to `options` when given (a list value
    keeps its known items; a single value not among them becomes `fallback`, else the
    field's default if allowed, else the first option), set through st.session_state.
    Returns the key for the widget's `key=` argument. `what` names the options in the
    note shown when a linked value was not among them ("variant", "test image").

    A field of views.PACK_DEFAULTS holds None until the user picks a value: its widget
    shows `default` (the pack's, e.g. fewer IG steps at 224 px; without one, the default
    for no pack), and a widget still showing it, or set back to it, leaves the view at
    None, so the URL leaves it out and a link opens every pack with its own default."""
    field = views.BY_KEY[key]
    current = value(key)
    if options is not None:
        current = _fit(field, current, list(options), fallback, what)
    store()[key] = _copy(current)
    if key in views.PACK_DEFAULTS:
        default = views.PACK_DEFAULTS[key](None) if default is None else default
        _session().setdefault(SHOWN, {})[key] = default
        current = default if current is None else current
    _session()[key] = _copy(current)
    return key


def _fit(field: links.Field, current, options: list, fallback, what: str):
    """`views.fitted`, with a note for the values of a link that are not offered here."""
    if field.key in _session().get(LINKED, ()):
        if isinstance(current, (list, tuple)):
            dropped = links.keep_known(current, options)[1]
        else:
            dropped = [current] if current is not None and current not in options else []
        if dropped:
            _note(field, dropped, what)
    return views.fitted(field.key, current, options, fallback)


def _note(field: links.Field, items, what: str) -> None:
    name = field.url or field.key
    shown = links.LIST_SEP.join(str(i) for i in items)
    notes = _session().setdefault(NOTES, [])
    line = f"{name}={shown} (no such {what or 'option'} here)"
    if line not in notes:
        notes.append(line)
        _draw_notes()


def notes() -> list[str]:
    return list(_session().get(NOTES, []))


def show_notes(slot) -> None:
    """Show in `slot`, now and whenever a widget adds one this run, one line naming what
    the link asked for and this view ignored. (Shown as they come: a page that stops early
    draws nothing after its st.stop.)"""
    _session()[NOTES_SLOT] = slot
    _draw_notes()


def _draw_notes() -> None:
    slot, found = _session().get(NOTES_SLOT), notes()
    if slot is not None and found:
        slot.warning("Ignored from the link: " + "; ".join(found) + ".", icon=":material/link_off:")


def publish() -> dict[str, str]:
    """Write the whole view into the URL (only when it changed: each write is a history
    entry in the browser); returns the query for the navigation links."""
    query = views.query_of(store())
    if query != _current_query():
        try:
            st.query_params.from_dict(query)
        except Exception:  # noqa: BLE001 - a URL that cannot be updated is no reason to fail
            return query
    _session()[WRITTEN] = query
    return query


@contextmanager
def page_run():
    """Around the page: a run cut short by a rerun (st.switch_page, a newer interaction)
    marks it, because the rerun starts with the URL of the run before and must not take
    that for a new link."""
    try:
        yield
    except RerunException:
        _session()[RERUN] = True
        raise


# ---------------------------------------------------------------- uploads
def keep_upload(name: str, data: bytes) -> None:
    _session()[UPLOAD] = (name, data)


def kept_upload() -> Optional[tuple[str, bytes]]:
    """The last uploaded file, kept while the uploader is not drawn (gallery, other pages)."""
    return _session().get(UPLOAD)


def forget_upload() -> None:
    _session().pop(UPLOAD, None)
