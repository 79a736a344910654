"""Model parameter randomisation: blocks, copies that never touch the model, similarities."""

import json
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from sc_viz.explain import METHODS, explain
from sc_viz.explain.base import Method
from sc_viz.explain.sanity import (
    ORIGINAL,
    RandomisedTwin,
    borrowed_twin,
    flagged,
    map_similarity,
    randomisation_blocks,
    randomisation_test,
)

from .helpers import random_image, random_model


class EdgeMethod(Method):
    """A 'method' that never looks at the model: the Sobel edge magnitude of the image
    (Adebayo et al.'s edge-detector baseline). It must fail the sanity check."""

    name = "edges"

    def attribute(self, model, x, target):
        grey = x.mean(dim=1, keepdim=True)  # (1, 1, H, W)
        kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], device=x.device).view(1, 1, 3, 3)
        gx, gy = F.conv2d(grey, kx, padding=1), F.conv2d(grey, kx.transpose(2, 3), padding=1)
        return (gx**2 + gy**2).sqrt()[0, 0], {}  # (H, W)


@pytest.fixture
def edges(monkeypatch):
    monkeypatch.setitem(METHODS._items, "edges", EdgeMethod())
    return "edges"


RESNET20_BLOCKS = (
    ["net.fc"] + [f"net.layer{s}.{b}" for s in (3, 2, 1) for b in (2, 1, 0)] + ["net.bn1", "net.conv1"]
)
# TinyCNN's `features` is a Sequential: its layers are its blocks
TINYCNN_LAYERS = ["net.fc", "net.features.4", "net.features.3", "net.features.1", "net.features.0"]


def test_blocks_run_from_the_logits_down():
    model = random_model("resnet20")
    blocks = randomisation_blocks(model, random_image()[None])
    assert [b for b, _ in blocks] == RESNET20_BLOCKS
    # a residual block resets its layers top first, the projection shortcut included
    assert dict(blocks)["net.layer3.0"] == [
        "net.layer3.0.shortcut.1",
        "net.layer3.0.shortcut.0",
        "net.layer3.0.bn2",
        "net.layer3.0.conv2",
        "net.layer3.0.bn1",
        "net.layer3.0.conv1",
    ]
    layers = [
        b for b, _ in randomisation_blocks(random_model("tinycnn"), random_image()[None], granularity="layer")
    ]
    assert layers == TINYCNN_LAYERS
    assert [
        b for b, _ in randomisation_blocks(random_model("tinycnn"), random_image()[None])
    ] == TINYCNN_LAYERS


