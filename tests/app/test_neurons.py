"""Neurons page (issue 14): per-layer sensitivity (stored report or computed here), the
chosen image's most sensitive channels per variant, its saliency consensus, the view in
the URL; and the glue in sc_viz.app.neurons_view."""

import json
from pathlib import Path

import torch
from apptest_helpers import assert_clean, images, open_app, real_photo_bytes, reopen, widget_values

from sc_viz.app import neurons_view as nv
from sc_viz.app.report_view import StoredReport
from sc_viz.packs import load_pack

NEURONS = "app_pages/5_Neurons.py"
REPO = Path(__file__).resolve().parents[2]


def charts(at) -> list:
    return list(at.get("plotly_chart"))


def test_neurons_renders_on_the_demo_pack_from_the_stored_report():
    at = open_app(NEURONS)
    assert_clean(at)
    variants = at.multiselect(key="variants").value
    assert variants == ["standard", "c", "adv", "advc"]  # the paper's four
    # no sample-size slider: the committed report is current and holds every variant
    assert not [s for s in at.select_slider if s.key == "neuron_sample"]
    stored = json.loads((REPO / "reports" / "cifar10-resnet20" / "report.json").read_text())
    n = stored["suites"]["neurons"]["n"]
    assert any(
        f"stored report, n = {n:,}" in c.value or f"stored report, n = {n}" in c.value for c in at.caption
    )
    # per-layer figure, one channel figure per variant, channel distances, consensus box plot
    assert len(charts(at)) == 1 + len(variants) + 1 + 1
    assert at.selectbox(key="neuron_layer").value == "net.layer2.1"  # the middle layer
    # x once above; x' and perturbation per variant (own PGD); two maps per variant
    assert len(images(at)) == 1 + 2 * len(variants) + 2 * len(variants)
    assert [b.proto.label for b in at.get("download_button")] == ["Numbers (CSV)", "Export bundle (zip)"]


