"""Models (the home page): the packs found, each variant's training config, status, metrics
and curves, and the device in use. A pack or variant that does not load says why."""
import streamlit as st

from sc_viz.app import catalog, loaders, sidebar
from sc_viz.figures import curves_figure

ctx = sidebar.context()
st.title("sc-viz: semantic continuity of image classifiers")
st.markdown(f"**Device:** {catalog.device_description(ctx.pack.device if ctx.pack else None)}")
if not ctx.present:
    st.caption("Four variants per pack: `standard`, `c` (continuity loss), `adv` (PGD "
               "training), `advc` (both). Pick a pack and open a page on the left.")
if not ctx.packs:
    st.warning(ctx.pack_error)
    st.stop()
for path in ctx.packs:
    card = catalog.pack_card(path, loaders.get_pack)
    with st.container(border=True):
        st.subheader(path.name)
        st.caption(str(path))
        if card.summary.error:
            st.error(card.summary.error)
            continue
        m = card.summary.manifest
        st.markdown(f"{m['dataset']} / {m['arch']}, {len(m['classes'])} classes, "
                    f"input {m['input_size']} px")
        if card.rows:
            st.dataframe(card.rows, hide_index=True)
        else:
            st.info("This pack has no variants yet.")
        for error in card.load_errors:
            st.error(error)
        if card.curves:
            cols = st.columns(len(card.curves))
            for col, (metric, table) in zip(cols, card.curves.items()):
                col.plotly_chart(curves_figure(table, metric), key=f"curve-{path}-{metric}")
        with st.expander("Manifest (JSON)"):
            st.json(m, expanded=False)
