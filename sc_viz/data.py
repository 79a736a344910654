"""Data sets, their registry, data-root resolution and the decoded-array cache.

Small-image data sets (CIFAR, Fashion-MNIST, small image folders) are decoded once into a
uint8 array cached on disk and held in memory; batches are cut and augmented as tensors,
which is far faster on a CPU than a per-sample DataLoader. Large-image folders (ImageNet)
stream through a torchvision DataLoader instead.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image

from sc_viz.registry import Registry

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff")
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = [
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
]
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# Largest input size decoded into memory; bigger image folders stream from disk.
IN_MEMORY_MAX_SIZE = 64


class DataNotFound(FileNotFoundError):
    """The data set is not under the data root (message says where it looked)."""


def data_root(cli_value: Optional[str] = None) -> Path:
    """--data-root, else $SC_VIZ_DATA, else ~/.cache/sc_viz/data."""
    if cli_value:
        return Path(cli_value).expanduser()
    if os.environ.get("SC_VIZ_DATA"):
        return Path(os.environ["SC_VIZ_DATA"]).expanduser()
    return cache_dir() / "data"


def cache_dir() -> Path:
    return Path(os.environ.get("SC_VIZ_CACHE", Path.home() / ".cache" / "sc_viz")).expanduser()


@dataclass
class Split:
    """One split of a data set.

    Either `images` (uint8 (N, 3, H, W), in memory) or `folder` (a torchvision
    ImageFolder yielding float (3, H, W) in [0, 1]) is set.
    """

    labels: torch.Tensor  # (N,) int64
    classes: list[str]
    images: Optional[torch.Tensor] = None
    folder: Optional[torch.utils.data.Dataset] = None
    paths: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def get(self, index: int) -> torch.Tensor:
        """One image as float (3, H, W) in [0, 1]."""
        if self.images is not None:
            return self.images[index].float() / 255.0
        return self.folder[index][0]

    def subset(self, indices) -> Split:
        indices = torch.as_tensor(indices, dtype=torch.long)
        if self.images is not None:
            return Split(
                self.labels[indices],
                self.classes,
                images=self.images[indices],
                paths=[self.paths[i] for i in indices] if self.paths else [],
            )
        return Split(
            self.labels[indices], self.classes, folder=torch.utils.data.Subset(self.folder, indices.tolist())
        )


@dataclass(frozen=True)
class DatasetSpec:
    load: Callable[[Path, str, int], Split]  # (root, "train"|"test", input_size) -> Split
    num_classes: int
    input_size: int
    mean: tuple
    std: tuple
    description: str


# ---------------------------------------------------------------- image folders
def _list_folder(folder: Path) -> tuple[list[str], list[tuple[str, int]]]:
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    items = []
    for label, name in enumerate(classes):
        for entry in sorted(os.scandir(folder / name), key=lambda e: e.name):
            if entry.name.lower().endswith(IMAGE_SUFFIXES):
                items.append((entry.path, label))
    return classes, items


def _decode(args) -> np.ndarray:
    path, size = args
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.size != (size, size):
            im = center_resize(im, size)
        return np.asarray(im, dtype=np.uint8)


def center_resize(im: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side (to size/0.875 above 64 px, as ImageNet evaluation does),
    then centre-crop size x size. The one rule for test images and uploads alike.

    The crop box is taken in source coordinates and resized once, so a 1 x 5000 strip
    never becomes a huge intermediate image."""
    short = size if size <= IN_MEMORY_MAX_SIZE else int(round(size / 0.875))
    w, h = im.size
    side = min(w, h) * size / short  # the crop's side in source pixels
    left, top = (w - side) / 2, (h - side) / 2
    return im.resize((size, size), Image.BICUBIC, box=(left, top, left + side, top + side))


