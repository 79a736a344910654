"""The gallery of test images of a pack's data set, picked by class, and the same-class
sets the Embeddings page needs. A pack without its data set raises GalleryUnavailable
(one line); uploads still work without it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from PIL import Image

from sc_viz.data import DataNotFound, Split, data_root, load_split

PER_CLASS = 24  # thumbnails offered per class


class GalleryUnavailable(RuntimeError):
    """The pack's data set is not available; the message says where to put it."""


def load_gallery(dataset: str, input_size: int, root: Optional[Path] = None) -> Split:
    """The test split of `dataset` at the pack's input size."""
    from sc_viz.data import DATASETS

    if dataset not in DATASETS:  # e.g. an imported pack's "imagenet" or "custom" classes
        raise GalleryUnavailable(f"sc-viz has no test set of {dataset!r} to load; upload an image instead.")
    root = Path(root) if root else data_root()
    try:
        return load_split(dataset, "test", root, input_size)
    except DataNotFound as err:
        raise GalleryUnavailable(
            f"no test images for {dataset!r}: {err}. Set SC_VIZ_DATA to "
            "the data root, or upload an image instead."
        ) from None
    except (KeyError, OSError, RuntimeError, ValueError) as err:
        raise GalleryUnavailable(
            f"the {dataset!r} test images could not be loaded "
            f"({str(err).splitlines()[0][:120]}); upload an image instead."
        ) from None


def class_indices(split: Split, label: int, limit: int = PER_CLASS) -> list[int]:
    """The first `limit` test-split indices of class `label` (stable across runs)."""
    return (split.labels == label).nonzero().flatten()[:limit].tolist()


def image_at(split: Split, index: int) -> tuple[Image.Image, torch.Tensor, int]:
    """(PIL image to show, model input (1, 3, S, S) in [0, 1], label) of a test image."""
    if not 0 <= index < len(split):
        raise IndexError(f"image {index} is outside the test set (0..{len(split) - 1})")
    x = split.get(index)  # (3, S, S)
    return to_pil(x), x[None].clone(), int(split.labels[index])


def same_class(split: Split, label: int, exclude: Optional[int] = None, limit: int = 200) -> torch.Tensor:
    """Up to `limit` test images of class `label`, without `exclude` -> (N, 3, S, S)."""
    idx = [i for i in (split.labels == label).nonzero().flatten().tolist() if i != exclude][:limit]
    if not idx:
        return torch.empty(0, 3, 1, 1)
    return torch.stack([split.get(i) for i in idx])


def to_pil(x: torch.Tensor) -> Image.Image:
    """(3, H, W) or (1, 3, H, W) float in [0, 1] -> RGB PIL image."""
    x = x.detach().float().cpu()
    if x.dim() == 4:
        x = x[0]
    a = (x.clamp(0, 1) * 255 + 0.5).byte().permute(1, 2, 0).numpy()
    return Image.fromarray(a, "RGB")
