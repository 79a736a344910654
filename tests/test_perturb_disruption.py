"""The disruption transforms of Sec. 4.3 against their definitions."""

import pytest
import torch

from sc_viz.perturb import centre_noise, channel_shift, sliding_puzzle


def image(n=2, side=12, seed=0):
    return torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("d", [0, 1, 3, 5])
def test_channel_shift_moves_r_by_d_and_b_by_2d_with_wrap_around(d):
    x = image()
    out = channel_shift(x, d)
    side = x.shape[-1]
    for i in range(side):
        for j in range(side):
            # pixel (i, j) of the shifted R came from (i - d, j - d), modulo the side
            assert torch.equal(out[:, 0, i, j], x[:, 0, (i - d) % side, (j - d) % side])
            assert torch.equal(out[:, 2, i, j], x[:, 2, (i - 2 * d) % side, (j - 2 * d) % side])
    assert torch.equal(out[:, 1], x[:, 1])  # G untouched
    # wrap-around loses nothing: every channel keeps its multiset of values
    for c in range(3):
        assert torch.equal(out[:, c].flatten(1).sort(1).values, x[:, c].flatten(1).sort(1).values)
    assert torch.equal(channel_shift(x, side), channel_shift(x, 0))  # a full turn


@pytest.mark.parametrize("fraction, side", [(0.25, 32), (0.5, 32), (0.5, 28), (0.75, 12)])
def test_centre_noise_replaces_the_central_square_and_keeps_the_border(fraction, side):
    x = torch.full((3, 3, side, side), -1.0)  # outside [0, 1]: noise can never equal it
    out = centre_noise(x, fraction, generator=torch.Generator().manual_seed(0))
    s = round(fraction * side)
    top = (side - s) // 2
    inside = torch.zeros(side, side, dtype=torch.bool)
    inside[top : top + s, top : top + s] = True
    assert (out[..., inside] >= 0).all() and (out[..., inside] <= 1).all()  # U[0, 1] noise
    assert torch.equal(out[..., ~inside], x[..., ~inside])  # border untouched
    assert out[..., inside].std() > 0.2  # noise, not a constant (U[0,1] std = 0.29)
    assert abs(top - (side - top - s)) <= 1  # centred


def test_centre_noise_is_seeded():
    x = image()
    a = centre_noise(x, 0.5, generator=torch.Generator().manual_seed(3))
    b = centre_noise(x, 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(centre_noise(x, 0.0), x)


def blocks(x, k):  # (N, 3, H, W) -> (N, k*k, 3, H/k, W/k) in row-major block order
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, k, h // k, k, w // k).permute(0, 2, 4, 1, 3, 5)  # (N, k, k, C, h/k, w/k)
    return blocks.reshape(n, k * k, c, h // k, w // k)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_sliding_puzzle_is_a_permutation_of_blocks(k):
    x = image(n=3, side=12)
    out = sliding_puzzle(x, k, generator=torch.Generator().manual_seed(1))
    src, dst = blocks(x, k), blocks(out, k)
    for i in range(len(x)):
        used = []
        for b in range(k * k):  # every output block is exactly one input block
            match = [a for a in range(k * k) if torch.equal(dst[i, b], src[i, a])]
            assert len(match) == 1
            used.append(match[0])
        assert sorted(used) == list(range(k * k))  # each input block used once
    # every pixel kept: same multiset of values per image and channel
    assert torch.equal(out.flatten(2).sort(2).values, x.flatten(2).sort(2).values)
    assert not torch.equal(out, x)  # something moved


def test_sliding_puzzle_keeps_the_remainder_strip():
    x = image(n=1, side=13)
    out = sliding_puzzle(x, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[..., 12:, :], x[..., 12:, :])
    assert torch.equal(out[..., :, 12:], x[..., :, 12:])