def load_image_folder(folder: Path, size: int) -> Split:
    """Decode a class-folder tree once into a cached uint8 array (tens of seconds for
    CIFAR-10 on two cores; later loads take well under a second)."""
    if not folder.is_dir():
        raise DataNotFound(f"no image folder at {folder}")
    classes, items = _list_folder(folder)
    if not items:
        raise DataNotFound(f"{folder} holds no class folders with images")
    key = hashlib.sha256(
        f"{folder.resolve()}|{size}|{len(items)}|{items[0][0]}|{items[-1][0]}".encode()
    ).hexdigest()[:16]
    cache = cache_dir() / "arrays" / f"{folder.name}-{size}-{key}.npz"
    labels = torch.tensor([label for _, label in items], dtype=torch.long)
    if cache.exists():
        try:
            images = np.load(cache)["images"]
            if len(images) == len(items):
                return Split(
                    labels,
                    classes,
                    images=torch.from_numpy(images).permute(0, 3, 1, 2),
                    paths=[p for p, _ in items],
                )
        except Exception:  # a half-written or stale cache is simply rebuilt
            pass
    with Pool(max(1, min(8, os.cpu_count() or 1))) as pool:
        arrays = pool.map(_decode, [(p, size) for p, _ in items], chunksize=256)
    images = np.stack(arrays)  # (N, H, W, 3) uint8
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(tmp, images=images)
    os.replace(tmp, cache)
    return Split(
        labels, classes, images=torch.from_numpy(images).permute(0, 3, 1, 2), paths=[p for p, _ in items]
    )


def _streaming_folder(folder: Path, size: int, train: bool) -> Split:
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    if not folder.is_dir():
        raise DataNotFound(f"no image folder at {folder}")
    tf = (
        T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor()])
        if train
        else T.Compose([T.Lambda(lambda im: center_resize(im.convert("RGB"), size)), T.ToTensor()])
    )
    ds = ImageFolder(str(folder), transform=tf)
    return Split(torch.tensor(ds.targets), ds.classes, folder=ds)


def _split_folder(base: Path, split: str) -> Path:
    names = ["train"] if split == "train" else ["test", "val"]
    for name in names:
        if (base / name).is_dir():
            return base / name
    raise DataNotFound(f"no {' or '.join(names)}/ folder under {base}")


def _load_imagefolder(root: Path, split: str, size: int) -> Split:
    folder = _split_folder(root, split)
    if size <= IN_MEMORY_MAX_SIZE:
        return load_image_folder(folder, size)
    return _streaming_folder(folder, size, train=(split == "train"))


# ---------------------------------------------------------------- CIFAR
def _load_cifar(name: str, tv_class: str):
    def load(root: Path, split: str, size: int) -> Split:
        if (root / name / split).is_dir():  # image-folder copy, e.g. ../shared/datasets
            return load_image_folder(root / name / split, size)
        import torchvision.datasets as tvd

        try:  # the torchvision pickles under root; downloads only when online
            ds = getattr(tvd, tv_class)(str(root), train=(split == "train"), download=False)
        except RuntimeError:
            try:
                ds = getattr(tvd, tv_class)(str(root), train=(split == "train"), download=True)
            except Exception as err:
                raise DataNotFound(
                    f"{name} not found under {root} (looked for {root / name / split}/<class>/ "
                    f"and torchvision's files) and could not be downloaded: {err}"
                ) from None
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        return Split(torch.tensor(ds.targets), list(ds.classes), images=images)

    return load


# ---------------------------------------------------------------- Fashion-MNIST
FASHION_ENV = "SC_VIZ_FASHION_MNIST"  # a folder holding the four idx .gz files
FASHION_DIRS = ("fashion-mnist", "/usr/share/datasets/fashion-mnist")