def trained_like(arch: str, seed: int = 0):
    """A random model whose BatchNorm scales and shifts are not their init values either
    (so re-initialising any block changes it, as it would a trained model's)."""
    model = random_model(arch, seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model


def _changed(model, twin) -> set[str]:
    """Names of the top-level blocks whose parameters differ between the two models."""
    trained = dict(model.named_parameters())
    out = set()
    for name, p in twin.named_parameters():
        if not torch.equal(p, trained[name]):
            out.add(next(b for b in RESNET20_BLOCKS if name.startswith(b + ".")))
    return out


def test_cascading_adds_a_block_per_step_and_independent_one_block_only():
    model = trained_like("resnet20", seed=1)
    x = random_image()[None]
    twin = RandomisedTwin(model, x)
    for k, (name, copy) in enumerate(twin.steps("cascading"), start=1):
        assert _changed(model, copy) == set(RESNET20_BLOCKS[:k]), name
    first_run = {k: v.clone() for k, v in copy.state_dict().items()}  # the whole cascade
    for name, copy in twin.steps("independent"):
        assert _changed(model, copy) == {name}
    *_, (_, copy) = twin.steps("cascading")  # again, from the weights drawn the first time
    assert all(torch.equal(first_run[k], v) for k, v in copy.state_dict().items())
    # the same seed gives the same random weights (reproducible), another seed others
    again = dict(next(RandomisedTwin(model, x).steps("cascading", seed=3))[1].named_parameters())
    other = dict(next(RandomisedTwin(model, x).steps("cascading", seed=4))[1].named_parameters())
    first = dict(next(RandomisedTwin(model, x).steps("cascading", seed=3))[1].named_parameters())
    assert torch.equal(again["net.fc.weight"], first["net.fc.weight"])
    assert not torch.equal(other["net.fc.weight"], first["net.fc.weight"])


def test_the_cached_model_is_never_touched():
    model = trained_like("tinycnn", seed=2)
    x = random_image(seed=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        logits = model(x[None])
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    for order in ("cascading", "independent"):
        calls = []
        res = randomisation_test(
            {"m": model},
            x,
            methods=["saliency", "gradcam"],
            targets={"m": 1},
            order=order,
            progress=lambda done, total, what, calls=calls: calls.append((done, total)),
        )
        assert res.steps == [ORIGINAL] + TINYCNN_LAYERS
        assert calls[-1] == (2 * len(res.steps), 2 * len(res.steps)) and len(calls) == calls[-1][0]
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    with torch.no_grad():
        assert torch.equal(model(x[None]), logits)
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()) == hooks
    assert not model.training
    # and its maps are what they were
    assert torch.equal(explain(model, x, method="saliency", target=1).map, res.maps["saliency"]["m"][0])


def test_similarity_definitions():
    a = torch.arange(64, dtype=torch.float32).reshape(8, 8) - 20.5  # signed
    s = map_similarity(a, a)
    assert s == pytest.approx({"spearman_abs": 1, "spearman": 1, "ssim": 1, "hog": 1})
    s = map_similarity(a, -a)
    assert s["spearman"] == pytest.approx(-1) and s["spearman_abs"] == pytest.approx(1)
    assert s["ssim"] == pytest.approx(1) and s["hog"] == pytest.approx(1)  # |map| the same
    s = map_similarity(a, 5 * a)  # scale-free: maps are scaled by their largest |value|
    assert s["ssim"] == pytest.approx(1) and s["spearman"] == pytest.approx(1)
    s = map_similarity(a, torch.ones(8, 8))
    assert math.isnan(s["spearman"]) and math.isnan(s["spearman_abs"])
    noise = torch.rand(32, 32, generator=torch.Generator().manual_seed(0))
    other = torch.rand(32, 32, generator=torch.Generator().manual_seed(1))
    s = map_similarity(noise, other)
    assert abs(s["spearman"]) < 0.15 and s["ssim"] < 0.2 and abs(s["hog"]) < 0.5
    from scipy.stats import spearmanr

    assert s["spearman"] == pytest.approx(spearmanr(noise.flatten(), other.flatten()).statistic)
    with pytest.raises(ValueError, match="unknown similarities"):
        map_similarity(a, a, ["pearson"])


def test_a_method_blind_to_the_model_is_flagged_and_gradients_are_not(edges):
    model = random_model("tinycnn", seed=3)
    res = randomisation_test(
        {"m": model}, random_image(seed=2), methods=["saliency", edges], targets={"m": 0}, keep_maps=False
    )
    assert res.similarity[edges]["m"]["spearman_abs"] == pytest.approx([1.0] * len(res.steps))
    assert flagged(res.final(edges, "m"))
    assert not flagged(res.final("saliency", "m"))
    assert len(res.maps["saliency"]["m"]) == 1  # keep_maps=False keeps the trained map only
    summary = res.summary()
    json.dumps(summary)  # JSON-ready for the export bundle
    assert summary["flagged"] == {"saliency": {"m": False}, edges: {"m": True}}
    assert summary["steps"] == res.steps and summary["targets"] == {"m": 0}
    assert not flagged(float("nan"))


class LayerScaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.gamma = nn.Parameter(torch.ones(1))  # no layer resets it

    def forward(self, x):
        return x + self.gamma * self.conv(x)


class TokenLike(nn.Module):
    """Parameters no layer resets, inside a block and outside every block (as a ViT's)."""

    def __init__(self):
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.blocks = nn.Sequential(LayerScaled(), LayerScaled())
        self.head = nn.Linear(3, 2)

    def forward(self, x):  # (N, 3, H, W) -> (N, 2)
        return self.head(self.blocks(x + self.offset).mean(dim=(2, 3)))


def test_parameters_no_layer_resets_are_randomised_too():
    model = TokenLike().eval()
    x = random_image(8, 8)[None]
    twin = RandomisedTwin(model, x)
    assert twin.blocks == [
        ("head", ["head"]),
        ("blocks.1", ["blocks.1.conv", "blocks.1.gamma"]),
        ("blocks.0", ["blocks.0.conv", "blocks.0.gamma"]),
        ("(loose parameters)", ["offset"]),
    ]
    *_, (_, last) = twin.steps("cascading")
    trained = dict(model.named_parameters())
    assert all(not torch.equal(p, trained[n]) for n, p in last.named_parameters())


def test_variants_of_different_architectures_are_refused():
    with pytest.raises(ValueError, match="other blocks"):
        randomisation_test(
            {"a": random_model("tinycnn"), "b": random_model("resnet20")},
            random_image(),
            methods=["saliency"],
            targets={"a": 0, "b": 0},
        )
    with pytest.raises(ValueError, match="order"):
        next(RandomisedTwin(random_model("tinycnn"), random_image()[None]).steps("bottom_up"))


@pytest.mark.parametrize("order", ["cascading", "independent"])
def test_the_maps_of_every_step_are_what_explain_gives(order):
    """The fast path (no target-check pass, IG without its convergence delta, twins lent from
    the pool) gives exactly the maps `explain` gives on the same randomised copies."""
    model = trained_like("tinycnn", seed=6)
    x = random_image(seed=8)
    options = {"ig": {"n_steps": 4}}
    methods = ["saliency", "gradcam", "ig"]
    res = randomisation_test({"m": model}, x, methods=methods, targets={"m": 2}, order=order, options=options)
    expected = {m: [explain(model, x, method=m, target=2, **options.get(m, {})).map] for m in methods}
    for _, copy in RandomisedTwin(model, x[None]).steps(order):  # a fresh twin, the same draws
        for m in methods:
            expected[m].append(explain(copy, x, method=m, target=2, **options.get(m, {})).map)
    for m in methods:
        assert len(res.maps[m]["m"]) == len(expected[m]) == len(res.steps)
        for step, ours, theirs in zip(res.steps, res.maps[m]["m"], expected[m]):
            assert torch.equal(ours, theirs), (m, step)
    assert "convergence_delta" in res.originals["ig"]["m"].extras  # the trained map keeps its extras


def test_twins_are_lent_one_caller_at_a_time_and_renewed_when_the_model_changes():
    model = trained_like("tinycnn", seed=7)
    x = random_image()[None]
    with borrowed_twin(model, x) as first:
        with borrowed_twin(model, x) as second:  # lent twice at once: a second twin
            assert second is not first
    with borrowed_twin(model, x) as again:
        assert again in (first, second)  # kept from the earlier calls
    with borrowed_twin(model, x, granularity="layer") as layered:
        assert layered not in (first, second)
    x_small = random_image(16, 16)[None]
    with borrowed_twin(model, x_small) as small:
        assert small not in (first, second)
    with torch.no_grad():
        model.net.fc.weight.mul_(2)  # the model's weights change in place: a new twin
    with borrowed_twin(model, x) as renewed:
        assert renewed not in (first, second)
        assert torch.equal(renewed.trained["net.fc.weight"], model.net.fc.weight)
    # and a test through the pool sees the changed model
    res = randomisation_test({"m": model}, x[0], methods=["saliency"], targets={"m": 1}, keep_maps=False)
    assert torch.equal(res.maps["saliency"]["m"][0], explain(model, x[0], method="saliency", target=1).map)


def test_randomisation_leaves_the_global_generator_as_it_was():
    model = trained_like("tinycnn", seed=8)
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    randomisation_test({"m": model}, random_image(), methods=["saliency"], targets={"m": 0})
    assert torch.equal(torch.rand(4), expected)


# ---------------------------------------------------------------- maps that cannot be judged
class NegativeHead(nn.Linear):
    """A head whose re-initialisation draws every weight negative (a random draw that can
    happen to any class's row): then Grad-CAM's weighted channel sum is negative everywhere."""

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.fill_(-1.0)
            self.bias.zero_()


class FlatWhenRandom(nn.Module):
    """One positive channel (softplus) read by the head; trained head weights are positive,
    so the trained model's Grad-CAM follows the channel; once the head is re-initialised its
    ReLU'd Grad-CAM is all zero (a constant map), whatever the conv's weights."""

    gradcam_layer = "features"

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 1, 3, padding=1), nn.Softplus())
        self.head = NegativeHead(1, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0], [0.5]]))

    def forward(self, x):  # (N, 3, H, W) -> (N, 2)
        return self.head(self.features(x).mean(dim=(2, 3)))


