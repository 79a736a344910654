"""Data sets, their registry, data-root resolution and the decoded-array cache.

Small-image data sets (CIFAR, Fashion-MNIST, small image folders) are decoded once into a
uint8 array cached on disk and held in memory; batches are cut and augmented as tensors,
which is far faster on a CPU than a per-sample DataLoader. Large-image folders (ImageNet)
stream through a torchvision DataLoader instead.

Nothing here forks: the app calls these loaders inside a threaded server, where a forked
child can inherit a lock another thread holds and wait on it forever. Image folders are
decoded by daemon threads (PIL releases the GIL while it decodes; benchmarks/decode.py
compares them with spawned processes), a cache is built under a lock with a bounded wait
(two callers: one build) and written atomically, and DataLoader workers start from a
forkserver.
"""

from __future__ import annotations

import contextvars
import gzip
import hashlib
import multiprocessing
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image

from sc_viz.registry import Registry

try:  # POSIX: the build lock also holds across processes (set-up step + app)
    import fcntl
except ImportError:  # pragma: no cover - Windows: the in-process lock alone
    fcntl = None

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


class CacheBusy(TimeoutError):
    """Another thread or process is still building the same cache after the bounded wait."""


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


def decode_image(path: str, size: int) -> np.ndarray:
    """One image file -> (size, size, 3) uint8, by `center_resize` when not that size."""
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


# ---------------------------------------------------------------- decoding and the cache
# Decoding threads: PIL releases the GIL while it decodes and resizes, and threads start at
# once where spawned processes first import torch. benchmarks/decode.py on this project's
# 2-core machine under load (CIFAR-10's 10,000 test images): 4 threads 0.94-1.47 s, 2
# threads 0.99-1.85 s, 1 thread 1.01-2.54 s; a spawn or forkserver pool of 2, started for
# the build, 3.6-5.4 s. So 4 threads, more than the cores: the reading overlaps too.
DECODE_THREADS = 4
DECODE_CHUNK = 64  # images a thread takes at a time
# The longest a caller waits for another's build of the same cache (CIFAR-10's 50,000
# training images take several seconds, a slow disk more); then CacheBusy.
# SC_VIZ_CACHE_WAIT overrides.
BUILD_WAIT_ENV, BUILD_WAIT_S = "SC_VIZ_CACHE_WAIT", 600.0

Progress = Callable[[int, int], None]  # (images decoded, images in all)
_PROGRESS: contextvars.ContextVar[Optional[Progress]] = contextvars.ContextVar("sc_viz_decode", default=None)


