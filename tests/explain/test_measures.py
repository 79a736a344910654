import math

import pytest
import torch
import torch.nn as nn

from sc_viz.explain.measures import centre_share, deletion_insertion, gini, measure_map, total_variation


def test_total_variation_hand_computed():
    # [[1, 0], [0, 1]] / 2: two vertical and two horizontal steps of 0.5 -> 2.0
    assert total_variation(torch.tensor([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(2.0)
    assert total_variation(torch.full((5, 7), 3.0)) == 0.0
    # scale-free: the L1 normalisation removes units (and sign flips change nothing)
    m = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]])
    # m / 7: vertical |0-1|+|1-2|+|3-0| = 5, horizontal |2-1|+|0-2|+|1-0|+|3-1| = 6 -> 11/7
    assert total_variation(m) == pytest.approx(11 / 7)
    assert total_variation(-10 * m) == pytest.approx(11 / 7)


def test_gini_hand_computed():
    assert gini(torch.ones(4, 4)) == pytest.approx(0.0, abs=1e-12)
    one_hot = torch.zeros(2, 2)
    one_hot[1, 0] = -5.0
    assert gini(one_hot) == pytest.approx(3 / 4)  # (n - 1) / n
    # |a| sorted = 1, 2, 3, 4: 2 * (1 + 4 + 9 + 16) / (4 * 10) - 5 / 4 = 0.25
    assert gini(torch.tensor([[4.0, -1.0], [3.0, 2.0]])) == pytest.approx(0.25)
    assert gini(torch.zeros(3, 3)) == 0.0


def test_centre_share_hand_computed():
    assert centre_share(torch.ones(8, 8)) == pytest.approx(0.25)
    centre = torch.zeros(4, 4)
    centre[1:3, 1:3] = -1.0
    assert centre_share(centre) == pytest.approx(1.0)
    # 5 x 6: box of 2 x 3 at rows 1-2, columns 1-3; one unit inside, three outside
    m = torch.zeros(5, 6)
    m[2, 2], m[0, 0], m[4, 5], m[2, 5] = 1.0, 1.0, 1.0, 1.0
    assert centre_share(m) == pytest.approx(0.25)


class CountBright(nn.Module):
    """logit_1 = sum of the pixels' channel means, logit_0 = 0: p_1 = sigmoid(sum)."""

    def forward(self, x):  # (N, 3, H, W) -> (N, 2)
        s = x.mean(dim=1).sum(dim=(1, 2))
        return torch.stack([torch.zeros_like(s), s], dim=1)


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_deletion_insertion_hand_computed():
    """A 2 x 2 white image, 4 steps = one pixel per step. Deletion to black leaves
    4, 3, 2, 1, 0 bright pixels; insertion from grey 0.5 goes 2, 2.5, 3, 3.5, 4."""
    x = torch.ones(3, 2, 2)
    heat = torch.tensor([[4.0, 3.0], [2.0, 1.0]])
    out = deletion_insertion(
        CountBright(), x, heat, 1, steps=4, deletion_baseline="black", insertion_baseline=0.5
    )
    dele = [sigmoid(v) for v in (4, 3, 2, 1, 0)]
    ins = [sigmoid(v) for v in (2, 2.5, 3, 3.5, 4)]
    trap = lambda p: sum((p[i] + p[i + 1]) / 2 for i in range(4)) / 4  # noqa: E731
    assert out["deletion_auc"] == pytest.approx(trap(dele), abs=1e-6)
    assert out["insertion_auc"] == pytest.approx(trap(ins), abs=1e-6)


class OnePixel(nn.Module):
    def forward(self, x):  # logit_1 = 20 * (pixel (3, 4) red - 0.5)
        v = 20 * (x[:, 0, 3, 4] - 0.5)
        return torch.stack([torch.zeros_like(v), v], dim=1)


def test_faithful_map_beats_unfaithful_one():
    x = torch.ones(3, 6, 8)
    good = torch.zeros(6, 8)
    good[3, 4] = 1.0
    bad = torch.rand(6, 8, generator=torch.Generator().manual_seed(0)) + 0.1
    bad[3, 4] = 0.0
    # (a blur of a flat image is the image itself, so insertion starts from black here)
    m_good = measure_map(OnePixel(), x, good, 1, steps=8, insertion_baseline="black")
    m_bad = measure_map(OnePixel(), x, bad, 1, steps=8, insertion_baseline="black")
    assert m_good["deletion_auc"] < 0.1 < 0.8 < m_bad["deletion_auc"]
    assert m_good["insertion_auc"] > 0.8 > 0.2 > m_bad["insertion_auc"]
    assert set(m_good) == {"total_variation", "gini", "centre_share", "deletion_auc", "insertion_auc"}


def test_without_model_and_bad_input():
    out = measure_map(None, torch.rand(3, 4, 4), torch.rand(4, 4), 0)
    assert set(out) == {"total_variation", "gini", "centre_share"}
    with pytest.raises(ValueError, match="does not match"):
        deletion_insertion(CountBright(), torch.rand(3, 4, 4), torch.rand(5, 4), 1)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        gini(torch.rand(3, 4, 4))
