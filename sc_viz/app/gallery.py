"""The gallery of test images of a pack's data set, picked by class, and the same-class
sets the Embeddings page needs. A pack without its data set raises GalleryUnavailable
(one line); uploads still work without it."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Optional

import torch
from PIL import Image

from sc_viz.data import DATASETS, IN_MEMORY_MAX_SIZE, DataNotFound, Split, data_root, load_split, reporting
from sc_viz.packs import PackError, read_manifest

PER_CLASS = 24  # thumbnails offered per class


class GalleryUnavailable(RuntimeError):
    """The pack's data set is not available; the message says where to put it. `retry`:
    whether trying again may help (the files are there but could not be read or decoded)."""

    def __init__(self, message: str, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry


def load_gallery(dataset: str, input_size: int, root: Optional[Path] = None) -> Split:
    """The test split of `dataset` at the pack's input size."""
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
    except (KeyError, OSError, RuntimeError, ValueError, MemoryError) as err:
        first = (str(err).splitlines() or [type(err).__name__])[0][:160]
        raise GalleryUnavailable(
            f"the {dataset!r} test images could not be loaded ({first}); retry, or upload an image instead.",
            retry=True,
        ) from None


def prepare_test_sets(pack_dirs: Iterable[Path], root: Optional[Path] = None, say=print) -> dict[str, str]:
    """Decode the test set of every pack in `pack_dirs` into the on-disk cache now (the
    set-up step runs this, so the app's first visit reads the cache); quick when it is
    there already. Returns {"dataset@size": what happened}; never raises for a data set
    that is missing or fails (the app says so, and offers a retry)."""
    wanted = {}
    for pack_dir in pack_dirs:
        try:
            manifest = read_manifest(pack_dir)
        except PackError:
            continue
        dataset, size = manifest.get("dataset"), int(manifest.get("input_size") or 0)
        if dataset in DATASETS and 0 < size <= IN_MEMORY_MAX_SIZE:  # larger ones stream
            wanted.setdefault(f"{dataset}@{size}", (dataset, size))
    shown = [-1]

    def progress(done: int, total: int) -> None:
        percent = 100 * done // max(1, total)
        if percent >= shown[0] + 10 or (done == total and shown[0] < 100):
            shown[0] = percent
            say(f"  decoding {total:,} test images: {percent}%")

    results = {}
    for name, (dataset, size) in wanted.items():
        start = time.perf_counter()
        shown[0] = -10
        try:
            with reporting(progress):
                n = len(load_gallery(dataset, size, root))
            results[name] = f"{n:,} test images ready ({time.perf_counter() - start:.1f} s)"
        except GalleryUnavailable as err:
            results[name] = f"skipped: {err}"
        say(f"{name}: {results[name]}")
    return results


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
