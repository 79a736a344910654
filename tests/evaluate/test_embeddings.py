"""embeddings suite (Fig. 1-2): per-image projections and violations, stored and drawn."""

import torch

from sc_viz.embed import embed, same_class_set
from sc_viz.evaluate import run_suites
from sc_viz.evaluate.embeddings import fit_options, pick_images
from sc_viz.packs import load_pack


def run(pack, out=None, **options):
    return run_suites(
        pack,
        ["embeddings"],
        limit=60,
        seed=2,
        out=out,
        progress=False,
        figures=out is not None,
        log=lambda *a: None,
        device="cpu",
        options={"embed_images": 2, "embed_count": 9, **options},
    )


def test_results_match_the_embedding_engine(tiny_pack):
    report = run(tiny_pack)
    e = report["suites"]["embeddings"]
    assert e["level"] == 2 and e["methods"] == ["pca", "tsne", "umap"] and e["joint"]
    assert len(e["images"]) == 2
    first, second = e["images"]
    assert first["label"] != second["label"]  # each image of another class
    # recompute the first image's PCA with the engine directly
    pack = load_pack(tiny_pack, device="cpu")
    from sc_viz.data import data_root, load_split, seeded_subset

    test = seeded_subset(load_split("cifar10", "test", data_root(None), 32), 60, 2)
    assert int(test.labels[first["position"]]) == first["label"]
    others, idx = same_class_set(test, first["label"], count=9, exclude=first["position"], seed=2)
    assert first["same_class"] == len(idx) and first["indices"][5:] == idx
    ref = embed(pack.models, test.get(first["position"]), others, level=2, method="pca", joint=True, seed=2)
    assert first["violations"] == ref.violations
    for v in pack.models:
        assert len(first["coords"]["umap"][v]) == 5 + len(idx)
        torch.testing.assert_close(torch.tensor(first["coords"]["pca"][v]), ref.coords[v], atol=2e-4, rtol=0)
        torch.testing.assert_close(torch.tensor(first["distances"][v]), ref.distances[v], atol=2e-4, rtol=0)
        assert first["distances"][v][0] == 0.0  # x to itself


def test_same_seed_same_projections_and_level_option(tiny_pack):
    a, b = run(tiny_pack), run(tiny_pack)
    assert a["suites"]["embeddings"] == b["suites"]["embeddings"]
    c = run(tiny_pack, embed_level=4)
    assert c["settings"]["embeddings"]["embed_level"] == 4
    assert (
        c["suites"]["embeddings"]["images"][0]["violations"]
        != a["suites"]["embeddings"]["images"][0]["violations"]
        or c["suites"]["embeddings"]["images"][0]["distances"]
        != a["suites"]["embeddings"]["images"][0]["distances"]
    )


def test_report_has_the_section_and_figures(tiny_pack, tmp_path):
    run(tiny_pack, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "Semantic discontinuity evidence (Sec. 3.2, Fig. 1-2)" in md
    assert md.count("figures/fig2_embeddings_") == 2
    for i in (1, 2):
        assert (tmp_path / "figures" / f"fig2_embeddings_{i}.png").stat().st_size > 10_000
    html = (tmp_path / "figures.html").read_text()
    assert html.count('id="fig-fig2_embeddings_') == 6  # 2 images x 3 methods
    assert html.count("plotly.js v") <= 2  # plotly.js inlined once


def test_small_samples_shrink_the_projection_settings(tiny_pack):
    assert fit_options("tsne", 24) == {"perplexity": 23 / 3}
    assert fit_options("tsne", 1000) == {"perplexity": 30.0}
    assert fit_options("umap", 10) == {"n_neighbors": 8}
    assert fit_options("pca", 3) == {}
    # a 12-image sample: classes of one or two images still project
    report = run_suites(
        tiny_pack,
        ["embeddings"],
        limit=12,
        seed=0,
        progress=False,
        figures=False,
        log=lambda *a: None,
        device="cpu",
        options={"embed_images": 3},
    )
    assert report["status"]["embeddings"]["state"] == "complete"
    assert len(report["suites"]["embeddings"]["images"]) == 3


def test_pick_images_distinct_classes(tiny_pack):
    from sc_viz.data import Split
    from sc_viz.evaluate.common import EvalContext

    labels = torch.tensor([0, 0, 1, 1, 2, 0])
    ctx = EvalContext(load_pack(tiny_pack, device="cpu"), Split(labels, ["a", "b", "c"]))
    picked = pick_images(ctx, 5)
    assert len(picked) == 3 and len({int(labels[i]) for i in picked}) == 3
