"""Robustness: the chosen image under PGD for each variant: adversarial image, the
perturbation (amplified), prediction before/after, and saliency of clean vs adversarial;
below, the test-set clean and PGD accuracy from the pack's stored report (Table 2)."""
import streamlit as st

from sc_viz import app_state, export, report_view, single_image
from sc_viz import saliency_view as sv
from sc_viz.explain import METHODS

EPS_CHOICES = [0, 1, 2, 4, 8, 16]  # in 1/255


@st.cache_data(max_entries=32, show_spinner="Running PGD...")
def attack(pack_key: str, image_key: str, variants: tuple, eps255: float, steps: int,
           label, _models, _x):
    results = single_image.attack_each({v: _models[v] for v in variants}, _x, eps255 / 255,
                                       steps=steps, label=label)
    return {v: {"x_adv": r.x_adv, "delta": r.delta, "label": r.label, "before": r.before,
                "after": r.after} for v, r in results.items()}


@st.cache_data(max_entries=64, show_spinner="Explaining...")
def saliency_pair(pack_key, image_key, variant, eps255, steps, method, _model, _x, _x_adv):
    return sv.clean_and_adversarial(_model, _x, _x_adv, method)


def test_set_table(pack, variants, present: bool) -> None:
    """Table 2 of the stored report for the chosen variants (or why there is none)."""
    report = app_state.get_stored_report(pack)
    table = report_view.robustness_rows(report, variants)
    if table:
        st.subheader("Test set (paper Table 2)")
        st.dataframe(table, hide_index=True, key="table2")
        if not present:
            st.caption(report_view.robustness_caption(report))
    if report.message and not present:
        st.caption(report.message)


ctx = app_state.context()
pack = app_state.require_pack(ctx)
image = app_state.require_image(ctx)
view = app_state.link()
st.title("Robustness under PGD")
variants = app_state.variant_picker(pack)
c1, c2, c3 = st.columns(3)
default_eps = view.eps if view.eps in EPS_CHOICES else 8
eps255 = c1.select_slider("eps (x/255, L-inf)", EPS_CHOICES, value=default_eps, key="eps")
steps = c2.slider("PGD steps", 1, 20, 10, key="pgd_steps")
method = c3.selectbox("Saliency method", ["none", *METHODS.names()], index=1, key="adv_method",
                      help="Map of each image for the class the model predicts on it.")
if not variants:
    st.info("Choose at least one variant.")
    st.stop()

results = attack(app_state.pack_key(pack), image.key, tuple(variants), float(eps255), steps,
                 image.label, pack.models, image.x)
classes = pack.classes
if not ctx.present:
    st.caption("PGD pushes away from the true class (gallery) or from each model's own "
               "prediction (upload); step eps/4, random start, seed 0.")
heads = ["clean", "adversarial", "perturbation (amplified)"]
heads += [f"{method}: clean", f"{method}: adversarial"] if method != "none" else []
top = st.columns([1] * len(heads) + [1.4])
for col, h in zip(top, heads + ["prediction"]):
    col.markdown(f"**{h}**")
rows = []
for v in variants:
    r = single_image.AttackResult(**results[v])
    rows += single_image.attack_rows({v: r}, classes, eps255 / 255)
    pics = [image.x, r.x_adv, single_image.amplify(r.delta, eps255 / 255)]
    cols = st.columns([1] * len(heads) + [1.4])
    for col, pic in zip(cols, pics):
        col.image(export.png_bytes(pic, upscale=4), width=128)
    if method != "none":
        clean_map, adv_map = saliency_pair(app_state.pack_key(pack), image.key, v, float(eps255),
                                           steps, method, pack.models[v], image.x, r.x_adv)
        cols[3].image(sv.overlay(image.x, clean_map, 0.5, size=128), width=128, output_format="PNG")
        cols[4].image(sv.overlay(r.x_adv, adv_map, 0.5, size=128), width=128, output_format="PNG")
    (b, pb), (a, pa) = r.before[0], r.after[0]
    with cols[-1]:
        st.markdown(f"### {v}\nbefore: **{classes[b]}** {pb:.0%}  \nafter: **{classes[a]}** {pa:.0%}")
        if r.flipped:
            st.error("prediction changed")
        else:
            st.success("prediction kept")
test_set_table(pack, variants, ctx.present)
st.download_button("Download numbers (CSV)", export.rows_to_csv(rows), "robustness.csv",
                   "text/csv", on_click="ignore")
app_state.sync_link(variants=tuple(variants), eps=float(eps255))
