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
from sc_viz.app.saliency_view import class_label
from sc_viz.app.views import GALLERY, UPLOAD
from sc_viz.images import MAX_BYTES, ImageError, load_input
from sc_viz.packs import MANIFEST, Pack

REPO = Path(__file__).resolve().parents[2]
CTX_KEY = "_sc_ctx"
OPTIONS_KEY = "_sc_img_options"  # the examples the Example picker offers (for step_image)
THUMBS, THUMB_COLUMNS = 8, 4  # example thumbnails in the sidebar
UPLOAD_KEY = "upload"  # the file uploader's key (its file is kept by state, not the widget)
OPENED_KEY = "_sc_opened_packs"  # {path as a link's pack= gave it: pack folder}


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
    ctx.present = st.sidebar.toggle(
        "Presentation mode",
        key=state.bind("present"),
        help="Large fonts, no captions or toolbars; for talks.",
    )
    style.apply(ctx.present)
    pack_picker(ctx)
    if page_needs_image and ctx.pack is not None:
        image_picker(ctx)
    return ctx


def pack_picker(ctx: Context) -> None:
    """Sidebar: the pack (from checkpoints/, $SC_VIZ_PACKS and a typed folder)."""
    typed = st.sidebar.text_input(
        "Another pack folder",
        key=state.bind("pack_folder"),
        placeholder="/path/to/packs or a pack",
        help=("A folder holding pack folders (each with manifest.json), or one pack folder."),
    )
    # A link's `pack=` may be a pack folder's path; the session keeps it among the packs.
    opened = st.session_state.setdefault(OPENED_KEY, {})
    wanted = state.value("pack")
    folder = catalog.linked_pack_folder(wanted)
    if folder is not None:
        opened[wanted] = folder
    ctx.packs = catalog.discover_packs(catalog.pack_roots(REPO, typed) + list(opened.values()))
    if typed and not catalog.holds_packs(typed, ctx.packs):
        st.sidebar.warning(f"No pack (folder with {MANIFEST}) under {typed}")
    if not ctx.packs:
        ctx.pack_error = (
            "No packs found. Train one (`sc-viz train ...`) into checkpoints/, "
            "set SC_VIZ_PACKS, or type a folder in the sidebar."
        )
        return
    labels = catalog.pack_labels(ctx.packs, opened)
    default = catalog.default_pack(ctx.packs)
    fallback = next(label for label, path in labels.items() if path == default)
    chosen = st.sidebar.selectbox("Pack", list(labels), key=state.bind("pack", labels, fallback, "pack"))
    ctx.pack, ctx.pack_error = get_pack(labels[chosen])
    if ctx.pack is not None and not ctx.pack.models:
        ctx.pack_error = f"{ctx.pack.name}: no variant could be loaded; " + "; ".join(
            ctx.pack.errors.values()
        )
        ctx.pack = None


def image_picker(ctx: Context) -> None:
    """Sidebar: a gallery test image picked by class, or an uploaded image."""
    split, ctx.gallery_error = get_gallery(ctx.pack)
    sources = [GALLERY, UPLOAD] if split is not None else [UPLOAD]
    source = st.sidebar.radio(
        "Image", sources, key=state.bind("img_source", sources, what="image source"), horizontal=True
    )
    if split is None:
        st.sidebar.info(f"Gallery unavailable: {ctx.gallery_error}")
    options = []
    if source == GALLERY:
        options = _gallery_image(ctx, split)
    else:
        _uploaded_image(ctx)
    if ctx.image is not None:
        st.sidebar.image(
            ctx.image.pil.resize((128, 128), Image.NEAREST)
            if max(ctx.image.pil.size) < 128
            else ctx.image.pil,
            caption=ctx.image.caption,
            width=128,
        )
    if ctx.image is not None and options:
        _thumbnails(split, options, ctx.image.index)


def _gallery_image(ctx: Context, split) -> list[int]:
    """The class and example pickers; returns the examples offered (test indices)."""
    classes = ctx.pack.classes
    index = state.value("img_index")
    valid = isinstance(index, int) and 0 <= index < len(split)
    if valid and int(split.labels[index]) != state.value("img_class") and not state.changed("img_class"):
        state.set_value("img_class", int(split.labels[index]))  # the class follows a linked image
    label = st.sidebar.selectbox(
        "Image class",
        range(len(classes)),
        key=state.bind("img_class", range(len(classes))),
        format_func=lambda i: class_label(classes, i),
    )
    options = gallery.class_indices(split, label)
    if valid and int(split.labels[index]) == label and index not in options:
        options.append(index)
    if not options:
        ctx.image_error = f"The test set has no images of class {classes[label]!r}."
        return []
    index = st.sidebar.selectbox(
        "Example",
        options,
        key=state.bind("img_index", options, what="test image"),
        format_func=lambda i: f"test image {int(i)}",
    )
    st.session_state[OPTIONS_KEY] = list(options)
    pil, x, y = gallery.image_at(split, index)
    ctx.image = ChosenImage(f"test:{index}", pil, x, y, f"test image {index}: {classes[y]}", index)
    return options


