"""Cached loaders shared by every session: packs (models load once per process, keyed by
the manifest's mtime so a pack still training shows new variants), the gallery's test
split, the stored evaluation report, and UMAP's one-off warm-up."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Optional

import streamlit as st
from threadpoolctl import threadpool_limits

from sc_viz.app import gallery
from sc_viz.packs import MANIFEST, Pack, PackError, load_pack

WARMUP_ENV = "SC_VIZ_WARMUP"


def manifest_stamp(path: Path) -> str:
    try:
        s = (Path(path) / MANIFEST).stat()
        return f"{s.st_mtime_ns}-{s.st_size}"
    except OSError:
        return "missing"


def load_or_explain(path: str) -> tuple[Optional[Pack], Optional[str]]:
    """(pack, None) or (None, one line saying why it could not be loaded)."""
    try:
        return load_pack(path), None
    except PackError as err:
        return None, str(err)
    except Exception as err:  # noqa: BLE001 - a broken pack must not break the app
        return None, f"{path}: could not be loaded ({type(err).__name__}: {str(err)[:200]})"


@st.cache_resource(max_entries=8, show_spinner="Loading models...")
def _load_pack(path: str, stamp: str) -> tuple[Optional[Pack], Optional[str]]:
    return load_or_explain(path)


def get_pack(path: Path) -> tuple[Optional[Pack], Optional[str]]:
    """(pack, None) or (None, why); cached per process until the manifest changes."""
    return _load_pack(str(path), manifest_stamp(path))


def pack_key(pack: Pack) -> str:
    """Identifies a pack's weights for result caches."""
    return f"{pack.path.resolve()}@{manifest_stamp(pack.path)}"


@st.cache_resource(max_entries=2, show_spinner="Loading test images...")
def _load_gallery(dataset: str, input_size: int, root: str):
    try:
        return gallery.load_gallery(dataset, input_size, Path(root)), None
    except gallery.GalleryUnavailable as err:
        return None, str(err)


def get_gallery(pack: Pack):
    """(test split, None) or (None, why) for the pack's data set."""
    from sc_viz.data import data_root

    return _load_gallery(pack.dataset, pack.input_size, str(data_root()))


@st.cache_data(max_entries=8, show_spinner=False, ttl=60)
def _stored_report(key: str, _pack: Pack):
    from sc_viz.app.report_view import stored_report

    return stored_report(_pack)


def get_stored_report(pack: Pack):
    """The pack's evaluation report for the Continuity and Robustness pages
    (report_view.StoredReport); re-read at most once a minute."""
    return _stored_report(pack_key(pack), pack)


@st.cache_resource
def warm_up_projections() -> threading.Thread:
    """Once per process, in the background: UMAP's numba compilation takes tens of seconds
    the first time, which would otherwise land on the first Embeddings visit.
    SC_VIZ_WARMUP=0 turns it off (the tests do, to keep their CPU)."""

    def run():
        from sc_viz import embed

        with threadpool_limits(limits=1):
            embed.warm_up()

    thread = threading.Thread(target=run, name="sc-viz-warm-up", daemon=True)
    if os.environ.get(WARMUP_ENV, "1") != "0":
        thread.start()
    return thread
