"""Neuron sensitivity: the per-channel formula on a net small enough to do by hand, the
layers it hooks, and hooks that never outlive their block."""

import pytest
import torch
import torch.nn as nn

from sc_viz.inside.sensitivity import (
    channel_sensitivity,
    layer_sensitivity,
    recorded_features,
    sensitivity_layers,
    top_fraction_mean,
)
from sc_viz.models import build_model


def hooks_left(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_one_layer_sensitivity_is_the_formula_by_hand():
    # F(x) = W x per pixel (1x1 conv, no bias); x' = x + d with d the same at every pixel,
    # so |F(x) - F(x')|[m] = |sum_c W[m, c] d[c]| everywhere.
    conv = nn.Conv2d(3, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 1.0]]).view(2, 3, 1, 1))
    model = nn.Sequential(conv)
    x = torch.rand(4, 3, 5, 5)
    d = torch.tensor([0.1, -0.2, 0.3]).view(1, 3, 1, 1)
    sigma = layer_sensitivity(model, x, x + d, ["0"])["0"]
    # channel 0: |0.1 - 0.2 + 0.3| = 0.2; channel 1: |0.3| = 0.3
    assert torch.allclose(sigma, torch.tensor([0.2, 0.3]), atol=1e-6)


def test_sensitivity_averages_over_pairs_and_positions():
    a = torch.zeros(2, 1, 2, 2)
    b = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]], [[[1.0, 1.0], [1.0, 1.0]]]])
    # image 1: mean |diff| = 0.25; image 2: 1.0; over the pairs: 0.625
    assert torch.allclose(channel_sensitivity(a, b), torch.tensor([0.625]))


def test_top_fraction_mean_takes_the_largest_channels_and_keeps_their_gradient():
    sigma = torch.tensor([1.0, 5.0, 3.0, 2.0, 4.0, 0.0, 0.5, 0.1, 0.2, 0.3], requires_grad=True)
    top = top_fraction_mean(sigma, 0.2)  # the top 2 of 10: (5 + 4) / 2
    assert top.item() == pytest.approx(4.5)
    top.backward()
    assert sigma.grad.tolist() == [0, 0.5, 0, 0, 0.5, 0, 0, 0, 0, 0]
    assert top_fraction_mean(sigma, 0.01).item() == 5.0  # at least one channel


def test_layers_are_the_stem_and_every_residual_block():
    r20 = build_model("resnet20", 10, (0.5,) * 3, (0.25,) * 3)
    blocks = [f"net.layer{s}.{b}" for s in (1, 2, 3) for b in range(3)]
    assert sensitivity_layers(r20) == ["net.conv1", *blocks]
    tiny = build_model("tinycnn", 10, (0.5,) * 3, (0.25,) * 3)  # no residual blocks: every conv
    assert sensitivity_layers(tiny) == ["net.features.0", "net.features.3"]


def test_recorded_features_hold_each_layer_output_and_remove_their_hooks():
    model = build_model("resnet20", 10, (0.5,) * 3, (0.25,) * 3).eval()
    layers = sensitivity_layers(model)
    with recorded_features(model, layers) as feats:
        assert hooks_left(model) == len(layers)
        model(torch.rand(2, 3, 32, 32))
    assert hooks_left(model) == 0
    assert feats["net.conv1"].shape == (2, 16, 32, 32) and feats["net.layer3.2"].shape == (2, 64, 8, 8)


def test_no_hook_is_left_when_the_forward_pass_raises():
    model = build_model("tinycnn", 10, (0.5,) * 3, (0.25,) * 3)
    with pytest.raises(RuntimeError):
        with recorded_features(model, sensitivity_layers(model)):
            model(torch.rand(2, 4, 32, 32))  # 4 channels: the first conv raises
    assert hooks_left(model) == 0
