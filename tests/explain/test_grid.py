import pytest
import torch

from sc_viz import load_pack
from sc_viz.explain import METHODS, explain, explain_grid, iter_grid, predict_top
from sc_viz.explain.grid import chosen_order, ordered_methods

from .helpers import random_image, random_model

FAST = {"ig": {"n_steps": 4}, "lime": {"n_samples": 30}, "smoothgrad": {"n_samples": 2}}


@pytest.fixture(scope="module")
def models(tiny_pack):
    return load_pack(tiny_pack, device="cpu").models


def test_registry_names():
    assert set(METHODS.names()) == {"saliency", "smoothgrad", "ig", "gradcam", "lime"}
    assert METHODS.names()[0] == "saliency"


def test_full_grid_from_pack(models):
    x = random_image(32, 32)
    calls = []
    grid = explain_grid(
        models,
        x,
        methods=list(METHODS.names()),
        options=FAST,
        progress=lambda done, total, label: calls.append((done, total, label)),
    )
    assert grid.variants == ["standard", "c", "adv", "advc"]
    assert grid.methods == ["saliency", "gradcam", "smoothgrad", "ig", "lime"]
    assert set(grid.cells) == {(v, m) for v in grid.variants for m in grid.methods}
    for (v, m), exp in grid.cells.items():
        assert exp.map.shape == (32, 32) and exp.method == m
        assert exp.target == grid.targets[v] == grid.predictions[v][0][0]  # own prediction
    for v, top in grid.predictions.items():
        assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
        probs = models[v](x[None]).softmax(1)[0].detach()
        assert top[0] == (int(probs.argmax()), pytest.approx(float(probs.max()), abs=1e-6))
    assert [c[0] for c in calls] == list(range(1, 21)) and all(c[1] == 20 for c in calls)


def test_fixed_target_and_cells_match_single_calls(models):
    x = random_image(32, 32, seed=2)
    grid = explain_grid(models, x, methods=["ig", "gradcam"], target=4, options=FAST)
    assert set(grid.targets.values()) == {4}
    for v, m in models.items():
        single = explain(m, x, method="ig", target=4, n_steps=4)
        torch.testing.assert_close(grid[v, "ig"].map, single.map)


def test_iter_grid_yields_cheapest_method_first(models):
    cells = iter_grid(models, random_image(), methods=["lime", "ig", "saliency"], target=1, options=FAST)
    order = [(v, m) for v, m, _ in cells]
    assert [m for _, m in order] == ["saliency"] * 4 + ["ig"] * 4 + ["lime"] * 4
    assert [v for v, _ in order[:4]] == list(models)


def test_predict_top_k():
    top = predict_top({"m": random_model()}, random_image(), k=5)["m"]
    assert len(top) == 5 and abs(sum(p for _, p in top)) <= 1.0


def test_bad_grid_arguments(models):
    x = random_image()
    with pytest.raises(KeyError, match="choose one of"):
        explain_grid(models, x, methods=["ig", "deeplift"])
    with pytest.raises(ValueError, match="unknown methods"):
        explain_grid(models, x, methods=["ig"], options={"deeplift": {}})
    with pytest.raises(ValueError, match="no models"):
        explain_grid({}, x, methods=["ig"])
    with pytest.raises(ValueError, match="outside"):
        explain_grid(models, x, methods=["saliency"], target=11)


def test_grid_columns_keep_the_chosen_order_while_computing_cheapest_first(models):
    """The chips gradcam, ig, lime, smoothgrad must give columns in that order (the grid is
    still computed cheapest first)."""
    calls = []
    chosen = ["gradcam", "ig", "lime", "smoothgrad"]
    grid = explain_grid(
        models,
        random_image(seed=3),
        methods=chosen + ["ig"],
        options=FAST,
        progress=lambda done, total, label: calls.append(label.split(" / ")[0]),
    )
    assert grid.methods == chosen
    assert list(dict.fromkeys(calls)) == ordered_methods(chosen) == ["gradcam", "smoothgrad", "ig", "lime"]
    assert chosen_order(["lime", "saliency", "lime"]) == ["lime", "saliency"]
    with pytest.raises(KeyError, match="choose one of"):
        chosen_order(["deeplift"])


def test_methods_have_plain_titles_and_one_line_help():
    titles = {name: m.title for name, m in METHODS.items()}
    assert titles == {
        "saliency": "Saliency (gradient)",
        "gradcam": "Grad-CAM",
        "smoothgrad": "SmoothGrad",
        "ig": "Integrated Gradients",
        "lime": "LIME",
    }
    for _, m in METHODS.items():
        assert m.help and "\n" not in m.help and len(m.help) <= 110
