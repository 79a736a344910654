import numpy as np
import pytest
import torch
from PIL import Image

from sc_viz.data import (
    DATASETS,
    DataNotFound,
    center_resize,
    iterate_batches,
    load_split,
    random_crop_flip,
    seeded_subset,
)


def test_cifar10_image_folder_is_the_full_test_set(cifar_test):
    assert cifar_test.images.shape == (10000, 3, 32, 32) and cifar_test.images.dtype == torch.uint8
    assert cifar_test.classes == [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    assert torch.bincount(cifar_test.labels).tolist() == [1000] * 10


def test_image_folder_and_its_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SC_VIZ_CACHE", str(tmp_path / "cache"))
    for split, n in (("train", 3), ("test", 2)):
        for label, colour in (("blue", (0, 0, 255)), ("red", (255, 0, 0))):
            d = tmp_path / "data" / split / label
            d.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (40, 20), colour).save(d / f"{i}.png")
    first = load_split("imagefolder", "test", tmp_path / "data", 16)
    assert first.classes == ["blue", "red"] and first.images.shape == (4, 3, 16, 16)
    assert first.images[0, 2].float().mean() == 255 and first.images[2, 0].float().mean() == 255
    assert list((tmp_path / "cache" / "arrays").glob("*.npz"))
    again = load_split("imagefolder", "test", tmp_path / "data", 16)
    assert torch.equal(first.images, again.images)


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(DataNotFound, match="val"):
        load_split("imagefolder", "test", tmp_path, 32)
    with pytest.raises(KeyError, match="cifar10, cifar100"):
        DATASETS["mnist-typo"]


def test_fashion_mnist_reads_the_debian_files(data_root):
    split = load_split("fashion-mnist", "test", data_root)
    assert split.images.shape == (10000, 3, 28, 28)
    assert torch.bincount(split.labels).tolist() == [1000] * 10
    assert torch.equal(split.images[:, 0], split.images[:, 2])  # grey replicated to RGB


def test_center_resize_keeps_the_centre_without_huge_intermediates():
    strip = np.zeros((5000, 1, 3), dtype=np.uint8)
    strip[2400:2600] = 255  # a white band in the middle of a 1 x 5000 strip
    out = np.asarray(center_resize(Image.fromarray(strip), 32))
    assert out.shape == (32, 32, 3) and out.mean() > 200


def test_batches_shard_and_augment_deterministically(cifar_test):
    split = seeded_subset(cifar_test, 100, seed=0)
    seen = []
    for rank in (0, 1):
        for x, y in iterate_batches(
            split,
            16,
            shuffle=True,
            augment=False,
            generator=torch.Generator().manual_seed(3),
            rank=rank,
            world=2,
        ):
            assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
            seen.append(y)
    assert sum(len(y) for y in seen) == 100  # disjoint equal shards cover everything
    x = split.images[:8].float() / 255
    a = random_crop_flip(x, torch.Generator().manual_seed(0))
    b = random_crop_flip(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
