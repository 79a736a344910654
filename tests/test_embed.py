import pytest
import torch

from sc_viz.embed import (
    PROJECTIONS,
    SAME_CLASS_KIND,
    build_points,
    distances_to_x,
    embed,
    point_image,
    point_label,
    project,
    project_joint,
    same_class_set,
    violations,
    warm_up,
)
from sc_viz.models import build_model
from sc_viz.perturb import LEVELS, photometric


def tiny_models(n: int = 2) -> dict:
    out = {}
    for i in range(n):
        torch.manual_seed(i)
        out[f"v{i}"] = build_model("tinycnn", 10, (0.5,) * 3, (0.25,) * 3).eval()
    return out


def test_violation_count_hand_computed():
    kinds = ["x", "brightness", "contrast", "saturation", "hue"] + [SAME_CLASS_KIND] * 5
    logits = torch.tensor(
        [
            [0.0, 0.0],  # x
            [3.0, 0.0],
            [0.0, 1.0],
            [0.0, 0.0],
            [6.0, 8.0],  # DS 3, 1, 0, 10
            [0.3, 0.4],
            [0.0, -2.0],
            [1.5, 2.0],
            [0.0, 4.0],
            [12.0, 0.0],
        ]
    )
    # same-class DS to x: 0.5, 2, 2.5, 4, 12
    torch.testing.assert_close(distances_to_x(logits), torch.tensor([0, 3, 1, 0, 10, 0.5, 2, 2.5, 4, 12.0]))
    assert violations(logits, kinds) == {"brightness": 3, "contrast": 1, "saturation": 0, "hue": 4}


def test_build_points_layout():
    x, same = torch.rand(3, 8, 8), torch.rand(5, 3, 8, 8)
    pts = build_points(x, same, level=3, x_index=7, same_class_indices=[1, 2, 3, 4, 5])
    assert pts.images.shape == (10, 3, 8, 8)
    assert pts.kinds == ["x", *LEVELS] + [SAME_CLASS_KIND] * 5
    assert pts.indices == [7, -1, -1, -1, -1, 1, 2, 3, 4, 5]
    torch.testing.assert_close(pts.images[2], photometric(x[None], "contrast", 3)[0])
    torch.testing.assert_close(pts.images[5:], same)


def test_same_class_set(cifar_test):
    label = int(cifar_test.labels[0])
    images, idx = same_class_set(cifar_test, label, count=20, exclude=0, seed=1)
    assert images.shape == (20, 3, 32, 32) and len(idx) == 20 and 0 not in idx
    assert all(int(cifar_test.labels[i]) == label for i in idx)
    assert same_class_set(cifar_test, label, count=20, exclude=0, seed=1)[1] == idx
    assert same_class_set(cifar_test, label, count=20, exclude=0, seed=2)[1] != idx


@pytest.mark.parametrize(
    "method,options", [("pca", {}), ("tsne", {"perplexity": 5.0}), ("umap", {"n_neighbors": 5})]
)
def test_projections_reproducible_with_a_seed(method, options):
    points = torch.randn(40, 10, generator=torch.Generator().manual_seed(0))
    a = project(points, method=method, seed=3, options=options)
    b = project(points, method=method, seed=3, options=options)
    assert a.shape == (40, 2) and torch.isfinite(a).all()
    torch.testing.assert_close(a, b)
    if method == "umap":  # stochastic (t-SNE with PCA init is deterministic)
        assert not torch.allclose(a, project(points, method=method, seed=4, options=options))


@pytest.mark.parametrize(
    "method,options,need", [("tsne", {}, 31), ("umap", {}, 17), ("tsne", {"perplexity": 5.0}, 6)]
)
def test_too_few_points_is_a_clear_error(method, options, need):
    with pytest.raises(ValueError, match=f"{method} needs at least {need} points, got 5"):
        project(torch.randn(5, 10), method=method, options=options)
    # and embed refuses before running any model
    with pytest.raises(ValueError, match="same-class"):
        embed(tiny_models(1), torch.rand(3, 8, 8), torch.rand(0, 3, 8, 8), method=method, options=options)


def test_embed_per_variant_and_joint():
    models, x, same = tiny_models(2), torch.rand(3, 16, 16), torch.rand(30, 3, 16, 16)
    per = embed(models, x, same, level=2, method="pca")
    joint = embed(models, x, same, level=2, method="pca", joint=True)
    for e in (per, joint):
        assert set(e.coords) == {"v0", "v1"} and e.coords["v0"].shape == (35, 2)
        assert e.logits["v0"].shape == (35, 10) and e.distances["v0"][0] == 0
        assert set(e.violations["v1"]) == set(LEVELS)
        assert all(0 <= c <= 30 for c in e.violations["v1"].values())
    expected = project(torch.cat([per.logits["v0"], per.logits["v1"]]), method="pca")
    torch.testing.assert_close(torch.cat([joint.coords["v0"], joint.coords["v1"]]), expected)
    torch.testing.assert_close(project_joint(per.logits)["v1"], joint.coords["v1"])
    with torch.no_grad():
        torch.testing.assert_close(per.logits["v1"][0], models["v1"](x[None])[0])


def test_registry_and_warm_up():
    assert PROJECTIONS.names() == ["pca", "tsne", "umap"]
    assert warm_up() >= 0.0


def test_joint_fit_counts_every_variants_points():
    # 4 variants x (x + 4 perturbations + 3 same-class) = 32 points: enough for t-SNE's
    # perplexity 30 jointly, not for one variant alone (8 points)
    models, x, same = tiny_models(4), torch.rand(3, 8, 8), torch.rand(3, 3, 8, 8)
    e = embed(models, x, same, method="tsne", joint=True)
    assert all(c.shape == (8, 2) for c in e.coords.values())
    with pytest.raises(ValueError, match="needs at least 31 points, got 8"):
        embed(models, x, same, method="tsne", joint=False)


def test_point_labels_and_images_for_hover_and_click(cifar_test):
    """Each point in words (never "same_class" or index -1) and its image (the thumbnail a
    page shows for a clicked point): x, its perturbed copy, the same-class test image."""
    x = cifar_test.get(0)
    label = int(cifar_test.labels[0])
    same, idx = same_class_set(cifar_test, label, count=6, exclude=0)
    e = embed(tiny_models(1), x, same, level=3, method="pca", x_index=0, same_class_indices=idx)
    assert point_label(e, 0) == "x: test image #0"
    assert point_label(e, 4) == "hue, level 3"
    assert point_label(e, 5) == f"same class: test image #{idx[0]}"
    torch.testing.assert_close(point_image(e, 0, x), x)
    torch.testing.assert_close(point_image(e, 2, x[None]), photometric(x[None], "contrast", 3)[0])
    torch.testing.assert_close(point_image(e, 5, x, cifar_test), cifar_test.get(idx[0]))
    upload = embed(tiny_models(1), x, same, level=1, method="pca")  # no indices known
    assert point_label(upload, 0) == "x: your image" and point_label(upload, 5) == "same-class image"
    assert point_image(upload, 5, x, cifar_test) is None