@contextmanager
def reporting(progress: Progress) -> Iterator[None]:
    """Decoding inside this block (in this thread) reports (done, total) to `progress`,
    from the calling thread, a few times a second."""
    token = _PROGRESS.set(progress)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def decode_images(
    paths: Sequence[str],
    size: int,
    *,
    threads: Optional[int] = None,
    progress: Optional[Progress] = None,
    poll_s: float = 0.2,
) -> np.ndarray:
    """Image files -> (N, size, size, 3) uint8 (`decode_image` each), by `threads` daemon
    threads of this process (DECODE_THREADS by default; no process is forked or spawned,
    and a daemon never holds up the interpreter's exit). The first failure stops the others
    and is raised here, naming its file."""
    n = len(paths)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    progress = progress or _PROGRESS.get()
    threads = max(1, min(threads or DECODE_THREADS, -(-n // DECODE_CHUNK)))
    claim = threading.Lock()
    next_start, done, errors = [0], [0] * threads, []
    stop = threading.Event()

    def work(k: int) -> None:
        i = -1
        try:
            while not stop.is_set():
                with claim:
                    start = next_start[0]
                    next_start[0] += DECODE_CHUNK
                if start >= n:
                    return
                for i in range(start, min(n, start + DECODE_CHUNK)):
                    out[i] = decode_image(paths[i], size)
                    done[k] += 1
        except BaseException as err:  # noqa: BLE001 - handed to the caller below
            errors.append((paths[i] if i >= 0 else "?", err))
            stop.set()

    if progress:
        progress(0, n)
    workers = [
        threading.Thread(target=work, args=(k,), name=f"sc-viz-decode-{k}", daemon=True)
        for k in range(threads)
    ]
    try:
        for t in workers:
            t.start()
        for t in workers:
            while t.is_alive():
                t.join(poll_s)
                if progress:
                    progress(sum(done), n)
    finally:
        stop.set()  # the caller stopped (KeyboardInterrupt, an error): so do the workers
    if errors:
        path, err = errors[0]
        raise OSError(f"could not decode {path}: {type(err).__name__}: {err}") from err
    if progress:  # always the last word, also when the workers ended before a poll saw them
        progress(n, n)
    return out


_BUILD_LOCKS: dict[str, threading.Lock] = {}
_BUILD_LOCKS_GUARD = threading.Lock()


def build_wait_s() -> float:
    return float(os.environ.get(BUILD_WAIT_ENV) or BUILD_WAIT_S)


@contextmanager
def build_lock(target: Path, timeout: Optional[float] = None) -> Iterator[None]:
    """Held while `target` is built: one builder per file among this process's threads and,
    by an flock on `<target>.lock` (released when its holder exits, however), among
    processes. Waits at most `timeout` seconds (build_wait_s()), then raises CacheBusy."""
    timeout = build_wait_s() if timeout is None else timeout
    deadline = time.monotonic() + timeout
    with _BUILD_LOCKS_GUARD:
        lock = _BUILD_LOCKS.setdefault(str(target), threading.Lock())
    if not lock.acquire(timeout=max(0.0, timeout)):
        raise CacheBusy(f"{target} is still being built by another session after {timeout:.0f} s")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{target}.lock", "a+b") as fh:  # closing it releases the flock
            while fcntl is not None:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise CacheBusy(
                            f"{target} is still being built by another process after {timeout:.0f} s "
                            f"(it holds {target}.lock)"
                        ) from None
                    time.sleep(0.1)
            yield
    finally:
        lock.release()


def write_atomically(target: Path, write: Callable[[object], None]) -> None:
    """`write(file)` into a temporary file beside `target`, flushed to disk, then renamed over
    it: a reader sees the old file or the whole new one, never a part."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _cached_images(cache: Path, count: int) -> Optional[np.ndarray]:
    """The cached (N, H, W, 3) array when it is there, whole and of `count` images."""
    if not cache.exists():
        return None
    try:
        with np.load(cache) as npz:
            images = npz["images"]
        return images if len(images) == count else None
    except Exception:  # a damaged or stale cache is simply rebuilt
        return None


def image_folder_cache(folder: Path, size: int, items: Sequence[tuple[str, int]]) -> Path:
    """Where `load_image_folder` keeps the decoded array of `items` (the files of `folder`)."""
    key = hashlib.sha256(
        f"{folder.resolve()}|{size}|{len(items)}|{items[0][0]}|{items[-1][0]}".encode()
    ).hexdigest()[:16]
    return cache_dir() / "arrays" / f"{folder.name}-{size}-{key}.npz"


def load_image_folder(folder: Path, size: int, progress: Optional[Progress] = None) -> Split:
    """Decode a class-folder tree once into a cached uint8 array (CIFAR-10's 10,000 test
    images: 1-4 s on two busy cores, benchmarks/decode.py; later loads take a fraction of
    a second).
    Callers asking at once share one build (`build_lock`); `progress` (else the one set by
    `reporting`) hears (done, total) while it decodes."""
    if not folder.is_dir():
        raise DataNotFound(f"no image folder at {folder}")
    classes, items = _list_folder(folder)
    if not items:
        raise DataNotFound(f"{folder} holds no class folders with images")
    cache = image_folder_cache(folder, size, items)
    labels = torch.tensor([label for _, label in items], dtype=torch.long)
    paths = [p for p, _ in items]
    images = _cached_images(cache, len(items))
    if images is None:
        with build_lock(cache):
            images = _cached_images(cache, len(items))  # built by another while we waited
            if images is None:
                images = decode_images(paths, size, progress=progress)
                try:
                    write_atomically(cache, lambda fh: np.savez(fh, images=images))
                except OSError as err:  # a read-only cache: decoded again next time
                    warnings.warn(f"could not write the image cache {cache}: {err}", stacklevel=2)
    return Split(labels, classes, images=torch.from_numpy(images).permute(0, 3, 1, 2), paths=paths)


class CenterResize:
    """`center_resize` of an RGB copy, as a picklable transform (a lambda is not, and
    DataLoader workers started from a forkserver receive the data set pickled)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, im: Image.Image) -> Image.Image:
        return center_resize(im.convert("RGB"), self.size)


def _streaming_folder(folder: Path, size: int, train: bool) -> Split:
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    if not folder.is_dir():
        raise DataNotFound(f"no image folder at {folder}")
    tf = (
        T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor()])
        if train
        else T.Compose([CenterResize(size), T.ToTensor()])
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
    try:
        write_atomically(cache, lambda fh: np.save(fh, x.numpy()))
    except OSError as err:  # a read-only cache: resized again next time
        warnings.warn(f"could not write the image cache {cache}: {err}", stacklevel=2)
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
# How DataLoader worker processes start (module docstring): from a forkserver, else spawned.
WORKER_START = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


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
        # workers start from a forkserver, never by forking this (threaded) process
        multiprocessing_context=WORKER_START if num_workers > 0 else None,
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
