"""Embeddings: PCA / t-SNE / UMAP of the image, its four perturbations and same-class test
images, one plot per variant side by side, with each variant's continuity violations."""
import streamlit as st
from threadpoolctl import threadpool_limits

from sc_viz import app_state, embed, export
from sc_viz.figures import embedding_figure, embedding_png
from sc_viz.perturb import LEVELS
from sc_viz.single_image import top_k

PROJECTION_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


@st.cache_data(max_entries=16, show_spinner="Projecting...")
def embedding(pack_key, image_key, variants, label, count, level, method, joint, _models, _x, _split,
              exclude):
    images, indices = embed.same_class_set(_split, label, count=count, exclude=exclude)
    # One OpenMP thread: a few hundred points need no more, and scikit-learn's t-SNE threads
    # were seen to stall for minutes on a loaded 2-core machine (2 s with one thread).
    with threadpool_limits(limits=1):
        return embed.embed({v: _models[v] for v in variants}, _x, images, level=level, method=method,
                           joint=joint, same_class_indices=indices,
                           x_index=exclude if exclude is not None else -1)


ctx = app_state.context()
pack = app_state.require_pack(ctx)
image = app_state.require_image(ctx)
view = app_state.link()
st.title("Embeddings")
split, why = app_state.get_gallery(pack)
if split is None:
    st.warning(f"The embedding needs same-class images from the pack's test set. {why}")
    st.stop()

variants = app_state.variant_picker(pack)
c1, c2, c3, c4 = st.columns(4)
method = c1.radio("Projection", list(PROJECTION_NAMES), format_func=PROJECTION_NAMES.get,
                  horizontal=True, key="projection")
level = c2.select_slider("Level", [1, 2, 3, 4], value=view.level or 1, key="level")
count = c3.slider("Same-class images", 5, 500, 200, step=5, key="same_count")
joint = c4.toggle("Shared axes", value=False, key="joint",
                  help="One projection fitted on every variant's logits, so the plots share axes.")
shown = set(st.pills("Perturbations", list(LEVELS), selection_mode="multi", default=list(LEVELS),
                     key="shown_perturbations") or [])
label = image.label
if label is None:  # an upload: compare with the class the first variant predicts, or a chosen one
    guess = top_k(pack.models[variants[0] if variants else next(iter(pack.models))], image.x)[0][0]
    label = st.selectbox("Class of your image", range(len(pack.classes)), index=guess,
                         format_func=lambda i: pack.classes[i], key="upload_class")
if not variants:
    st.info("Choose at least one variant.")
    st.stop()

try:
    emb = embedding(app_state.pack_key(pack), image.key, tuple(variants), int(label), count, level,
                    method, joint, pack.models, image.x, split, image.index)
except ValueError as err:  # too few same-class points for t-SNE/UMAP
    st.warning(str(err))
    st.stop()

cols = st.columns(len(variants))
for col, v in zip(cols, variants):
    fig = embedding_figure(emb, variants=[v], shown=shown)
    fig.update_layout(width=None, height=420)  # the column sets the width
    col.plotly_chart(fig, key=f"emb-{v}")
st.subheader("Continuity violations")
if not ctx.present:
    st.caption("Same-class test images closer to x (in logit space, DS) than x's own perturbed "
               f"copy at level {level}; lower is more continuous.")
rows = [{"variant": v, **emb.violations[v], "same_class_images": emb.kinds.count("same_class")}
        for v in variants]
st.dataframe(rows, hide_index=True)
d1, d2 = st.columns(2)
d1.download_button("Plots (PNG)", embedding_png([emb], variants=variants, shown=shown),
                   "embeddings.png", "image/png", on_click="ignore")
d2.download_button("Violations (CSV)", export.rows_to_csv(rows), "violations.csv", "text/csv",
                   on_click="ignore")
app_state.sync_link(variants=tuple(variants), level=level)
