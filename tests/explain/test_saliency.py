import pytest
import torch

from sc_viz.explain import METHODS, explain

from .helpers import ARCHS, SIZES, random_image, random_model


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", ["saliency", "smoothgrad"])
def test_shapes_every_arch_odd_sizes(arch, method):
    model = random_model(arch)
    for h, w in SIZES[arch]:
        exp = explain(
            model,
            random_image(h, w),
            method=method,
            target=3,
            **({"n_samples": 3} if method == "smoothgrad" else {}),
        )
        assert exp.map.shape == (h, w) and exp.map.dtype == torch.float32
        assert exp.map.device.type == "cpu" and exp.method == method and exp.target == 3
        assert (exp.map >= 0).all() and torch.isfinite(exp.map).all()
        assert not METHODS[method].signed


def test_saliency_is_max_abs_input_gradient():
    model, x = random_model("tinycnn"), random_image(20, 20)
    xg = x[None].clone().requires_grad_()
    model(xg)[0, 5].backward()
    expected = xg.grad[0].abs().amax(dim=0)  # (H, W)
    got = explain(model, x, method="saliency", target=5).map
    torch.testing.assert_close(got, expected)


def test_smoothgrad_seeded_reproducible_and_seed_matters():
    model, x = random_model("tinycnn"), random_image()
    a = explain(model, x, method="smoothgrad", target=1, n_samples=4, seed=7).map
    b = explain(model, x, method="smoothgrad", target=1, n_samples=4, seed=7).map
    c = explain(model, x, method="smoothgrad", target=1, n_samples=4, seed=8).map
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_smoothgrad_without_noise_equals_saliency():
    model, x = random_model("tinycnn"), random_image()
    sg = explain(model, x, method="smoothgrad", target=2, n_samples=2, noise_level=0.0).map
    sal = explain(model, x, method="saliency", target=2).map
    torch.testing.assert_close(sg, sal)


@pytest.mark.parametrize(
    "bad",
    [
        torch.rand(1, 32, 32),
        torch.rand(2, 3, 8, 8),
        torch.rand(3, 8, 8) * 3,
        torch.randint(0, 255, (3, 8, 8)),
    ],
)
def test_bad_inputs_rejected(bad):
    with pytest.raises(ValueError):
        explain(random_model("tinycnn"), bad, method="saliency", target=0)


def test_bad_target_and_method_rejected():
    model, x = random_model("tinycnn"), random_image()
    with pytest.raises(ValueError, match="outside"):
        explain(model, x, method="saliency", target=10)
    with pytest.raises(KeyError, match="choose one of"):
        explain(model, x, method="occlusion", target=0)
