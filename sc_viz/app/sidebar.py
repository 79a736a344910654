"""The sidebar every page shares (drawn by app.py): presentation mode, the pack, the image
(a gallery test image picked by class, or an upload), and the variants picker the pages
draw. Every widget's value goes through sc_viz.app.state, so it survives page switches,
early-stopping runs and links."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import streamlit as st
import torch
from PIL import Image

from sc_viz.app import catalog, deck_view, gallery, loaders, present, robustness_view, state, style, views
from sc_viz.app.loaders import get_pack
from sc_viz.app.maps import class_label
from sc_viz.app.views import GALLERY, UPLOAD
from sc_viz.images import MAX_BYTES, ImageError, load_input
from sc_viz.packs import MANIFEST, Pack

REPO = Path(__file__).resolve().parents[2]
CTX_KEY = "_sc_ctx"
OPTIONS_KEY = "_sc_img_options"  # the examples the Example picker offers (for step_image)
THUMBS, THUMB_COLUMNS = 8, 4  # example thumbnails in the sidebar
UPLOAD_KEY = "upload"  # the file uploader's key (its file is kept by state, not the widget)
OPENED_KEY = "_sc_opened_packs"  # {path as a link's pack= gave it: pack folder}
STORY_PAGES = ("Robustness",)  # pages whose gallery starts from the report's story images
STORY_OFFERED = 8  # story images listed first in the Example picker (the thumbnails' count)
STORY_MARK = " ★"  # after a story image's name in the Example picker
PAGES_KEY = "_sc_pages"  # the app's pages (sidebar.navigation), for the presentation bar's links
BAR_HIDDEN = "_sc_bar_hidden"  # presentation mode: the thin bar folded away


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
    # the stored report's story images (robustness_view.StoryImages) on a page that starts
    # from them (STORY_PAGES), else None
    story: Optional[robustness_view.StoryImages] = None
    # presentation mode: the thin bar's page links (redrawn with the whole view after the
    # page) and the place of the page's settings (a popover in the bar)
    bar_links: object = None
    settings: object = None
    settings_slot: object = None
    menu: object = None  # the sidebar menu's slot of the run that drew the bar


def context() -> Context:
    return st.session_state.get(CTX_KEY) or Context()


def navigation(slot, pages, query: dict[str, str]) -> None:
    """The page links, each carrying the whole view in its URL. (Streamlit's own menu drops
    the query on a page switch; writing it back afterwards would cost a second browser
    history entry per page, so Back would need two presses.)"""
    st.session_state[PAGES_KEY] = (pages, slot)
    with slot.container():
        for page in pages:
            st.page_link(page, label=page.title, icon=page.icon, query_params=query)
        st.divider()
    ctx = context()
    if ctx.bar_links is not None and ctx.menu is slot:  # this run's thin bar: the same links
        with ctx.bar_links.container(horizontal=True, gap=None):
            for page in pages:
                st.page_link(page, label=page.title, query_params=query)


def setup_context(page_needs_image: bool, page: str = "") -> Context:
    """Draw the shared sidebar and return what the page needs; stored for the page.
    `page`: the page's title (a page of STORY_PAGES gets its own gallery defaults)."""
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
        image_picker(ctx, story=page in STORY_PAGES)
    deck_view.sidebar_group(page, ctx.pack, ctx.image)
    if ctx.present:
        presentation_bar(ctx)
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


