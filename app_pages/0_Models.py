"""Models (the home page): the packs found, each variant's headline numbers (clean and PGD
accuracy), training config, status and curves, and the device in use. A pack or variant
that does not load says why."""

import streamlit as st

from sc_viz.app import catalog, loaders, models_view, sidebar, style
from sc_viz.figures import curves_figure

ctx = sidebar.context()
st.title("sc-viz: semantic continuity of image classifiers")
st.markdown(f"**Device:** {catalog.device_description(ctx.pack.device if ctx.pack else None)}")
if not ctx.present:
    st.caption(
        "Four variants per pack: `standard`, `c` (continuity loss), `adv` (PGD "
        "training), `advc` (both). Pick a pack and open a page on the left."
    )
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
        st.markdown(f"{m['dataset']} / {m['arch']}, {len(m['classes'])} classes, input {m['input_size']} px")
        imported = models_view.is_imported(m)
        headline = models_view.headline_rows(m) if not imported else []
        if imported:
            st.markdown(f"Imported (`sc-viz import`): {models_view.model_facts_text(m)}")
            st.table(models_view.import_rows(m))
            for variant, keys in models_view.key_misfits(m).items():
                st.warning(
                    f"{variant}: imported with --non-strict: {len(keys['missing'])} missing keys "
                    f"keep their random initialisation, {len(keys['unexpected'])} unexpected keys "
                    "were ignored."
                )
                with st.expander(f"{variant}: the keys that did not fit"):
                    c1, c2 = st.columns(2)
                    c1.markdown(f"**Missing** ({len(keys['missing'])})")
                    c1.code("\n".join(keys["missing"]) or "none", language=None)
                    c2.markdown(f"**Unexpected** ({len(keys['unexpected'])})")
                    c2.code("\n".join(keys["unexpected"]) or "none", language=None)
        elif headline:  # a static table: wraps instead of scrolling sideways
            st.table(headline)
            if not ctx.present:
                st.caption(
                    "PGD accuracy: the pack's evaluation attack (L-inf, budget ε). "
                    "λ: the weight of the continuity term, for the variants that have one."
                )
        elif not imported:
            st.info("This pack has no variants yet.")
        for error in card.load_errors:
            st.error(error)
        curves = models_view.present_curves(card.curves)
        if curves:
            per_row = style.per_row(len(curves), ctx.present)
            cols = [c for start in range(0, len(curves), per_row) for c in st.columns(per_row)]
            for col, (metric, table) in zip(cols, curves.items()):
                fig = style.scale_fonts(curves_figure(table, models_view.curve_title(metric)), ctx.present)
                col.plotly_chart(fig, key=f"curve-{path}-{metric}")
        if card.rows:
            with st.expander("Training details (config, status, every metric)", expanded=False):
                st.dataframe(card.rows, hide_index=True)
        with st.expander("Manifest (JSON)"):
            st.json(m, expanded=False)
