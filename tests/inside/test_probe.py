"""Neuron sensitivity at evaluation time: hand-computed values, hooks gone afterwards,
default layers of the CIFAR and torchvision ResNets."""

import pytest
import torch
import torch.nn as nn

from sc_viz.attacks import PGDConfig
from sc_viz.inside.probe import probe_batches, probe_image, probe_images, top_mean
from sc_viz.inside.sensitivity import sensitivity_layers

EPS = 0.05


class OneLayer(nn.Module):
    """A 1x1 conv (R -> channel 0 with weight 1, G -> channel 1 with weight 2, B unused),
    then logits (a, -a) with a = the mean of the conv output. The input gradient of either
    class's CE has the sign of (1, 2, 0) per colour, so PGD moves R and G by exactly eps
    and leaves B alone: by hand, sigma = (1 * eps, 2 * eps)."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            self.conv.weight.copy_(scale * torch.tensor([[1.0, 0, 0], [0, 2.0, 0]])[:, :, None, None])
            self.conv.bias.copy_(torch.tensor([0.3, -0.1]))

    def forward(self, x):  # (N, 3, H, W) -> (N, 2)
        a = self.conv(x).mean(dim=(1, 2, 3))  # (N,)
        return torch.stack([a, -a], dim=1)


class TwiceReLU(nn.Module):
    """One ReLU module run twice per pass: its output is ambiguous, the probe refuses it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.act(self.act(self.conv(x))).mean(dim=(2, 3)))


def images(n: int = 6, side: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = 0.2 + 0.6 * torch.rand(n, 3, side, side, generator=g)  # away from the clamp at 0 and 1
    return x, torch.arange(n) % 2


def one_step(eps: float = EPS) -> PGDConfig:
    return PGDConfig(eps=eps, step_size=eps, steps=1, random_start=False)


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_sensitivity_of_a_one_layer_net_equals_the_hand_computation():
    x, y = images()
    model = OneLayer().eval()
    assert sensitivity_layers(model) == ["conv"]
    probe = probe_images(model, x, y, one_step(), batch_size=4)  # two batches: 4 + 2
    assert probe.n == 6 and probe.distances["conv"].shape == (6, 2)
    hand = torch.tensor([1 * EPS, 2 * EPS])
    for i in range(6):
        assert probe.distances["conv"][i] == pytest.approx(hand, abs=1e-5)
    assert probe.sigma("conv") == pytest.approx(hand, abs=1e-5)
    summary = probe.layer_summary("conv", fraction=0.5)
    assert summary["mean"] == pytest.approx(1.5 * EPS, abs=1e-5)
    assert summary["top"] == pytest.approx(2 * EPS, abs=1e-5)  # the top half: channel 1
    # relative: sigma's mean over the mean |F(x)| of the layer, F(x) by hand
    with torch.no_grad():
        scale = model.conv(x).abs().mean().item()
    assert summary["relative"] == pytest.approx(1.5 * EPS / scale, rel=1e-4)
    # the predictions are recorded too: a = mean conv output > 0 here, so class 0 on x
    assert probe.clean_correct.tolist() == [bool(label == 0) for label in y]


def test_the_paper_pgd_moves_to_the_corner_and_halving_the_weights_halves_sigma():
    x, y = images(4)
    cfg = PGDConfig(eps=8 / 255, step_size=2 / 255, steps=10, random_start=True)
    g = torch.Generator().manual_seed(0)
    full = probe_images(OneLayer().eval(), x, y, cfg, generator=g).sigma("conv")
    half = probe_images(OneLayer(0.5).eval(), x, y, cfg, generator=g).sigma("conv")
    assert full == pytest.approx(torch.tensor([8 / 255, 16 / 255]), abs=1e-5)
    assert half == pytest.approx(full / 2, abs=1e-5)


def test_hooks_are_removed_after_success_and_after_an_error():
    model, x = OneLayer().eval(), images()[0]
    before = hook_count(model)
    probe_images(model, x, torch.zeros(6, dtype=torch.long), one_step())
    assert hook_count(model) == before

    def failing_batches():
        yield x[:2], torch.zeros(2, dtype=torch.long)
        raise RuntimeError("data source broke")

    with pytest.raises(RuntimeError, match="data source broke"):
        probe_batches(model, failing_batches(), one_step())
    assert hook_count(model) == before

    twice = TwiceReLU().eval()
    with pytest.raises(ValueError, match="more than once"):  # raised inside the hook
        probe_images(twice, x, torch.zeros(6, dtype=torch.long), one_step(), layers=["act"])
    assert hook_count(twice) == 0
    with pytest.raises(ValueError, match="no module named"):
        probe_images(model, x, torch.zeros(6, dtype=torch.long), one_step(), layers=["nope"])
    assert hook_count(model) == before
    # the model's lock was released: an exclusive user gets it at once
    from sc_viz.model_run import using_model

    with using_model(model, exclusive=True):
        pass


def test_one_image_view_agrees_with_the_batched_probe_and_follows_given_channels():
    x, y = images(3)
    model = OneLayer().eval()
    batched = probe_images(model, x, y, one_step())
    view = probe_image(model, x[1], "conv", one_step(), label=int(y[1]), top_k=1)
    assert view.distances["conv"] == pytest.approx(batched.distances["conv"][1], abs=1e-6)
    assert view.channels == [1]  # channel 1 moves twice as far
    assert view.maps_clean.shape == view.maps_adversarial.shape == (1, 8, 8)
    assert view.channel_distances() == pytest.approx([2 * EPS], abs=1e-5)
    # the map difference is the distance, by hand: |2 * (-eps or +eps)| everywhere
    assert (view.maps_clean - view.maps_adversarial).abs() == pytest.approx(
        torch.full((1, 8, 8), 2 * EPS), abs=1e-5
    )
    followed = probe_image(model, x[1], "conv", one_step(), channels=[0, 1], x_adv=view.x_adv)
    assert followed.channels == [0, 1] and followed.maps_clean.shape == (2, 8, 8)
    assert followed.x_adv.equal(view.x_adv)
    assert hook_count(model) == 0


@pytest.mark.parametrize("arch", ["resnet20", "torchvision:resnet18"])
def test_default_layers_of_cifar_and_torchvision_resnets(arch):
    torch.manual_seed(0)
    if arch == "resnet20":
        from sc_viz.models import build_model

        model = build_model("resnet20", 10, [0.5] * 3, [0.25] * 3).eval()
        stem, blocks = "net.conv1", 9
    else:
        import torchvision

        model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
        stem, blocks = "conv1", 8
    layers = sensitivity_layers(model)
    assert layers[0] == stem and len(layers) == 1 + blocks
    x, y = images(2, side=32)
    probe = probe_images(model, x, y, one_step(2 / 255))
    for layer in layers:
        assert probe.distances[layer].shape[0] == 2
        assert (probe.distances[layer] >= 0).all() and probe.sigma(layer).sum() > 0
    assert hook_count(model) == 0
    summary = probe.summary()
    assert set(summary) == set(layers)
    assert all(s["top"] >= s["mean"] for s in summary.values())


def test_top_mean():
    assert top_mean(torch.tensor([1.0, 5.0, 3.0, 2.0]), 0.5) == pytest.approx(4.0)
    assert top_mean(torch.tensor([1.0, 5.0, 3.0]), 0.01) == pytest.approx(5.0)  # at least one
