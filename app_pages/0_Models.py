"""Models (the home page): the packs found, each variant's headline numbers (clean and PGD
accuracy), training config, status and curves, and the device in use. A pack or variant
that does not load says why."""

import streamlit as st

from sc_viz.app import catalog, loaders, models_view, sidebar, style, takeaways


def start_demo() -> None:
    st.session_state.update(takeaways.demo_values())


ctx = sidebar.context()
st.title("sc-viz: semantic continuity of image classifiers")
for line in takeaways.INTRO:
    st.markdown(line)
if ctx.pack is not None and st.button(
    "Start the demo",
    key="start-demo",
    icon=":material/play_arrow:",
    type="primary",
    help=f"Open Saliency on test image {takeaways.DEMO_IMAGE}",
    on_click=start_demo,
):
    st.switch_page("app_pages/1_Saliency.py", query_params=st.query_params.to_dict())
st.markdown(f"**Device:** {catalog.device_description(ctx.pack.device if ctx.pack else None)}")
if not ctx.present:
    st.caption(
        "One row per variant of a pack: `standard`, `c` (continuity loss), `adv` (PGD "
        "training), `advc` (both), and any related methods' variants (the Training column "
        "says how each was trained). Pick a pack and open a page on the left."
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
            line = takeaways.models_takeaway(m, headline[0]["PGD ε"])
            if line:
                st.markdown(line)
            st.table(takeaways.highlight_rows(headline, takeaways.robust_variants(m)))
            if not ctx.present:
                st.caption(
                    "PGD accuracy: the pack's evaluation attack (L-inf, budget ε). "
                    "λ: the weight of the continuity term, for the variants that have one."
                )
        elif not imported:
            st.info("This pack has no variants yet.")
        for error in card.load_errors:
            st.error(error)
        curves = models_view.present_curves(card.curves, m)
        if curves:
            per_row = style.per_row(len(curves), ctx.present)
            cols = [c for start in range(0, len(curves), per_row) for c in st.columns(per_row)]
            for col, (metric, table) in zip(cols, curves.items()):
                fig = style.scale_fonts(models_view.curve_figure(table, metric), ctx.present)
                col.plotly_chart(fig, key=f"curve-{path}-{metric}")
            finals = models_view.final_pgd_points(card.curves, m)
            if finals and models_view.PGD_CURVE in curves and not ctx.present:
                st.caption(models_view.FINAL_PGD_NOTE.format(names=", ".join(f"`{v}`" for v in finals)))
        if card.rows:
            with st.expander("Training details (config, status, every metric)", expanded=False):
                st.dataframe(card.rows, hide_index=True)
        with st.expander("Manifest (JSON)"):
            st.json(m, expanded=False)
