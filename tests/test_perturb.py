import colorsys

import pytest
import torch

from sc_viz.perturb import LEVELS, PHOTOMETRIC, photometric, random_photometric

TABLE1 = {  # the paper's Table 1 (docs/method.md#perturbations), typed again to check sc_viz.paper
    "brightness": [16, 32, 48, 64],
    "contrast": [1.25, 1.50, 1.75, 2.0],
    "saturation": [1.25, 1.50, 1.75, 2.0],
    "hue": [0.1, 0.2, 0.3, 0.4],
}


def gray(x):  # ITU-R 601 luma with the rounding torchvision uses
    return 0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]


@pytest.fixture
def image():
    return torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def test_levels_are_table_1():
    assert list(PHOTOMETRIC.names()) == list(TABLE1)
    assert [LEVELS["brightness"][lv] * 255 for lv in (1, 2, 3, 4)] == pytest.approx(TABLE1["brightness"])
    for name in ("contrast", "saturation", "hue"):
        assert [LEVELS[name][lv] for lv in (1, 2, 3, 4)] == TABLE1[name]


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_brightness_adds_v_over_255_and_clamps(image, level):
    v = TABLE1["brightness"][level - 1] / 255
    out = photometric(image, "brightness", level)
    assert torch.allclose(out, (image + v).clamp(0, 1))
    assert out.max() <= 1.0
    flat = torch.full((1, 3, 2, 2), 0.25)
    assert torch.allclose(photometric(flat, "brightness", level), flat + v)


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_contrast_blends_with_mean_gray(image, level):
    f = TABLE1["contrast"][level - 1]
    mean = gray(image).mean(dim=(-2, -1))[:, None, None, None]
    expected = (f * image + (1 - f) * mean).clamp(0, 1)
    assert torch.allclose(photometric(image, "contrast", level), expected, atol=1e-5)


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_saturation_blends_with_per_pixel_gray(image, level):
    f = TABLE1["saturation"][level - 1]
    expected = (f * image + (1 - f) * gray(image)[:, None]).clamp(0, 1)
    assert torch.allclose(photometric(image, "saturation", level), expected, atol=1e-5)


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_hue_rotates_the_hue_circle(image, level):
    shift = TABLE1["hue"][level - 1]
    out = photometric(image, "hue", level)
    for i, y, x in [(0, 0, 0), (0, 3, 5), (1, 7, 2), (1, 4, 4)]:
        h, s, v = colorsys.rgb_to_hsv(*image[i, :, y, x].tolist())
        expected = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
        assert out[i, :, y, x].tolist() == pytest.approx(expected, abs=1e-4)


def test_unknown_name_and_level_are_refused(image):
    with pytest.raises(KeyError, match="brightness"):
        photometric(image, "blur", 1)
    with pytest.raises(ValueError, match="1-4"):
        photometric(image, "hue", 5)


def test_random_photometric_draws_one_of_the_sixteen_per_sample():
    x = torch.rand(32, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    out = random_photometric(x, torch.Generator().manual_seed(2))
    candidates = torch.stack([photometric(x, n, lv) for n in LEVELS for lv in (1, 2, 3, 4)])  # (16, N, ...)
    for i in range(len(x)):
        diffs = (candidates[:, i] - out[i]).abs().flatten(1).amax(1)
        assert diffs.min() < 1e-6
    again = random_photometric(x, torch.Generator().manual_seed(2))
    assert torch.equal(out, again)
    only = random_photometric(x, torch.Generator().manual_seed(3), names=["brightness"], levels=[2])
    assert torch.allclose(only, photometric(x, "brightness", 2))
