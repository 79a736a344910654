import pytest
import torch

from sc_viz.explain import explain
from sc_viz.explain.ig import make_baseline

from .helpers import ARCHS, SIZES, random_image, random_model


@pytest.mark.parametrize("arch", ARCHS)
def test_shapes_every_arch_odd_sizes(arch):
    model = random_model(arch)
    for h, w in SIZES[arch]:
        exp = explain(model, random_image(h, w), method="ig", target=4, n_steps=4)
        assert exp.map.shape == (h, w) and exp.signed
        assert exp.extras["attributions"].shape == (3, h, w)
        torch.testing.assert_close(exp.map, exp.extras["attributions"].sum(0))


@pytest.mark.parametrize("arch", ["tinycnn", "resnet20"])
@pytest.mark.parametrize("baseline", ["black", "blur", 0.5])
def test_completeness(arch, baseline):
    """sum of attributions ~= f(x)_t - f(baseline)_t (the IG axiom)."""
    model, x = random_model(arch, seed=3), random_image(seed=3)
    exp = explain(model, x, method="ig", target=6, n_steps=64, baseline=baseline)
    with torch.no_grad():
        gap = (model(x[None]) - model(make_baseline(x[None], baseline)))[0, 6].item()
    total = exp.extras["attributions"].sum().item()
    assert total == pytest.approx(gap, abs=0.02 * abs(gap) + 1e-4)
    assert abs(exp.extras["convergence_delta"]) == pytest.approx(abs(total - gap), abs=1e-4)


def test_linear_model_attribution_is_exact():
    """For f(x) = w . x, IG from zero is exactly w * x."""
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 5 * 7, 2, bias=False)).eval()
    x = random_image(5, 7)
    exp = explain(lin, x, method="ig", target=1, n_steps=8)
    expected = (lin[1].weight[1].view(3, 5, 7) * x).detach()
    torch.testing.assert_close(exp.extras["attributions"], expected, atol=1e-5, rtol=1e-4)


def test_small_batches_give_the_same_answer():
    model, x = random_model("tinycnn"), random_image()
    a = explain(model, x, method="ig", target=2, n_steps=10).map
    b = explain(model, x, method="ig", target=2, n_steps=10, batch_size=3).map
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)


def test_bad_options():
    model, x = random_model("tinycnn"), random_image()
    with pytest.raises(ValueError, match="n_steps"):
        explain(model, x, method="ig", target=0, n_steps=0)
    with pytest.raises(ValueError, match="baseline"):
        explain(model, x, method="ig", target=0, baseline="white-noise")
    with pytest.raises(TypeError):
        explain(model, x, method="ig", target=0, n_stepz=5)


def test_bf16_passes_keep_the_map(data_root):
    """precision "bf16" runs IG's passes under bf16 autocast (the app's "auto" on a CPU
    with native bf16): on a trained model the map ranks pixels as the fp32 map does."""
    from scipy.stats import spearmanr

    from sc_viz.data import load_split
    from sc_viz.packs import load_pack

    pack = load_pack("checkpoints/cifar10-resnet20", device="cpu")
    split = load_split("cifar10", "test", data_root)
    for variant in ("standard", "adv"):
        for i in (0, 500, 1000):
            x, t = split.get(i), int(split.labels[i])
            full = explain(pack.models[variant], x, method="ig", target=t, n_steps=32)
            half = explain(pack.models[variant], x, method="ig", target=t, n_steps=32, precision="bf16")
            assert full.extras["precision"] == "fp32" and half.extras["precision"] == "bf16"
            assert not torch.equal(full.map, half.map)  # the passes did run in bf16
            assert spearmanr(full.map.flatten(), half.map.flatten()).statistic > 0.99
    with pytest.raises(ValueError, match="precision"):
        explain(pack.models["c"], split.get(0), method="ig", target=0, precision="fp8")