def _pick_image(index: int) -> None:
    """Button callback: show test image `index` (set as if the Example picker chose it;
    state.begin takes it in as the user's change)."""
    st.session_state["img_index"] = index


def step_image(delta: int) -> None:
    """Button callback: the previous (-1) or next (+1) example of the chosen class."""
    options = st.session_state.get(OPTIONS_KEY) or []
    current = state.value("img_index")
    if options:
        at = options.index(current) if current in options else 0
        _pick_image(options[(at + delta) % len(options)])


def _thumbnails(split, options: list[int], current: Optional[int]) -> None:
    """Thumbnails of the examples next to the chosen one, each with a button that shows it."""
    at = options.index(current) if current in options else 0
    start = max(0, min(at - THUMBS // 2, len(options) - THUMBS))
    cols = st.sidebar.columns(THUMB_COLUMNS, gap="small")
    for n, index in enumerate(options[start : start + THUMBS]):
        with cols[n % THUMB_COLUMNS]:
            st.image(gallery.to_pil(split.get(index)).resize((64, 64), Image.NEAREST), width=56)
            st.button(
                str(index),
                key=f"thumb-{index}",
                on_click=_pick_image,
                args=(index,),
                type="tertiary",
                disabled=index == current,
                help=f"Show test image {index}",
            )


def _upload_changed() -> None:
    if st.session_state.get(UPLOAD_KEY) is None:  # the user removed the file
        state.forget_upload()


def _uploaded_image(ctx: Context) -> None:
    up = st.sidebar.file_uploader(
        f"Your image (PNG, JPEG, WebP, BMP or GIF; up to {MAX_BYTES // 2**20} MB)",
        key=UPLOAD_KEY,
        on_change=_upload_changed,
    )
    if up is not None:
        state.keep_upload(up.name, up.getvalue())
    kept = state.kept_upload()  # also while the uploader is empty after Gallery -> Upload
    if kept is None:
        ctx.image_error = "Upload an image in the sidebar (or pick one from the gallery)."
        return
    name, data = kept
    if up is None:
        st.sidebar.caption(f"Showing your last upload, {name}.")
    ctx.image, ctx.image_error = decode_upload(
        data, name, ctx.pack.input_size, ctx.pack.manifest.get("preprocessing")
    )


def decode_upload(
    data: bytes, name: str, input_size: int, preprocessing: Optional[dict] = None
) -> tuple[Optional[ChosenImage], Optional[str]]:
    """Uploaded bytes -> (ChosenImage, None) or (None, one-line message); resized and
    cropped by the pack's `preprocessing` (an imported architecture's own), else ours."""
    try:
        pil, x = load_input(data, input_size, preprocessing)
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
            ctx.image_error or "Choose an image in the sidebar."
        )
        st.stop()
    return ctx.image


def variant_picker(pack: Pack, label: str = "Variants") -> list[str]:
    """Multiselect of the pack's loaded variants in the pack's order; by default the paper's
    four (the registry's "paper" group) when the pack has them, else all (an imported
    pack's names are the user's, e.g. "standard" and "robust": all of them)."""
    from sc_viz.training.variants import VARIANTS

    available = list(pack.models)
    imported = pack.manifest.get("source") == "import"
    paper = [v for v in available if v in VARIANTS and VARIANTS[v].group == "paper" and not imported]
    chosen = st.multiselect(
        label, available, key=state.bind("variants", available, paper or available, "variant")
    )
    return [v for v in available if v in chosen]


def _leave_presentation() -> None:
    st.session_state["present"] = False


def controls(ctx: Context, label: str = "Options"):
    """Where a page draws its settings: an expander in normal mode; in presentation mode
    (sidebar collapsed) a compact bar at the top of the page, with previous/next image
    buttons (keys P and N) and a way out of the mode, so a speaker never needs the sidebar."""
    if not ctx.present:
        return st.expander(label, expanded=True)
    bar = st.container(border=True)
    b1, b2, b3, _ = bar.columns([1, 1, 1, 4])
    gallery_image = ctx.image is not None and ctx.image.index is not None
    b1.button(
        "Previous",
        key="present-prev",
        icon=":material/arrow_back:",
        shortcut="P",
        help="Previous image of this class (key P)",
        on_click=step_image,
        args=(-1,),
        disabled=not gallery_image,
    )
    b2.button(
        "Next",
        key="present-next",
        icon=":material/arrow_forward:",
        shortcut="N",
        help="Next image of this class (key N)",
        on_click=step_image,
        args=(1,),
        disabled=not gallery_image,
    )
    b3.button(
        "Exit",
        key="present-exit",
        icon=":material/close_fullscreen:",
        on_click=_leave_presentation,
        help="Leave presentation mode",
    )
    return bar