def test_a_map_flat_after_randomisation_cannot_be_judged_and_says_why():
    from sc_viz.explain.sanity import CANNOT_JUDGE, RELU_CAUSE, is_flat

    model = FlatWhenRandom().eval()
    res = randomisation_test(
        {"m": model}, random_image(16, 16, seed=1), methods=["gradcam", "saliency"], targets={"m": 0}
    )
    assert res.steps == [ORIGINAL, "head", "features.0"]
    maps = res.maps["gradcam"]["m"]
    assert not is_flat(maps[0]) and all(float(h.abs().max()) == 0 for h in maps[1:])  # all zero
    assert res.flat["gradcam"]["m"] == [False, True, True]
    assert res.relu_zero["gradcam"]["m"] == [False, True, True]
    assert math.isnan(res.final("gradcam", "m"))
    found = res.verdict("gradcam", "m")
    assert found.state == CANNOT_JUDGE != "passes"
    assert found.text == "cannot judge: the map is flat after step 1 (head)"
    assert found.flat_step == 1 and found.cause == RELU_CAUSE
    assert not flagged(res.final("gradcam", "m"))  # not flagged either: its own verdict
    # the gradient of the same model is not flat: judged as usual
    assert res.verdict("saliency", "m").state in ("passes", "flagged")
    summary = res.summary()
    json.dumps(summary)
    assert summary["flagged"]["gradcam"] == {"m": None}  # no flag, and no pass
    assert summary["verdict"]["gradcam"]["m"].startswith("cannot judge: the map is flat after step 1")
    assert summary["flat"]["gradcam"]["m"] == [False, True, True]