def await_gallery(pack: Pack):
    """(test split, None) or (None, why), as loaders.get_gallery, for the first call of a
    run: while the test images load (decoded into the cache on a first visit) the page
    shows the progress, "Decoding 10,000 test images: 40%", for GALLERY_WAIT_S at most;
    then, or when loading failed, a message with a button that tries again. A rerun (the
    user moving on) ends the wait at the next update; the load itself goes on."""
    job = loaders.gallery_job(pack)
    if not job.done.wait(loaders.QUIET_WAIT_S):
        slot = st.empty()
        deadline = time.monotonic() + loaders.GALLERY_WAIT_S
        while not job.done.wait(0.25) and time.monotonic() < deadline:
            slot.progress(job.fraction(), text=job.status())
        slot.empty()
    split, why = job.outcome()
    if not job.done.is_set():
        st.warning(f"Gallery: {why}. Upload an image meanwhile, or check again.", icon=":material/hourglass:")
        st.button("Check again", key="gallery-retry", icon=":material/refresh:")
    elif split is None and job.retry:
        st.error(f"Gallery: {why}", icon=":material/error:")
        st.button(
            "Retry",
            key="gallery-retry",
            icon=":material/refresh:",
            on_click=loaders.gallery_jobs().forget,
            args=(job,),
        )
    return split, why


@st.cache_data(max_entries=8, show_spinner=False, ttl=60)
def _story_images(key: str, _pack: Pack, _labels: torch.Tensor) -> Optional[robustness_view.StoryImages]:
    return robustness_view.story_images(loaders.get_stored_report(_pack), _labels.tolist())


def story_images(pack: Pack, split) -> Optional[robustness_view.StoryImages]:
    """The stored report's story images of the pack's test split (cached per pack)."""
    return _story_images(loaders.pack_key(pack), pack, split.labels)


def image_picker(ctx: Context, story: bool = False) -> None:
    """Sidebar: a gallery test image picked by class, or an uploaded image. With `story`,
    the gallery starts from the stored report's story images (robustness_view.StoryImages):
    listed first in the Example picker (marked STORY_MARK) and the default of each class."""
    split, ctx.gallery_error = await_gallery(ctx.pack)
    if story and split is not None:
        ctx.story = story_images(ctx.pack, split)
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
    preferred = ctx.story.by_class.get(label, [])[:STORY_OFFERED] if ctx.story else []
    options = preferred + [i for i in options if i not in preferred]
    if valid and int(split.labels[index]) == label and index not in options:
        options.append(index)
    if not options:
        ctx.image_error = f"The test set has no images of class {classes[label]!r}."
        return []
    marked = set(preferred)
    index = st.sidebar.selectbox(
        "Example",
        options,
        key=state.bind("img_index", options, preferred[0] if preferred else None, what="test image"),
        format_func=lambda i: f"test image {int(i)}" + (STORY_MARK if i in marked else ""),
    )
    st.session_state[OPTIONS_KEY] = list(options)
    pil, x, y = gallery.image_at(split, index)
    ctx.image = ChosenImage(f"test:{index}", pil, x, y, f"test image {index}: {classes[y]}", index)
    return options


def _pick_image(index: int) -> None:
    """Button callback: show test image `index` (set as if the Example picker chose it;
    state.begin takes it in as the user's change)."""
    st.session_state["img_index"] = index
    state.mark_set_in_callback()


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

    available = list(pack.models)
    chosen = st.multiselect(
        label, available, key=state.bind("variants", available, views.default_variants(pack), "variant")
    )
    return [v for v in available if v in chosen]


def takeaway(ctx: Context, line: Optional[str]) -> None:
    """A page's one-line takeaway (sc_viz.app.takeaways): plain Markdown, or in
    presentation mode one large line that never wraps (present.takeaway_html)."""
    if not line:
        return
    if ctx.present:
        st.html(present.takeaway_html(line))
    else:
        st.markdown(line)


def figure(ctx: Context, fig, key: str, where=None, **kwargs):
    """A page's plotly figure: as it is in normal mode; in presentation mode with large
    fonts and one screen tall, whatever the screen (present.FIGURE_CSS). Returns what
    st.plotly_chart returns (a selection event where `on_select` is given)."""
    where = where or st
    if not ctx.present:
        return where.plotly_chart(fig, key=key, **kwargs)
    fig = style.scale_fonts(fig, True)
    fig.update_layout(height=None, autosize=True)
    with where.container(key=f"{present.FIGURE_KEY}-{key}"):
        st.html(present.FIGURE_CSS)
        return st.plotly_chart(fig, key=key, config={"responsive": True}, **kwargs)


