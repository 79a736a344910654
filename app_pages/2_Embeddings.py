"""Embeddings: PCA / t-SNE / UMAP of the image, its four perturbations and same-class
images (from the pack's test set, or a folder or files of the user's when the data set is
not on this machine), one plot per variant side by side, with each variant's continuity
violations."""

import streamlit as st

from sc_viz.app import embeddings_screen as es
from sc_viz.app import embeddings_view as ev
from sc_viz.app import export, loaders, sidebar, state, takeaways
from sc_viz.app.views import PROJECTIONS
from sc_viz.figures import embedding_png
from sc_viz.perturb import LEVELS

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
same, same_from = es.user_same_class_set(source, pack) if source != ev.TEST_SET else (None, None)
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
if label is None and same is None:  # an upload: compare with a class, the predicted one first
    label = es.upload_class(pack, image, variants)
if not variants:
    st.info("Choose at least one variant.")
    st.stop()

emb = es.embedding_for(
    pack, image, variants, label, split, same, count=count, level=level, method=method, joint=joint
)
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
es.plots(ctx, emb, variants, shown, image.x, split, same)
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