def test_neurons_computes_on_a_tiny_pack_and_takes_an_upload(tiny_packs_env):
    at = open_app(NEURONS, pack=tiny_packs_env)
    assert_clean(at)
    # no stored report: computed here on a sample, with the size to choose and the reason said
    assert at.select_slider(key="neuron_sample").value == 200
    assert any("computed here" in c.value and "sc-viz eval" in c.value for c in at.caption)
    assert len(charts(at)) == 1 + 4 + 1  # no stored consensus distribution for a fresh pack
    at.select_slider(key="neuron_sample").set_value(50).run()
    at.multiselect(key="variants").set_value(["standard", "adv"]).run()
    at.selectbox(key="neuron_follow").set_value("adv").run()
    at.selectbox(key="neuron_adv").set_value("standard").run()
    assert_clean(at)
    # one shared x': x, x' and the perturbation once above, then two maps per variant
    assert len(images(at)) == 3 + 2 * 2
    at.radio(key="img_source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value(("cat.jpg", real_photo_bytes(), "image/jpeg")).run()
    assert_clean(at)
    assert len(charts(at)) == 1 + 2 + 1
    at.selectbox(key="cons_method").set_value("gradcam").run()
    at.selectbox(key="cons_kind").set_value("brightness").run()
    assert_clean(at)


def test_the_url_reopens_every_widget(tiny_packs_env):
    at = open_app(NEURONS, pack=tiny_packs_env)
    at.multiselect(key="variants").set_value(["c", "advc"]).run()
    at.select_slider(key="neuron_sample").set_value(50).run()
    at.selectbox(key="neuron_layer").set_value(at.selectbox(key="neuron_layer").options[0]).run()
    at.slider(key="neuron_k").set_value(3).run()
    at.selectbox(key="neuron_follow").set_value("advc").run()
    at.selectbox(key="cons_measure").set_value("iou").run()
    at.toggle(key="present").set_value(True).run()  # the controls move to the top bar
    assert_clean(at)
    assert [b.key for b in at.button if b.key and b.key.startswith("present-")] == [
        "present-prev",
        "present-next",
        "present-exit",
    ]
    before = widget_values(at)
    assert (before["neuron_k"], before["neuron_follow"], before["cons_measure"]) == (3, "advc", "iou")
    again = reopen(at, NEURONS)
    assert_clean(again)
    assert widget_values(again) == before


# ---------------------------------------------------------------- neurons_view
def test_stored_neurons_are_used_when_current_and_complete_and_completed_live():
    suite = {
        "layers": ["a", "b"],
        "n": 7,
        "variants": {
            "standard": {"layers": {"a": {"mean": 1.0, "top": 2.0}, "b": {"mean": 3.0, "top": 4.0}}}
        },
    }
    report = {"status": {"neurons": {"state": "complete"}}, "suites": {"neurons": suite}}
    found = nv.stored_neurons(StoredReport(report))
    assert found.message == "" and found.layers == ["a", "b"] and found.n == 7
    table = nv.combine(found, {}, ["standard"], found.n)
    assert table.per_variant["standard"]["b"]["top"] == 4.0 and table.source.startswith("stored report")
    assert nv.combine(found, {}, ["standard", "spat"], found.n) is None  # spat has no numbers
    spat = {"layers": {"a": {"mean": 5.0, "top": 6.0}, "b": {"mean": 7.0, "top": 8.0}}}
    mixed = nv.combine(found, {"spat": spat}, ["spat", "standard"], found.n)
    assert list(mixed.per_variant) == ["spat", "standard"] and mixed.per_variant["spat"]["a"]["top"] == 6.0
    assert "spat computed here on the same seeded sample" in mixed.source
    stale = nv.stored_neurons(StoredReport(report, "made from other weights"))
    assert stale.per_variant == {} and stale.message == "made from other weights"
    running = {**report, "status": {"neurons": {"state": "running"}}}
    assert nv.stored_neurons(StoredReport(running)).per_variant == {}


def test_bundle_settings_hold_the_controls_in_order_and_the_stored_options():
    from types import SimpleNamespace

    pack = SimpleNamespace(path=Path("/packs/tiny"))
    sc = nv.StoredConsensus(2, 0.2, {"gradcam": {"layer": "x"}}, None, 0)
    controls = {"layer": "l", "top_k": 3, "follow": nv.OWN, "x_adv": "adv"}
    controls |= {"method": "gradcam", "kind": "pgd", "measure": "cosine"}
    settings = nv.bundle_settings(pack, "test:4", ["adv"], controls, sc, "upload")
    assert list(settings) == [
        *["page", "pack", "image", "variants", "layer", "top_k", "follow", "x_adv"],
        *["method", "kind", "measure", "level", "method_options", "source"],
    ]
    assert settings["pack"] == "/packs/tiny" and settings["level"] == 2 and settings["source"] == "upload"
    assert settings["method_options"] == {"layer": "x"}  # the stored suite's, so the numbers compare


def test_live_sensitivity_matches_probe_and_channels_are_followed(tiny_pack):
    from sc_viz.data import Split

    pack = load_pack(tiny_pack)
    g = torch.Generator().manual_seed(0)
    test = Split(
        torch.randint(0, 10, (12,), generator=g),
        pack.classes,
        images=torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8, generator=g),
    )
    result = nv.live_sensitivity(pack, test, "adv", 8)
    table = nv.combine(nv.stored_neurons(StoredReport(None)), {"adv": result}, ["adv"], 8)
    layers = nv.layer_choices(pack.models["adv"])
    assert table.layers == layers and set(table.per_variant) == {"adv"}
    for layer in layers:
        s = table.per_variant["adv"][layer]
        assert 0 <= s["mean"] <= s["top"] and s["channels"] == len(result["sigma"][layer])

    x = test.get(0)[None]  # (1, 3, 32, 32)
    attacks = {v: nv.attack_of(pack, v) for v in pack.models}
    probes = nv.probe_variants(pack.models, x, layers[-1], attacks, top_k=3, follow="c", adversary="adv")
    followed = probes["c"].channels
    d = probes["c"].distances[layers[-1]]
    assert followed == torch.topk(d, 3).indices.tolist()
    assert all(p.channels == followed for p in probes.values())
    # one x' for every variant: adv's own PGD
    assert all(torch.equal(p.x_adv, probes["adv"].x_adv) for p in probes.values())
    own = nv.probe_variants(pack.models, x, layers[-1], attacks, top_k=2)
    for p in own.values():
        assert p.channels == torch.topk(p.distances[layers[-1]], 2).indices.tolist()
        assert p.maps_clean.shape[0] == 2 and p.maps_clean.shape == p.maps_adversarial.shape


def test_image_consensus_scores_every_kind_for_every_variant(tiny_pack):
    pack = load_pack(tiny_pack)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    attacks = {v: nv.attack_of(pack, v) for v in pack.models}
    pairs = nv.image_consensus(pack.models, x, "saliency", attacks, level=1, fraction=0.1)
    assert set(pairs) == set(pack.models)
    for per_kind in pairs.values():
        assert set(per_kind) == {"pgd", "brightness", "contrast", "saturation", "hue"}
        for pair in per_kind.values():
            assert -1 <= pair.measures["cosine"] <= 1 and 0 <= pair.measures["iou"] <= 1
    rows = nv.consensus_rows(pairs, "saliency", "test:0")
    assert len(rows) == 4 * 5 and {"cosine", "spearman", "iou"} <= set(rows[0])