def fashion_dirs(root: Path) -> list[Path]:
    """Where Fashion-MNIST is looked for, in order: $SC_VIZ_FASHION_MNIST, <root>/fashion-mnist,
    the Debian package's /usr/share/datasets/fashion-mnist."""
    env = os.environ.get(FASHION_ENV)
    found = [root / d for d in FASHION_DIRS]  # an absolute entry ignores root
    return ([Path(env).expanduser()] if env else []) + found


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _fashion_grey(path: Path, size: int) -> torch.Tensor:
    """The idx file's grey images at `size` px, uint8 (N, size, size); a resized copy is
    cached on disk like the image folders' arrays (resizing 60,000 images takes seconds)."""
    if size == 28:
        return torch.from_numpy(_read_idx(path).copy())
    stat = path.stat()
    stamp = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{size}"
    key = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    cache = cache_dir() / "arrays" / f"{path.name.split('-')[0]}-fashion-{size}-{key}.npy"
    if cache.exists():
        try:
            return torch.from_numpy(np.load(cache))
        except Exception:  # a half-written cache is simply rebuilt
            pass
    x = torch.from_numpy(_read_idx(path).copy())[:, None].float()  # (N, 1, 28, 28)
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    x = x.round().clamp(0, 255).byte()[:, 0]  # (N, size, size)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}.npy")
    np.save(tmp, x.numpy())
    os.replace(tmp, cache)
    return x


def _load_fashion(root: Path, split: str, size: int) -> Split:
    prefix = "train" if split == "train" else "t10k"
    folders = fashion_dirs(root)
    for folder in folders:
        img, lab = folder / f"{prefix}-images-idx3-ubyte.gz", folder / f"{prefix}-labels-idx1-ubyte.gz"
        if img.exists() and lab.exists():
            x = _fashion_grey(img, size)  # (N, size, size)
            x = x[:, None].expand(-1, 3, -1, -1).contiguous()  # grey -> RGB (N, 3, size, size)
            return Split(torch.from_numpy(_read_idx(lab).astype(np.int64)), FASHION_CLASSES, images=x)
    raise DataNotFound(
        f"Fashion-MNIST not found: looked in {', '.join(str(f) for f in folders)} "
        f"(install it with `apt-get install -y dataset-fashion-mnist`, or set ${FASHION_ENV})"
    )


DATASETS: Registry[DatasetSpec] = Registry("dataset")
DATASETS.add(
    "cifar10",
    DatasetSpec(
        _load_cifar("cifar10", "CIFAR10"),
        10,
        32,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        "CIFAR-10 (image folder under the data root, or torchvision's)",
    ),
)
DATASETS.add(
    "cifar100",
    DatasetSpec(
        _load_cifar("cifar100", "CIFAR100"),
        100,
        32,
        (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762),
        "CIFAR-100 (image folder under the data root, or torchvision's)",
    ),
)
DATASETS.add(
    "fashion-mnist",
    DatasetSpec(
        _load_fashion,
        10,
        28,
        (0.2860,) * 3,
        (0.3530,) * 3,
        "Fashion-MNIST from the idx files (Debian package)",
    ),
)


# ---------------------------------------------------------------- low-resolution CIFAR-10
# A transfer target (sc-viz transfer) made from data already here: CIFAR-10 drawn at
# LOWRES_SIZE px (area-averaged) and scaled back up (bilinear) to the input size, so the
# source models' input size fits, the labels stay CIFAR-10's and the fine detail is gone.
LOWRES_SIZE = 16


def _load_cifar10_lowres(root: Path, split: str, size: int) -> Split:
    full = _load_cifar("cifar10", "CIFAR10")(root, split, 32)
    chunks = []
    for start in range(0, len(full), 5000):  # bounded float memory on the 50,000 training images
        x = full.images[start : start + 5000].float()  # (B, 3, 32, 32)
        x = torch.nn.functional.interpolate(x, size=(LOWRES_SIZE,) * 2, mode="area")
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        chunks.append(x.round().clamp(0, 255).byte())
    return Split(full.labels, full.classes, images=torch.cat(chunks), paths=full.paths)


DATASETS.add(
    "cifar10-lowres",
    DatasetSpec(
        _load_cifar10_lowres,
        10,
        32,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        f"CIFAR-10 at {LOWRES_SIZE} px, scaled back up (a transfer target made from CIFAR-10)",
    ),
)
DATASETS.add(
    "imagefolder",
    DatasetSpec(
        _load_imagefolder,
        0,
        224,
        IMAGENET_MEAN,
        IMAGENET_STD,
        "any train/ + val|test/ class-folder tree (ImageNet too); --data-root points at it",
    ),
)


