"""Embeddings: PCA / t-SNE / UMAP of the image, its four perturbations and same-class test
images, one plot per variant side by side, with each variant's continuity violations."""

import streamlit as st
from PIL import Image
from threadpoolctl import threadpool_limits

from sc_viz import embed
from sc_viz.app import embeddings_view, export, loaders, sidebar, state, style
from sc_viz.app.gallery import to_pil
from sc_viz.app.single_image import top_k
from sc_viz.app.views import PROJECTIONS
from sc_viz.figures import embedding_figure, embedding_png, selected_rows
from sc_viz.perturb import LEVELS


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


ctx = sidebar.context()
pack = sidebar.require_pack(ctx)
image = sidebar.require_image(ctx)
st.title("Embeddings")
split, why = loaders.get_gallery(pack)
if split is None:
    st.warning(f"The embedding needs same-class images from the pack's test set. {why}")
    st.stop()

variants = sidebar.variant_picker(pack)
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
if label is None:  # an upload: compare with the class the first variant predicts, or a chosen one
    if state.new_for("upload_class", image.key):
        guess = top_k(pack.models[variants[0] if variants else next(iter(pack.models))], image.x)[0][0]
        state.set_value("upload_class", guess)
    classes = range(len(pack.classes))
    label = st.selectbox(
        "Class of your image",
        classes,
        format_func=lambda i: pack.classes[i],
        key=state.bind("upload_class", classes, what="class"),
    )
if not variants:
    st.info("Choose at least one variant.")
    st.stop()

try:
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
except ValueError as err:  # too few same-class points for t-SNE/UMAP
    st.warning(str(err))
    st.stop()

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
        pic = embed.point_image(emb, row, image.x, split)
        if pic is not None:
            col.image(
                to_pil(pic).resize((128, 128), Image.NEAREST), caption=embed.point_label(emb, row), width=128
            )
st.subheader("Continuity violations")
if not ctx.present:
    st.caption(
        "Same-class test images closer to x (in logit space, DS) than x's own perturbed "
        f"copy at level {level}; lower is more continuous."
    )
rows = embeddings_view.violation_rows(emb, variants)
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
