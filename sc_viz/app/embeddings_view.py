"""What the Embeddings page shows beside the plots: the continuity violations as rows, with
column names a reader understands; and the same-class set a user brings (a folder of
images of one class, or several uploaded files) for a pack whose data set is not on this
machine, decoded and cropped as the pack's inputs are. What draws or caches with Streamlit
(the projections, the set's picker, the plots) is in `embeddings_screen`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from threadpoolctl import threadpool_limits

from sc_viz import embed
from sc_viz.deck.work import Fetch, Work, compute_now, result_type
from sc_viz.embed import SAME_CLASS_KIND, Embedding, point_image
from sc_viz.images import MAX_BYTES, ImageError, fit_to_input, load_image, to_input

result_type(Embedding)  # what a deck holds for this page
VARIANT_COLUMN, SAME_CLASS_COLUMN = "Variant", "Same-class images"
# Where the same-class images come from (the Embeddings page's `same_source`).
TEST_SET, FOLDER, FILES = "test", "folder", "files"
SOURCE_NAMES = {TEST_SET: "the test set", FOLDER: "a folder", FILES: "your files"}
MAX_SAME_CLASS = 500  # images taken from a folder or an upload (the set's slider goes to 500)
MAX_FILES_TRIED = 2000  # files of a folder looked at, images or not
SKIPPED_SHOWN = 3  # skipped files named in the page's line


class SameClassError(ValueError):
    """A same-class set that cannot be used; the message is one line a user can act on."""


def violation_rows(emb: Embedding, variants: Sequence[str]) -> list[dict]:
    """One row per variant: for each perturbation (its name, capitalised), how many
    same-class images are closer to x than x's perturbed copy; then how many same-class
    images there are."""
    same = emb.kinds.count(SAME_CLASS_KIND)
    return [
        {
            VARIANT_COLUMN: v,
            **{k.capitalize(): n for k, n in emb.violations[v].items()},
            SAME_CLASS_COLUMN: same,
        }
        for v in variants
    ]


@dataclass
class SameClassSet:
    """Images a user gave as x's class, as the model sees them."""

    images: torch.Tensor  # (M, 3, S, S) in [0, 1]
    names: list[str]  # file name of each image
    skipped: list[str] = field(default_factory=list)  # "name (why)" of files not taken
    key: str = ""  # identifies the set's pixels (result caches)
    more: int = 0  # images left out beyond the limit

    def __len__(self) -> int:
        return len(self.names)

    def note(self, where: str, shown: Optional[int] = None) -> str:
        """One line: how many images were taken from `where` (and `shown` of them plotted),
        and which files were not."""
        line = f"{len(self)} same-class image{'s' if len(self) != 1 else ''} from {where}"
        if self.more:
            line += f" (the first {len(self)}; {self.more} more file{'s' if self.more != 1 else ''} not read)"
        if shown is not None and shown < len(self):
            line += f", the first {shown} plotted"
        if self.skipped:
            n = len(self.skipped)
            named = "; ".join(self.skipped[:SKIPPED_SHOWN])
            rest = f"; {n - SKIPPED_SHOWN} more" if n > SKIPPED_SHOWN else ""
            line += f". Skipped {n} file{'s' if n != 1 else ''}: {named}{rest}"
        return line + "."


class _Collector:
    """Takes files one by one into a same-class set (see images_from_files)."""

    def __init__(self, input_size: int, preprocessing: Optional[dict], limit: int):
        self.input_size, self.preprocessing, self.limit = input_size, preprocessing, limit
        self.pictures, self.names, self.skipped, self.tried = [], [], [], 0
        self.digest = hashlib.sha256(f"{input_size}|{sorted((preprocessing or {}).items())}".encode())

    @property
    def full(self) -> bool:
        return len(self.pictures) >= self.limit

    def add(self, name: str, data: bytes) -> None:
        self.tried += 1
        try:
            im = fit_to_input(load_image(data), self.input_size, self.preprocessing)
        except ImageError as err:
            self.skipped.append(f"{name} ({err})")
            return
        self.pictures.append(to_input(im)[0])  # (3, S, S)
        self.names.append(name)
        self.digest.update(hashlib.sha256(data).digest())

    def result(self, more: int) -> SameClassSet:
        if not self.pictures:
            why = f" ({'; '.join(self.skipped[:SKIPPED_SHOWN])})" if self.skipped else ""
            raise SameClassError(f"none of the {self.tried} files is an image this app can read{why}")
        images = torch.stack(self.pictures)
        return SameClassSet(images, self.names, self.skipped, self.digest.hexdigest()[:16], more)


