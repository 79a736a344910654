"""The sidebar every page shares (drawn by app.py): presentation mode, the pack, the image
(a gallery test image picked by class, or an upload), and the variants picker the pages
draw. Every widget's value goes through sc_viz.app.state, so it survives page switches,
early-stopping runs and links."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import streamlit as st
import torch
from PIL import Image

from sc_viz.app import catalog, gallery, state, style
from sc_viz.app.loaders import get_gallery, get_pack
from sc_viz.app.views import GALLERY, UPLOAD
from sc_viz.images import MAX_BYTES, ImageError, load_input
from sc_viz.packs import MANIFEST, Pack

REPO = Path(__file__).resolve().parents[2]
CTX_KEY = "_sc_ctx"
UPLOAD_KEY = "upload"  # the file uploader's key (its file is kept by state, not the widget)


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


def navigation(slot, pages, query: dict[str, str]) -> None:
    """The page links, each carrying the whole view in its URL. (Streamlit's own menu drops
    the query on a page switch; writing it back afterwards would cost a second browser
    history entry per page, so Back would need two presses.)"""
    with slot.container():
        for page in pages:
            st.page_link(page, label=page.title, icon=page.icon, query_params=query)
        st.divider()


def setup_context(page_needs_image: bool) -> Context:
    """Draw the shared sidebar and return what the page needs; stored for the page."""
    ctx = Context()
    st.session_state[CTX_KEY] = ctx
    ctx.present = st.sidebar.toggle("Presentation mode", key=state.bind("present"),
                                    help="Large fonts, no captions or toolbars; for talks.")
    style.apply(ctx.present)
    pack_picker(ctx)
    if page_needs_image and ctx.pack is not None:
        image_picker(ctx)
    return ctx


def pack_picker(ctx: Context) -> None:
    """Sidebar: the pack (from checkpoints/, $SC_VIZ_PACKS and a typed folder)."""
    typed = st.sidebar.text_input("Another pack folder", key=state.bind("pack_folder"),
                                  placeholder="/path/to/packs or a pack", help=(
                                      "A folder holding pack folders (each with manifest.json), "
                                      "or one pack folder."))
    ctx.packs = catalog.discover_packs(catalog.pack_roots(REPO, typed))
    if typed and not catalog.holds_packs(typed, ctx.packs):
        st.sidebar.warning(f"No pack (folder with {MANIFEST}) under {typed}")
    if not ctx.packs:
        ctx.pack_error = ("No packs found. Train one (`sc-viz train ...`) into checkpoints/, "
                          "set SC_VIZ_PACKS, or type a folder in the sidebar.")
        return
    labels = catalog.pack_labels(ctx.packs)
    default = catalog.default_pack(ctx.packs)
    fallback = next(label for label, path in labels.items() if path == default)
    chosen = st.sidebar.selectbox("Pack", list(labels), key=state.bind("pack", labels, fallback, "pack"))
    ctx.pack, ctx.pack_error = get_pack(labels[chosen])
    if ctx.pack is not None and not ctx.pack.models:
        ctx.pack_error = (f"{ctx.pack.name}: no variant could be loaded; "
                          + "; ".join(ctx.pack.errors.values()))
        ctx.pack = None


def image_picker(ctx: Context) -> None:
    """Sidebar: a gallery test image picked by class, or an uploaded image."""
    split, ctx.gallery_error = get_gallery(ctx.pack)
    sources = [GALLERY, UPLOAD] if split is not None else [UPLOAD]
    source = st.sidebar.radio("Image", sources, key=state.bind("img_source", sources, what="image source"),
                              horizontal=True)
    if split is None:
        st.sidebar.info(f"Gallery unavailable: {ctx.gallery_error}")
    if source == GALLERY:
        _gallery_image(ctx, split)
    else:
        _uploaded_image(ctx)
    if ctx.image is not None:
        st.sidebar.image(ctx.image.pil.resize((128, 128), Image.NEAREST)
                         if max(ctx.image.pil.size) < 128 else ctx.image.pil,
                         caption=ctx.image.caption, width=128)


def _gallery_image(ctx: Context, split) -> None:
    classes = ctx.pack.classes
    index = state.value("img_index")
    valid = isinstance(index, int) and 0 <= index < len(split)
    if valid and int(split.labels[index]) != state.value("img_class") and not state.changed("img_class"):
        state.set_value("img_class", int(split.labels[index]))  # the class follows a linked image
    label = st.sidebar.selectbox("Class", range(len(classes)),
                                 key=state.bind("img_class", range(len(classes))),
                                 format_func=lambda i: classes[i] if i < len(classes) else str(i))
    options = gallery.class_indices(split, label)
    if valid and int(split.labels[index]) == label and index not in options:
        options.append(index)
    if not options:
        ctx.image_error = f"The test set has no images of class {classes[label]!r}."
        return
    index = st.sidebar.selectbox("Example", options,
                                 key=state.bind("img_index", options, what="test image"),
                                 format_func=lambda i: f"#{options.index(i) + 1} (test image {i})")
    pil, x, y = gallery.image_at(split, index)
    ctx.image = ChosenImage(f"test:{index}", pil, x, y, f"test image {index}: {classes[y]}", index)


def _upload_changed() -> None:
    if st.session_state.get(UPLOAD_KEY) is None:  # the user removed the file
        state.forget_upload()


def _uploaded_image(ctx: Context) -> None:
    up = st.sidebar.file_uploader(
        f"Your image (PNG, JPEG, WebP, BMP or GIF; up to {MAX_BYTES // 2**20} MB)", key=UPLOAD_KEY,
        on_change=_upload_changed)
    if up is not None:
        state.keep_upload(up.name, up.getvalue())
    kept = state.kept_upload()  # also while the uploader is empty after Gallery -> Upload
    if kept is None:
        ctx.image_error = "Upload an image in the sidebar (or pick one from the gallery)."
        return
    name, data = kept
    if up is None:
        st.sidebar.caption(f"Showing your last upload, {name}.")
    ctx.image, ctx.image_error = decode_upload(data, name, ctx.pack.input_size)


def decode_upload(data: bytes, name: str, input_size: int
                  ) -> tuple[Optional[ChosenImage], Optional[str]]:
    """Uploaded bytes -> (ChosenImage, None) or (None, one-line message)."""
    try:
        pil, x = load_input(data, input_size)
    except ImageError as err:
        return None, f"{name}: {err}"
    sha = hashlib.sha256(data).hexdigest()[:16]
    return ChosenImage(f"upload:{sha}", pil, x, None, f"uploaded: {name}"), None


def require_pack(ctx: Context) -> Pack:
    if ctx.pack is None:
        st.error(ctx.pack_error or "No pack is loaded; choose one in the sidebar.")
        st.stop()
    return ctx.pack


def require_image(ctx: Context) -> ChosenImage:
    """The chosen image, or a one-line message and the page stops (the view is kept)."""
    require_pack(ctx)
    if ctx.image is None:
        (st.error if ctx.image_error and ":" in ctx.image_error else st.info)(
            ctx.image_error or "Choose an image in the sidebar.")
        st.stop()
    return ctx.image


def variant_picker(pack: Pack, label: str = "Variants") -> list[str]:
    """Multiselect of the pack's loaded variants (default all), in the pack's order."""
    available = list(pack.models)
    chosen = st.multiselect(label, available, key=state.bind("variants", available, available, "variant"))
    return [v for v in available if v in chosen]
