"""Streamlit glue shared by app.py and pages/: cached loaders, the sidebar widget groups
(pack, image, variants), deep-link sync and presentation mode.

Only this module and the page files import streamlit; every number shown is computed by a
tested sc_viz function. Models load once per process (st.cache_resource, keyed by the
manifest's mtime so a pack still training shows new variants); results are cached per
(pack, image, settings) with bounded size (st.cache_data max_entries)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import streamlit as st
import torch
from PIL import Image

from . import catalog, gallery, links
from .images import MAX_BYTES, ImageError, load_input
from .packs import MANIFEST, Pack, PackError, load_pack

REPO = Path(__file__).resolve().parents[1]
CTX_KEY = "_sc_ctx"
LINK_KEY = "_sc_link"


# ---------------------------------------------------------------- cached loaders
def manifest_stamp(path: Path) -> str:
    try:
        s = (Path(path) / MANIFEST).stat()
        return f"{s.st_mtime_ns}-{s.st_size}"
    except OSError:
        return "missing"


@st.cache_resource(max_entries=8, show_spinner="Loading models...")
def _load_pack(path: str, stamp: str) -> tuple[Optional[Pack], Optional[str]]:
    try:
        return load_pack(path), None
    except PackError as err:
        return None, str(err)
    except Exception as err:  # noqa: BLE001 - a broken pack must not break the app
        return None, f"{path}: could not be loaded ({type(err).__name__}: {str(err)[:200]})"


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
    from .data import data_root

    return _load_gallery(pack.dataset, pack.input_size, str(data_root()))


@st.cache_data(max_entries=8, show_spinner=False, ttl=60)
def _stored_report(key: str, _pack: Pack):
    from .report_view import stored_report

    return stored_report(_pack)


def get_stored_report(pack: Pack):
    """The pack's evaluation report for the Continuity and Robustness pages
    (report_view.StoredReport); re-read at most once a minute."""
    return _stored_report(pack_key(pack), pack)


# ---------------------------------------------------------------- deep links
def link() -> links.View:
    """The view the session was opened with (parsed once; widgets take over afterwards)."""
    if LINK_KEY not in st.session_state:
        st.session_state[LINK_KEY] = links.parse_query(st.query_params.to_dict())
    return st.session_state[LINK_KEY]


def sync_link(**view) -> links.View:
    """Write the current view into the URL so that copying it reopens this view."""
    ctx = context()
    base = links.View(pack=ctx.pack.name if ctx.pack else None,
                      image=ctx.image.index if ctx.image else None, present=ctx.present)
    current = replace(base, **view)
    try:
        st.query_params.from_dict(links.to_query(current))
    except Exception:  # noqa: BLE001 - a URL that cannot be updated is no reason to fail
        pass
    return current


def persistent(key: str, default):
    """Prime widget `key` from a value kept across pages (Streamlit drops the state of
    widgets not drawn on a page); call `remember(key)` after drawing the widget."""
    store = f"_keep_{key}"
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(store, default)


def remember(key: str):
    st.session_state[f"_keep_{key}"] = st.session_state.get(key)
    return st.session_state.get(key)


# ---------------------------------------------------------------- chosen image
@dataclass
class ChosenImage:
    key: str  # "test:<index>" or "upload:<sha>": identifies cached results
    pil: Image.Image  # what the model sees (resized/cropped), for display
    x: torch.Tensor  # (1, 3, S, S) in [0, 1]
    label: Optional[int]  # true class of a gallery image; None for an upload
    caption: str
    index: Optional[int] = None  # test-split index (deep links)


@dataclass
class Context:
    pack: Optional[Pack] = None
    pack_error: Optional[str] = None
    image: Optional[ChosenImage] = None
    image_error: Optional[str] = None
    gallery_error: Optional[str] = None
    present: bool = False
    packs: list = field(default_factory=list)


def context() -> Context:
    return st.session_state.get(CTX_KEY) or Context()


def pack_picker(ctx: Context) -> None:
    """Sidebar: the pack (from checkpoints/, $SC_VIZ_PACKS and a typed folder)."""
    view = link()
    typed = st.sidebar.text_input("Another pack folder", key="pack_folder",
                                  placeholder="/path/to/packs or a pack", help=(
                                      "A folder holding pack folders (each with manifest.json), "
                                      "or one pack folder."))
    ctx.packs = catalog.discover_packs(catalog.pack_roots(REPO, typed))
    if typed and not any(Path(typed).expanduser().resolve() in (p.resolve(), p.resolve().parent)
                         for p in ctx.packs):
        st.sidebar.warning(f"No pack (folder with {MANIFEST}) under {typed}")
    if not ctx.packs:
        ctx.pack_error = ("No packs found. Train one (`sc-viz train ...`) into checkpoints/, "
                          "set SC_VIZ_PACKS, or type a folder in the sidebar.")
        return
    names = [str(p) for p in ctx.packs]
    if st.session_state.get("pack") not in names:
        st.session_state["pack"] = str(catalog.default_pack(ctx.packs, view.pack))
    chosen = st.sidebar.selectbox("Pack", names, key="pack",
                                  format_func=lambda s: Path(s).name)
    ctx.pack, ctx.pack_error = get_pack(Path(chosen))
    if ctx.pack is not None and not ctx.pack.models:
        ctx.pack_error = (f"{ctx.pack.name}: no variant could be loaded; "
                          + "; ".join(ctx.pack.errors.values()))
        ctx.pack = None


def image_picker(ctx: Context) -> None:
    """Sidebar: a gallery test image picked by class, or an uploaded image."""
    pack = ctx.pack
    split, ctx.gallery_error = get_gallery(pack)
    sources = ["Gallery", "Upload"] if split is not None else ["Upload"]
    if st.session_state.get("img_source") not in sources:
        st.session_state["img_source"] = sources[0]
    source = st.sidebar.radio("Image", sources, key="img_source", horizontal=True)
    if split is None:
        st.sidebar.info(f"Gallery unavailable: {ctx.gallery_error}")
    if source == "Gallery":
        _gallery_image(ctx, split)
    else:
        _uploaded_image(ctx)
    if ctx.image is not None:
        st.sidebar.image(ctx.image.pil.resize((128, 128), Image.NEAREST)
                         if max(ctx.image.pil.size) < 128 else ctx.image.pil,
                         caption=ctx.image.caption, width=128)


def _gallery_image(ctx: Context, split) -> None:
    pack, view = ctx.pack, link()
    classes = pack.classes
    linked = view.image if view.image is not None and view.image < len(split) else None
    if "img_class" not in st.session_state:
        st.session_state["img_class"] = int(split.labels[linked]) if linked is not None else 0
    label = st.sidebar.selectbox("Class", range(len(classes)), key="img_class",
                                 format_func=lambda i: classes[i] if i < len(classes) else str(i))
    options = gallery.class_indices(split, label)
    if linked is not None and int(split.labels[linked]) == label and linked not in options:
        options.append(linked)
    if not options:
        ctx.image_error = f"The test set has no images of class {classes[label]!r}."
        return
    if st.session_state.get("img_index") not in options:
        st.session_state["img_index"] = linked if linked in options else options[0]
    index = st.sidebar.selectbox("Example", options, key="img_index",
                                 format_func=lambda i: f"#{options.index(i) + 1} (test image {i})")
    pil, x, y = gallery.image_at(split, index)
    ctx.image = ChosenImage(f"test:{index}", pil, x, y, f"test image {index}: {classes[y]}", index)


def _uploaded_image(ctx: Context) -> None:
    up = st.sidebar.file_uploader(
        f"Your image (PNG, JPEG, WebP, BMP or GIF; up to {MAX_BYTES // 2**20} MB)", key="upload")
    if up is None:
        ctx.image_error = "Upload an image in the sidebar (or pick one from the gallery)."
        return
    ctx.image, ctx.image_error = decode_upload(up.getvalue(), up.name, ctx.pack.input_size)


def decode_upload(data: bytes, name: str, input_size: int
                  ) -> tuple[Optional[ChosenImage], Optional[str]]:
    """Uploaded bytes -> (ChosenImage, None) or (None, one-line message)."""
    try:
        pil, x = load_input(data, input_size)
    except ImageError as err:
        return None, f"{name}: {err}"
    sha = hashlib.sha256(data).hexdigest()[:16]
    return ChosenImage(f"upload:{sha}", pil, x, None, f"uploaded: {name}"), None


def require_image(ctx: Context) -> ChosenImage:
    """The chosen image, or a one-line message and the page stops."""
    require_pack(ctx)
    if ctx.image is None:
        (st.error if ctx.image_error and ":" in ctx.image_error else st.info)(
            ctx.image_error or "Choose an image in the sidebar.")
        st.stop()
    return ctx.image


def require_pack(ctx: Context) -> Pack:
    if ctx.pack is None:
        st.error(ctx.pack_error or "No pack is loaded; choose one in the sidebar.")
        st.stop()
    return ctx.pack


def variant_picker(pack: Pack, label: str = "Variants") -> list[str]:
    """Multiselect of the pack's loaded variants (default all, or the deep link's)."""
    available = list(pack.models)
    persistent("variants", links.keep_known(link().variants, available, available))
    kept = [v for v in st.session_state["variants"] or [] if v in available]
    # Another pack was chosen and none of the chosen variants is in it: start from all.
    st.session_state["variants"] = kept or (available if st.session_state["variants"] else [])
    chosen = st.multiselect(label, available, key="variants")
    remember("variants")
    return [v for v in available if v in chosen]


# ---------------------------------------------------------------- presentation mode
PRESENTATION_CSS = """
<style>
html, body, [class*="st-"] { font-size: 20px; }
h1 { font-size: 2.6rem !important; } h2 { font-size: 2.0rem !important; }
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"],
footer, [data-testid="stCaptionContainer"], [data-testid="stExpander"] { display: none !important; }
[data-testid="stMainBlockContainer"] { max-width: 100% !important; padding: 1rem 1.5rem !important; }
</style>
"""


def presentation_toggle(ctx: Context) -> None:
    if "present" not in st.session_state:
        st.session_state["present"] = link().present
    ctx.present = st.sidebar.toggle("Presentation mode", key="present",
                                    help="Large fonts, no captions or toolbars; for talks.")
    if ctx.present:
        st.html(PRESENTATION_CSS)


def setup_context(page_needs_image: bool) -> Context:
    """Draw the shared sidebar and return what the page needs; stored for the page."""
    ctx = Context()
    st.session_state[CTX_KEY] = ctx
    presentation_toggle(ctx)
    pack_picker(ctx)
    if page_needs_image and ctx.pack is not None:
        image_picker(ctx)
    return ctx