def load_split(dataset: str, split: str, root: Path, input_size: Optional[int] = None) -> Split:
    spec = DATASETS[dataset]
    return spec.load(Path(root), split, input_size or spec.input_size)


# ---------------------------------------------------------------- batches
def random_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Standard CIFAR augmentation on a batch: zero-pad, random crop, random h-flip."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))  # (N, 3, H+2p, W+2p)
    offs = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    out = torch.empty_like(x)
    for i in range(n):  # per-sample slicing; negligible next to the model's cost
        crop = padded[i, :, offs[i, 0] : offs[i, 0] + h, offs[i, 1] : offs[i, 1] + w]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


def iterate_batches(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool,
    augment: bool,
    generator: Optional[torch.Generator] = None,
    rank: int = 0,
    world: int = 1,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x float (B, 3, H, W) in [0, 1], y (B,)) on `device`.

    Each rank gets an equal-length shard of the same (seeded) permutation, so DDP ranks
    stay in step and a given seed always yields the same batches.
    """
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    if world > 1:
        order = order[: n - n % world][rank::world]
    if split.images is not None:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            x = split.images[idx].float().div_(255.0)
            if augment:
                x = random_crop_flip(x, generator)
            yield x.to(device, non_blocking=True), split.labels[idx].to(device, non_blocking=True)
        return
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(split.folder, order.tolist()),
        batch_size=batch_size,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
    )
    for x, y in loader:
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def seeded_subset(split: Split, limit: Optional[int], seed: int = 0) -> Split:
    """A fixed, seeded subset of `limit` items (the whole split when limit is None)."""
    if limit is None or limit >= len(split):
        return split
    g = torch.Generator().manual_seed(seed)
    return split.subset(torch.randperm(len(split), generator=g)[:limit].sort().values)


# ---------------------------------------------------------------- colour-biased Fashion-MNIST
# The fairness experiment (Sec. 4.7, "Colorful MNIST"): each grey image g in [0, 1] is drawn
# as g * white + (1 - g) * background, the background red or blue; training images are 95%
# red / 5% blue, test images the reverse. Colours are drawn from a fixed seed per split, so
# the data set is the same everywhere. (MNIST itself is not packaged here.)
COLOUR_BACKGROUNDS = {"red": (0.9, 0.1, 0.1), "blue": (0.1, 0.1, 0.9)}
RED_SHARE = {"train": 0.95, "test": 0.05}


def colour_is_red(split: str, n: int) -> torch.Tensor:
    """(n,) bool: which images of the split have a red background (else blue)."""
    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    return torch.rand(n, generator=g) < RED_SHARE["train" if split == "train" else "test"]


def _load_colour_fashion(root: Path, split: str, size: int) -> Split:
    grey = _load_fashion(root, split, size)  # (N, 3, S, S) uint8, three equal channels
    g = grey.images[:, 0].long()  # (N, S, S) grey levels 0..255
    red = colour_is_red(split, len(grey))
    images = torch.empty_like(grey.images)
    level = torch.arange(256, dtype=torch.float32) / 255.0  # (256,)
    for name, mask in (("red", red), ("blue", ~red)):
        bg = torch.tensor(COLOUR_BACKGROUNDS[name])[:, None]  # (3, 1)
        lut = (level + (1.0 - level) * bg).mul(255.0).round().byte()  # (3, 256) grey -> RGB
        images[mask] = lut[:, g[mask]].permute(1, 0, 2, 3)  # (n, 3, S, S)
    return Split(grey.labels, grey.classes, images=images)


DATASETS.add(
    "colour-fashion-mnist",
    DatasetSpec(
        _load_colour_fashion,
        10,
        28,
        (0.5, 0.5, 0.5),
        (0.35, 0.35, 0.35),
        "Fashion-MNIST on red/blue backgrounds: train 95% red, test 95% blue (fairness, Sec. 4.7)",
    ),
)
