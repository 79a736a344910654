import pytest
import torch

from sc_viz.app import gallery


def test_class_indices_and_image_at(cifar_test):
    idx = gallery.class_indices(cifar_test, 3, limit=5)
    assert len(idx) == 5 and all(int(cifar_test.labels[i]) == 3 for i in idx)
    pil, x, label = gallery.image_at(cifar_test, idx[0])
    assert pil.size == (32, 32) and x.shape == (1, 3, 32, 32) and label == 3
    assert 0 <= x.min() and x.max() <= 1
    with pytest.raises(IndexError):
        gallery.image_at(cifar_test, len(cifar_test))


def test_same_class_excludes_the_image(cifar_test):
    idx = gallery.class_indices(cifar_test, 0, limit=1)[0]
    xs = gallery.same_class(cifar_test, 0, exclude=idx, limit=10)
    assert xs.shape == (10, 3, 32, 32)
    assert not any(torch.equal(x, cifar_test.get(idx)) for x in xs[:1])


def test_missing_data_set_is_one_line(tmp_path):
    with pytest.raises(gallery.GalleryUnavailable) as err:
        gallery.load_gallery("cifar100", 32, tmp_path)
    assert "\n" not in str(err.value) and "upload" in str(err.value)


def test_to_pil_round_trip():
    x = torch.rand(1, 3, 8, 8)
    import numpy as np

    a = torch.from_numpy(np.asarray(gallery.to_pil(x))).permute(2, 0, 1).float() / 255
    assert (a - x[0]).abs().max() < 1 / 255