def images_from_files(
    files: Sequence[tuple[str, bytes]],
    input_size: int,
    preprocessing: Optional[dict] = None,
    limit: int = MAX_SAME_CLASS,
) -> SameClassSet:
    """(name, bytes) pairs -> the images among them (uploads' checks: format by content,
    size, pixels), fitted to the input as the pack fits an upload; files that are not
    images are skipped and named; after `limit` images the rest are left out (counted).
    SameClassError when none is an image."""
    taken = _Collector(input_size, preprocessing, limit)
    for n, (name, data) in enumerate(files):
        if taken.full:
            return taken.result(more=len(files) - n)
        taken.add(name, data)
    return taken.result(more=0)


def files_key(files: Iterable[tuple[str, bytes]]) -> str:
    """Identifies uploaded files (names and bytes): a cache key."""
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:16]


def folder_files(folder: str) -> list[Path]:
    """The regular files of a folder (not its sub-folders or hidden files), by name;
    SameClassError (one line) for a path that is not a readable folder."""
    path = Path(folder.strip()).expanduser()
    if not path.exists():
        raise SameClassError(f"{folder.strip()}: no such folder")
    if not path.is_dir():
        raise SameClassError(f"{folder.strip()}: a file, not a folder; give the folder that holds the images")
    try:
        files = sorted(p for p in path.iterdir() if not p.name.startswith(".") and p.is_file())
    except OSError as err:
        raise SameClassError(f"{folder.strip()}: cannot be read ({err.strerror or err})") from None
    if not files:
        raise SameClassError(f"{folder.strip()}: the folder holds no files (sub-folders are not searched)")
    return files[:MAX_FILES_TRIED]


def folder_stamp(folder: str) -> str:
    """Changes when the folder's files change (names, sizes, times): a cache key."""
    try:
        stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder_files(folder)]
    except (SameClassError, OSError):
        return "unreadable"
    return hashlib.sha256(repr(stats).encode()).hexdigest()[:16]


def images_from_folder(
    folder: str, input_size: int, preprocessing: Optional[dict] = None, limit: int = MAX_SAME_CLASS
) -> SameClassSet:
    """The images of one folder (the user's same-class set), as images_from_files; a file
    too large for an upload is skipped unread, and files after the `limit`-th image are
    not read (counted as left out)."""
    files = folder_files(folder)
    taken = _Collector(input_size, preprocessing, limit)
    for n, p in enumerate(files):
        if taken.full:
            return taken.result(more=len(files) - n)
        try:
            if p.stat().st_size > MAX_BYTES:
                taken.tried += 1
                taken.skipped.append(f"{p.name} (over {MAX_BYTES // 2**20} MB)")
                continue
            data = p.read_bytes()
        except OSError as err:
            taken.tried += 1
            taken.skipped.append(f"{p.name} (cannot be read: {err.strerror or err})")
            continue
        taken.add(p.name, data)
    try:
        return taken.result(more=0)
    except SameClassError as err:
        raise SameClassError(f"{folder.strip()}: {err}") from None


def point_picture(
    emb: Embedding, row: int, x: torch.Tensor, split: Any = None, same: Optional[SameClassSet] = None
) -> Optional[torch.Tensor]:
    """The image of point `row` (3, H, W) for its thumbnail: embed.point_image, and for a
    same-class image of the user's set, that image (the same-class points follow x and its
    perturbations in the set's order)."""
    if same is not None and emb.kinds[row] == SAME_CLASS_KIND:
        return same.images[row - emb.kinds.index(SAME_CLASS_KIND)]
    return point_image(emb, row, x, split)


def point_caption(emb: Embedding, row: int, same: Optional[SameClassSet] = None) -> Optional[str]:
    """The user's file name for a point of their set; None for the others (embed.point_label)."""
    if same is None or emb.kinds[row] != SAME_CLASS_KIND:
        return None
    return f"same class: {same.names[row - emb.kinds.index(SAME_CLASS_KIND)]}"


def projection_of(
    pack,
    x: torch.Tensor,
    label: int,
    variants: Sequence[str],
    split: Any,
    exclude: Optional[int],
    *,
    count: int,
    level: int,
    method: str,
    joint: bool,
    fetch: Fetch = compute_now,
) -> Embedding:
    """The embedding of x (1, 3, S, S), its perturbations at `level` and `count` test
    images of class `label` from `split` (the pack's test split; `exclude`: x's own index
    there, else None), through `fetch` (a prepared deck holds it)."""
    params = {"label": int(label), "count": int(count), "level": int(level), "method": method}
    params.update(joint=bool(joint), exclude=exclude)
    models = {v: pack.models[v] for v in variants}

    def compute() -> Embedding:
        images, indices = embed.same_class_set(split, label, count=count, exclude=exclude)
        # One OpenMP thread: a few hundred points need no more, and scikit-learn's t-SNE
        # threads were seen to stall for minutes on a loaded 2-core machine (2 s with one).
        with threadpool_limits(limits=1):
            return embed.embed(
                models,
                x,
                images,
                level=level,
                method=method,
                joint=joint,
                same_class_indices=indices,
                x_index=exclude if exclude is not None else -1,
            )

    return fetch(Work("embeddings.projection", params, tuple(variants)), compute)
