"""Embeddings: PCA / t-SNE / UMAP of the image, its four perturbations and same-class
images (from the pack's test set, or a folder or files of the user's when the data set is
not on this machine), one plot per variant side by side, with each variant's continuity
violations."""

import json

import streamlit as st
from PIL import Image
from threadpoolctl import threadpool_limits

from sc_viz import embed
from sc_viz.app import embeddings_view as ev
from sc_viz.app import export, loaders, sidebar, state, style, takeaways
from sc_viz.app.gallery import to_pil
from sc_viz.app.saliency_view import class_label
from sc_viz.app.single_image import top_k
from sc_viz.app.views import PROJECTIONS
from sc_viz.figures import embedding_figure, embedding_png, selected_rows
from sc_viz.images import MAX_BYTES
from sc_viz.perturb import LEVELS

FILES_KEY = "same_files"  # the uploader of same-class files
KEPT_FILES = "_sc_same_files"  # [(name, bytes)] of the last same-class upload (kept across pages)


@st.cache_data(max_entries=16, show_spinner="Projecting...")
def embedding(
    pack_key, image_key, variants, label, count, level, method, joint, _models, _x, _split, exclude
):
    images, indices = embed.same_class_set(_split, label, count=count, exclude=exclude)
    # One OpenMP thread: a few hundred points need no more, and scikit-learn's t-SNE threads
    # were seen to stall for minutes on a loaded 2-core machine (2 s with one thread).
    with threadpool_limits(limits=1):
        return embed.embed(
            {v: _models[v] for v in variants},
            _x,
            images,
            level=level,
            method=method,
            joint=joint,
            same_class_indices=indices,
            x_index=exclude if exclude is not None else -1,
        )


@st.cache_data(max_entries=16, show_spinner="Projecting...")
def embedding_of_set(
    pack_key, image_key, variants, set_key, count, level, method, joint, _models, _x, _images, x_index
):
    """The embedding with the user's same-class images (`set_key` identifies them)."""
    with threadpool_limits(limits=1):
        return embed.embed(
            {v: _models[v] for v in variants},
            _x,
            _images[:count],
            level=level,
            method=method,
            joint=joint,
            x_index=x_index if x_index is not None else -1,
        )


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


ctx = sidebar.context()
pack = sidebar.require_pack(ctx)
image = sidebar.require_image(ctx)
st.title("Embeddings")
split, why = loaders.get_gallery(pack)
with sidebar.page_controls(ctx):
    variants = sidebar.variant_picker(pack)
sources = ([ev.TEST_SET] if split is not None else []) + [ev.FOLDER, ev.FILES]
source = st.radio(
    "Same-class images from",
    sources,
    format_func=ev.SOURCE_NAMES.get,
    horizontal=True,
    key=state.bind("same_source", sources, what="same-class source"),
)
if split is None:
    st.warning(
        "This pack's test set is not on this machine, so the same-class images are yours: "
        "a folder of images of your image's class, or several files.",
        icon=":material/folder_open:",
    )
same, same_from = user_same_class_set(source, pack) if source != ev.TEST_SET else (None, None)
controls = sidebar.controls(ctx) if ctx.present else st.container()
c1, c2, c3, c4 = controls.columns(4)
method = c1.radio(
    "Projection",
    list(PROJECTIONS),
    format_func=PROJECTIONS.get,
    horizontal=True,
    key=state.bind("projection", list(PROJECTIONS), what="projection"),
)
level = c2.select_slider("Level", [1, 2, 3, 4], key=state.bind("level", [1, 2, 3, 4]))
count = c3.slider("Same-class images", 5, 500, step=5, key=state.bind("same_count"))
joint = c4.toggle(
    "Shared axes",
    key=state.bind("joint"),
    help="One projection fitted on every variant's logits, so the plots share axes.",
)
shown = set(
    controls.pills(
        "Perturbations",
        list(LEVELS),
        selection_mode="multi",
        key=state.bind("shown_perturbations", list(LEVELS), what="perturbation"),
    )
    or []
)
label = image.label
if (
    label is None and same is None
):  # an upload: compare with the class the first variant predicts, or a chosen one
    if state.new_for("upload_class", image.key):
        guess = top_k(pack.models[variants[0] if variants else next(iter(pack.models))], image.x)[0][0]
        state.set_value("upload_class", guess)
    classes = range(len(pack.classes))
    label = st.selectbox(
        "Class of your image",
        classes,
        format_func=lambda i: class_label(pack.classes, i),
        key=state.bind("upload_class", classes, what="class"),
        help="Type to search the class names.",
    )
if not variants:
    st.info("Choose at least one variant.")
    st.stop()

try:
    if same is None:
        emb = embedding(
            loaders.pack_key(pack),
            image.key,
            tuple(variants),
            int(label),
            count,
            level,
            method,
            joint,
            pack.models,
            image.x,
            split,
            image.index,
        )
    else:
        emb = embedding_of_set(
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
sidebar.takeaway(
    ctx,
    takeaways.embeddings_takeaway(
        {v: emb.violations[v] for v in variants}, emb.kinds.count(ev.SAME_CLASS_KIND), level
    ),
)

if same is not None and not ctx.present:
    st.caption(same.note(same_from, count))
if not ctx.present:
    st.caption(
        "Hover a point for what it is and its distance to x; click one to see its image. "
        + (
            "Shared axes: every plot shows the same ranges."
            if joint
            else "Each plot has its own projection: compare shapes, not coordinates."
        )
    )
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
        pic = ev.point_picture(emb, row, image.x, split, same)
        if pic is not None:
            caption = ev.point_caption(emb, row, same) or embed.point_label(emb, row)
            col.image(to_pil(pic).resize((128, 128), Image.NEAREST), caption=caption, width=128)
st.subheader("Continuity violations")
if not ctx.present:
    st.caption(
        f"Same-class {'test ' if same is None else ''}images closer to x (in logit space, DS) "
        f"than x's own perturbed copy at level {level}; lower is more continuous."
    )
rows = ev.violation_rows(emb, variants)
if ctx.present:  # a static table reads from afar; no scrolling
    st.table(rows)
else:
    st.dataframe(rows, hide_index=True)
d1, d2 = st.columns(2)
d1.download_button(
    "Plots (PNG)",
    embedding_png([emb], variants=variants, shown=shown),
    "embeddings.png",
    "image/png",
    on_click="ignore",
)
d2.download_button(
    "Violations (CSV)", export.rows_to_csv(rows), "violations.csv", "text/csv", on_click="ignore"
)