def test_the_verdict_of_each_final_similarity():
    from sc_viz.explain.sanity import CANNOT_JUDGE, FLAGGED, PASSES, RELU_CAUSE, verdict

    steps = [ORIGINAL, "net.fc", "net.layer1.0", "net.conv1"]
    assert verdict(0.7, 0.5, steps).state == FLAGGED
    assert verdict(0.2, 0.5, steps).state == PASSES
    assert verdict(-0.3, 0.5, steps).state == PASSES
    for undefined in (float("nan"), None):
        assert verdict(undefined, 0.5, steps).state == CANNOT_JUDGE
    # flat at fc, not at layer1.0, flat again at conv1: flat after step 3, the last
    flat = verdict(float("nan"), 0.5, steps, [False, True, False, True], [False, True, False, True])
    assert flat.text == "cannot judge: the map is flat after step 3 (conv1)" and flat.cause == RELU_CAUSE
    # a constant map that is not the ReLU's doing gets no cause
    other = verdict(float("nan"), 0.5, steps, [False, False, True, True], [False, False, False, False])
    assert other.text == "cannot judge: the map is flat after step 2 (layer1.0)" and other.cause == ""
    trained = verdict(float("nan"), 0.5, steps, [True, True, True, True])
    assert trained.text == "cannot judge: the trained model's map is flat" and trained.flat_step == 0
