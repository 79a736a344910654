import pytest
import torch
import torch.nn as nn

from sc_viz.explain import explain, explain_grid

from .helpers import random_image, random_model

BLOCK = 8  # the synthetic image is a 4 x 4 mosaic of 8 x 8 single-colour blocks
INFORMATIVE = (slice(8, 16), slice(16, 24))  # block (row 1, column 2)


def mosaic() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    colours = 0.3 + 0.7 * torch.rand(16, 3, generator=g)  # bright, well apart from black
    x = colours.view(4, 4, 3).permute(2, 0, 1)  # (3, 4, 4)
    return x.repeat_interleave(BLOCK, 1).repeat_interleave(BLOCK, 2).contiguous()  # (3, 32, 32)


class OneBlockModel(nn.Module):
    """Class 1's logit reads only the informative block; class 0's is constant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, 32, 32) -> (N, 2)
        a = 8.0 * x[:, :, INFORMATIVE[0], INFORMATIVE[1]].mean(dim=(1, 2, 3)) - 2.0  # (N,)
        return torch.stack([torch.zeros_like(a), a], dim=1)


def test_recovers_the_informative_segment():
    x = mosaic()
    exp = explain(
        OneBlockModel(), x, method="lime", target=1, n_samples=300, n_segments=16, hide_color=0.0, seed=1
    )
    seg, w = exp.extras["segments"], exp.extras["weights"]
    assert seg.shape == (32, 32) and w.shape == (int(seg.max()) + 1,)
    inside = torch.zeros(32, 32, dtype=torch.bool)
    inside[INFORMATIVE] = True
    inside_segments = set(seg[inside].tolist())
    assert set(seg[~inside].tolist()).isdisjoint(inside_segments)  # SLIC found the block
    outside = [s for s in range(len(w)) if s not in inside_segments]
    best = int(w.argmax())
    assert best in inside_segments and w[best] > 0.3
    assert w[outside].abs().max() < 0.1 * w[best]
    torch.testing.assert_close(exp.map, w[seg])  # the map paints segments with weights
    assert exp.map[INFORMATIVE].mean() > 10 * exp.map[~inside].abs().mean()


def test_seeded_reproducible():
    model, x = random_model("tinycnn"), random_image()
    a = explain(model, x, method="lime", target=3, n_samples=60, seed=4)
    b = explain(model, x, method="lime", target=3, n_samples=60, seed=4)
    torch.testing.assert_close(a.map, b.map)
    assert a.signed and a.map.shape == (32, 32)


@pytest.mark.parametrize("h,w", [(21, 27), (32, 32)])
def test_shapes_odd_sizes_resnet20(h, w):
    exp = explain(random_model("resnet20"), random_image(h, w), method="lime", target=0, n_samples=40)
    assert exp.map.shape == (h, w) and exp.extras["segments"].shape == (h, w)


def test_grid_shares_segmentation_and_samples():
    """In the grid every variant sees the same samples: each map equals the one the
    variant gets alone with the same seed, and all share one segmentation."""
    models = {"a": random_model("tinycnn", 0), "b": random_model("tinycnn", 1)}
    x = mosaic()
    grid = explain_grid(
        models,
        x,
        methods=["lime"],
        target=2,
        options={"lime": {"n_samples": 80, "seed": 3, "hide_color": 0.0}},
    )
    alone = {
        v: explain(m, x, method="lime", target=2, n_samples=80, seed=3, hide_color=0.0)
        for v, m in models.items()
    }
    assert torch.equal(grid["a", "lime"].extras["segments"], grid["b", "lime"].extras["segments"])
    for v in models:
        torch.testing.assert_close(grid[v, "lime"].map, alone[v].map, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(grid["a", "lime"].map, grid["b", "lime"].map)


def test_bad_options():
    with pytest.raises(ValueError, match="segmentation"):
        explain(OneBlockModel(), mosaic(), method="lime", target=1, segmentation="watershed")
    with pytest.raises(ValueError, match="n_samples"):
        explain(OneBlockModel(), mosaic(), method="lime", target=1, n_samples=1)


def test_bf16_scoring_keeps_the_explanation(data_root):
    """bf16 autocast only rounds the probabilities the ridge fit sees: on a trained model
    the segment weights match fp32 scoring closely (same samples, same segmentation)."""
    from scipy.stats import spearmanr

    from sc_viz.data import load_split
    from sc_viz.packs import load_pack

    model = load_pack("checkpoints/cifar10-resnet20", device="cpu").models["standard"]
    split = load_split("cifar10", "test", data_root)
    for i in (0, 1, 2):
        x = split.get(i)
        full = explain(
            model, x, method="lime", target=int(split.labels[i]), n_samples=300, seed=0, precision="fp32"
        )
        half = explain(
            model, x, method="lime", target=int(split.labels[i]), n_samples=300, seed=0, precision="bf16"
        )
        assert full.extras["precision"] == "fp32" and half.extras["precision"] == "bf16"
        assert torch.equal(full.extras["segments"], half.extras["segments"])
        wf, wh = full.extras["weights"], half.extras["weights"]
        assert spearmanr(wf.numpy(), wh.numpy()).statistic > 0.95
        assert (wf - wh).abs().max() < 0.1 * wf.abs().max()


def test_bad_precision():
    with pytest.raises(ValueError, match="precision"):
        explain(OneBlockModel(), mosaic(), method="lime", target=1, precision="fp8")
