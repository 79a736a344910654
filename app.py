"""sc-viz app: `streamlit run app.py`.

This file is the entry point (st.navigation, Streamlit's recommended multipage API) and the
home page: the packs found, each variant's training config, status, metrics and curves,
and the device in use. The shared sidebar (pack, image, presentation mode) is drawn here
so its choices persist across pages; the pages live in pages/."""
import os
import threading

import streamlit as st
from threadpoolctl import threadpool_limits

from sc_viz import app_state, catalog
from sc_viz.app_figures import curves_figure


def home() -> None:
    ctx = app_state.context()
    st.title("sc-viz: semantic continuity of image classifiers")
    st.markdown(f"**Device:** {catalog.device_description(ctx.pack.device if ctx.pack else None)}")
    if not ctx.present:
        st.caption("Four variants per pack: `standard`, `c` (continuity loss), `adv` (PGD "
                   "training), `advc` (both). Pick a pack and open a page on the left.")
    if not ctx.packs:
        st.warning(ctx.pack_error)
        return
    for path in ctx.packs:
        summary = catalog.summarize(path)
        with st.container(border=True):
            st.subheader(path.name)
            st.caption(str(path))
            if summary.error:
                st.error(summary.error)
                continue
            pack, error = app_state.get_pack(path)
            if error:
                st.error(error)
            m = summary.manifest
            st.markdown(f"{m['dataset']} / {m['arch']}, {len(m['classes'])} classes, "
                        f"input {m['input_size']} px")
            rows = catalog.variant_rows(m)
            if rows:
                st.dataframe(rows, hide_index=True)
            else:
                st.info("This pack has no variants yet.")
            for variant, why in (pack.errors.items() if pack else []):
                st.error(f"{variant} not loaded: {why}")
            curves = catalog.training_curves(path)
            if curves:
                cols = st.columns(len(curves))
                for col, (metric, table) in zip(cols, curves.items()):
                    col.plotly_chart(curves_figure(table, metric), key=f"curve-{path}-{metric}")
            with st.expander("Manifest (JSON)"):
                st.json(m, expanded=False)


# Explicit lower-case url paths: they keep each page's URL stable for deep links, and keep
# the pages/ files from also being matched as old-style (folder-discovered) pages.
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
    if os.environ.get("SC_VIZ_WARMUP", "1") != "0":
        thread.start()
    return thread


PAGES = [
    st.Page(home, title="Models", icon=":material/home:", default=True),
    st.Page("pages/1_Saliency.py", title="Saliency", url_path="saliency", icon=":material/grid_view:"),
    st.Page("pages/2_Embeddings.py", title="Embeddings", url_path="embeddings", icon=":material/scatter_plot:"),
    st.Page("pages/3_Continuity.py", title="Continuity", url_path="continuity", icon=":material/show_chart:"),
    st.Page("pages/4_Robustness.py", title="Robustness", url_path="robustness", icon=":material/shield:"),
]

st.set_page_config(page_title="sc-viz", layout="wide", page_icon=":material/blur_on:")
warm_up_projections()
page = st.navigation(PAGES)
app_state.setup_context(page_needs_image=page.title != "Models")
page.run()
