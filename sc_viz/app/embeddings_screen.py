"""The Embeddings page's pieces on screen: the cached projections (with the pack's test
images of x's class, or with the user's own set), the user's same-class set (a folder or
several files: its widget, its cache, the one-line messages), the class picker of an
upload, and the plots side by side with the thumbnails of clicked points.

Apart from `embeddings_view` because these draw with Streamlit and cache through it, while
`embeddings_view` only computes and is tested with no Streamlit run. The page keeps its
other widgets and passes their values in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Optional

import streamlit as st
from PIL import Image
from threadpoolctl import threadpool_limits

from sc_viz import embed
from sc_viz.app import deck_view, loaders, state, style
from sc_viz.app import embeddings_view as ev
from sc_viz.app.gallery import to_pil
from sc_viz.app.maps import class_label
from sc_viz.app.single_image import top_k
from sc_viz.figures import embedding_figure, selected_rows
from sc_viz.images import MAX_BYTES

FILES_KEY = "same_files"  # the uploader of same-class files
KEPT_FILES = "_sc_same_files"  # [(name, bytes)] of the last same-class upload (kept across pages)


# ---------------------------------------------------------------- the cached projections
@st.cache_data(max_entries=16, show_spinner="Projecting...")
def embedding_of_set(
    pack_key, image_key, variants, set_key, count, level, method, joint, _models, _x, _images, x_index
):
    """The embedding with the user's same-class images (`set_key` identifies them)."""
    with threadpool_limits(limits=1):
        return embed.embed(
            {v: _models[v] for v in variants},
            _x,
            _images[:count],  # (M, 3, S, S) -> the first `count` of the set
            level=level,
            method=method,
            joint=joint,
            x_index=x_index if x_index is not None else -1,
        )


def embedding_for(
    pack,
    image,
    variants: Sequence[str],
    label: Optional[int],
    split: Any,
    same: Optional[ev.SameClassSet],
    *,
    count: int,
    level: int,
    method: str,
    joint: bool,
) -> embed.Embedding:
    """The cached embedding of x, its perturbations at `level` and `count` same-class
    images: the test split's of class `label` when `same` is None, else the user's set;
    a warning and the page stops when there are too few points for t-SNE/UMAP."""
    try:
        if same is None:  # the test set's: from the prepared deck when it holds it
            fetch = deck_view.fetcher(pack, image, {"embeddings.projection": "Projecting..."})
            return ev.projection_of(
                pack,
                image.x,
                int(label),
                variants,
                split,
                image.index,
                count=count,
                level=level,
                method=method,
                joint=joint,
                fetch=fetch,
            )
        return embedding_of_set(
            loaders.pack_key(pack),
            image.key,
            tuple(variants),
            same.key,
            count,
            level,
            method,
            joint,
            pack.models,
            image.x,
            same.images,
            image.index,
        )
    except ValueError as err:  # too few same-class points for t-SNE/UMAP
        st.warning(str(err))
        st.stop()


# ---------------------------------------------------------------- the user's same-class set
@st.cache_data(max_entries=4, ttl=60, show_spinner="Reading the folder...")
def folder_set(folder, stamp, input_size, preprocessing_json):
    """The folder's images as the pack's inputs; cached until its files change."""
    return ev.images_from_folder(folder, input_size, json.loads(preprocessing_json))


@st.cache_data(max_entries=4, show_spinner="Reading your files...")
def files_set(files_key, input_size, preprocessing_json, _files):
    return ev.images_from_files(_files, input_size, json.loads(preprocessing_json))


def _files_changed() -> None:
    if not st.session_state.get(FILES_KEY):  # the user removed every file
        st.session_state.pop(KEPT_FILES, None)


def user_same_class_set(source, pack):
    """(the same-class set from the user's folder or files, where it is from), or a one-line
    message and the page stops."""
    prep = json.dumps(pack.manifest.get("preprocessing"), sort_keys=True)
    if source == ev.FOLDER:
        folder = st.text_input(
            "Folder of images of your image's class",
            key=state.bind("same_folder"),
            placeholder="/path/to/images/of/one/class",
            help="Every image file in the folder (not its sub-folders) is taken as x's class, "
            f"up to {ev.MAX_SAME_CLASS}; other files are skipped.",
        )
        if not folder or not folder.strip():
            st.info("Type the path of a folder holding images of your image's class.")
            st.stop()
        try:
            found = folder_set(folder.strip(), ev.folder_stamp(folder), pack.input_size, prep)
        except ev.SameClassError as err:
            st.error(str(err))
            st.stop()
        return found, folder.strip()
    ups = st.file_uploader(
        f"Images of your image's class (up to {ev.MAX_SAME_CLASS}, {MAX_BYTES // 2**20} MB each)",
        accept_multiple_files=True,
        key=FILES_KEY,
        on_change=_files_changed,
    )
    if ups:
        st.session_state[KEPT_FILES] = [(u.name, u.getvalue()) for u in ups]
    files = st.session_state.get(KEPT_FILES)
    if not files:
        st.info("Upload several images of your image's class (select them all at once).")
        st.stop()
    files_key = ev.files_key(files)
    try:
        found = files_set(files_key, pack.input_size, prep, files)
    except ev.SameClassError as err:
        st.error(str(err))
        st.stop()
    return found, "your files"


def upload_class(pack, image, variants: Sequence[str]) -> int:
    """The class an upload is compared with: the one the first variant predicts (set anew
    for each upload), or the one chosen."""
    if state.new_for("upload_class", image.key):
        guess = top_k(pack.models[variants[0] if variants else next(iter(pack.models))], image.x)[0][0]
        state.set_value("upload_class", guess)
    classes = range(len(pack.classes))
    return st.selectbox(
        "Class of your image",
        classes,
        format_func=lambda i: class_label(pack.classes, i),
        key=state.bind("upload_class", classes, what="class"),
        help="Type to search the class names.",
    )


# ---------------------------------------------------------------- the plots
def plots(
    ctx,
    emb: embed.Embedding,
    variants: Sequence[str],
    shown: set,
    x,
    split: Any,
    same: Optional[ev.SameClassSet],
) -> None:
    """One plot per variant side by side (rows of them in presentation mode), then the
    thumbnails of the points clicked in any of them. x: the image (1, 3, S, S); shown: the
    perturbations plotted."""
    per_row = len(variants) if not ctx.present else style.per_row(len(variants), True)
    cols = [c for start in range(0, len(variants), per_row) for c in st.columns(per_row)][: len(variants)]
    picked = []
    for col, v in zip(cols, variants):
        fig = embedding_figure(emb, variants=[v], shown=shown)  # a joint projection: shared ranges
        fig.update_layout(width=None, height=420)  # the column sets the width
        event = col.plotly_chart(
            style.scale_fonts(fig, ctx.present), key=f"emb-{v}", on_select="rerun", selection_mode="points"
        )
        picked += selected_rows(event.selection)
    if picked:  # thumbnails of the clicked points
        thumbs = st.columns(min(len(picked), 8))
        for col, row in zip(thumbs, dict.fromkeys(picked)):
            pic = ev.point_picture(emb, row, x, split, same)  # (3, S, S)
            if pic is not None:
                caption = ev.point_caption(emb, row, same) or embed.point_label(emb, row)
                col.image(to_pil(pic).resize((128, 128), Image.NEAREST), caption=caption, width=128)
