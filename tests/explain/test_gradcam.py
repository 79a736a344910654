import pytest
import torch

from sc_viz.explain import explain

from .helpers import ARCHS, ChannelMeanModel, random_image, random_model


def test_known_answer_on_hand_built_model():
    """A = red channel, logit = mean(A): weight = 1/(HW), cam = ReLU(A / (HW))."""
    model, x = ChannelMeanModel().eval(), random_image(9, 13)
    exp = explain(model, x, method="gradcam", target=0)
    torch.testing.assert_close(exp.map, x[0] / (9 * 13))
    torch.testing.assert_close(exp.extras["low_res"], x[0] / (9 * 13))
    assert exp.extras["layer"] == "features" and not exp.signed
    # the other class's logit is constant: no gradient, an all-zero map
    assert explain(model, x, method="gradcam", target=1).map.abs().max() == 0


@pytest.mark.parametrize(
    "arch,layer,stride",
    [("tinycnn", "net.features", 2), ("resnet20", "net.layer3", 4), ("resnet18", "net.layer4", 8)],
)
def test_default_layer_and_shapes(arch, layer, stride):
    model = random_model(arch)
    for h, w in [(24, 40), (33, 31)] if arch != "resnet18" else [(17, 22)]:
        exp = explain(model, random_image(h, w), method="gradcam", target=1)
        assert exp.map.shape == (h, w) and (exp.map >= 0).all()
        assert exp.extras["layer"] == layer
        low = exp.extras["low_res"].shape
        assert low == (-(-h // stride), -(-w // stride))


def test_layer_override_and_bad_layer():
    model, x = random_model("resnet20"), random_image()
    exp = explain(model, x, method="gradcam", target=0, layer="net.layer2")
    assert exp.extras["low_res"].shape == (16, 16) and exp.map.shape == (32, 32)
    with pytest.raises(ValueError, match="no layer"):
        explain(model, x, method="gradcam", target=0, layer="net.layer9")


@pytest.mark.parametrize("arch", ARCHS)
def test_matches_manual_gradcam(arch):
    model, x = random_model(arch, seed=1), random_image(seed=1)
    layer = model.get_submodule(model.gradcam_layer)
    saved = {}
    handle = layer.register_forward_hook(lambda m, i, o: saved.update(a=o))
    try:
        logit = model(x[None])[0, 7]
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(logit, saved["a"])  # (1, K, h, w)
    cam = (grad.mean(dim=(2, 3), keepdim=True) * saved["a"]).sum(1).clamp(min=0)[0]
    exp = explain(model, x, method="gradcam", target=7)
    torch.testing.assert_close(exp.extras["low_res"], cam.detach(), atol=1e-6, rtol=1e-4)