def page_controls(ctx: Context):
    """Where a page's pickers go: the page itself in normal mode, the thin bar's Settings
    popover in presentation mode (the screen is for the figure)."""
    return controls(ctx) if ctx.present else st.container()


def _leave_presentation() -> None:
    st.session_state["present"] = False


def controls(ctx: Context, label: str = "Options"):
    """Where a page draws its settings: an expander in normal mode; in presentation mode
    (sidebar collapsed) a "Settings" popover in the thin bar at the top of the page
    (presentation_bar), so a speaker never needs the sidebar and the figure keeps the
    screen."""
    if not ctx.present:
        return st.expander(label, expanded=True)
    if ctx.settings_slot is None:  # a page drawn without the bar (not through setup_context)
        presentation_bar(ctx)
    if ctx.settings is None:
        ctx.settings = ctx.settings_slot.popover("Settings", icon=":material/tune:")
    return ctx.settings


def _toggle_bar() -> None:
    st.session_state[BAR_HIDDEN] = not st.session_state.get(BAR_HIDDEN, False)


def presentation_bar(ctx: Context) -> None:
    """Presentation mode's one thin bar, on every page: the page links (carrying the whole
    view, so the mode stays on across pages), Previous and Next image (keys P and N), the
    image's name, the page's Settings (a popover), a button that folds the bar away (key
    B brings it back) and Exit. Folded, only a small button is left; P and N still work."""
    st.html(present.BAR_CSS)
    hidden = st.session_state.get(BAR_HIDDEN, False)
    pages, ctx.menu = st.session_state.get(PAGES_KEY, ([], None))
    bar = st.container(key=present.BAR_KEY, horizontal=True, vertical_alignment="center", gap="small")
    if hidden:
        bar.button(
            "Controls",
            key="bar-show",
            icon=":material/expand_more:",
            type="tertiary",
            shortcut="B",
            on_click=_toggle_bar,
            help="Show the controls (key B)",
        )
    else:
        ctx.bar_links = bar.empty()
    # Out of sight (CSS): the steps with the bar folded (P and N still work) or on a page
    # without an image (Models) and no deck, and Exit with the bar folded. With a deck,
    # P and N step through its slides instead of the class's images.
    slides = deck_view.slide_count()
    keys = st.container(key="present-keys") if hidden or (ctx.image is None and not slides) else None
    steps = keys or bar
    gallery_image = ctx.image is not None and ctx.image.index is not None
    what = "slide of the deck" if slides else "image of this class"
    for label, key, icon, shortcut, delta in (
        ("Previous", "present-prev", ":material/arrow_back:", "P", -1),
        ("Next", "present-next", ":material/arrow_forward:", "N", 1),
    ):
        steps.button(
            label,
            key=key,
            icon=icon,
            shortcut=shortcut,
            help=f"{label} {what} (key {shortcut})",
            on_click=deck_view.step_slide if slides else step_image,
            args=(delta,),
            disabled=not (slides or gallery_image),
        )
    ctx.settings_slot = bar.empty() if not hidden else st.container(key="present-settings-hidden")
    if not hidden:
        if slides:
            bar.markdown(f"**{deck_view.slide_label()}**")
        if ctx.image is not None:
            bar.markdown(f"**{ctx.image.caption}**")
        bar.button(
            "Hide",
            key="bar-hide",
            icon=":material/expand_less:",
            type="tertiary",
            shortcut="B",
            on_click=_toggle_bar,
            help="Fold the bar away (key B shows it again)",
        )
    (keys if hidden else bar).button(
        "Exit",
        key="present-exit",
        icon=":material/close_fullscreen:",
        on_click=_leave_presentation,
        help="Leave presentation mode",
    )
    if hidden:  # the page's settings keep their values, out of sight
        ctx.settings = ctx.settings_slot
