import pickle
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from sc_viz import data
from sc_viz.data import (
    DATASETS,
    CacheBusy,
    DataNotFound,
    center_resize,
    iterate_batches,
    load_image_folder,
    load_split,
    random_crop_flip,
    seeded_subset,
)


def image_folder(root, per_class=3, size=(20, 20), classes=("blue", "red")):
    """A class-folder tree of solid-colour PNGs: blue (0, 0, 255), red (255, 0, 0), ..."""
    colours = {"blue": (0, 0, 255), "red": (255, 0, 0), "green": (0, 255, 0)}
    for name in classes:
        d = root / name
        d.mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", size, colours.get(name, (i % 256, 7, 9))).save(d / f"{i:04d}.png")
    return root


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


# ---------------------------------------------------------------- decoding: no fork, one build
def test_decoding_never_forks_and_uses_threads(tmp_path, monkeypatch, no_fork):
    """The path the app takes to decode an image folder starts no process: with every fork
    and process start forbidden it still decodes, in several daemon threads."""
    monkeypatch.setenv("SC_VIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "DECODE_THREADS", 3)
    folder = image_folder(tmp_path / "test", per_class=100)  # 200 images: 4 chunks
    seen, real = set(), data.decode_image

    def decode(path, size):
        seen.add((threading.current_thread().name, threading.current_thread().daemon))
        time.sleep(0.002)  # as a real photo's decoding takes a while (GIL released)
        return real(path, size)

    monkeypatch.setattr(data, "decode_image", decode)
    split = load_split("imagefolder", "test", tmp_path, 16)  # test/ under the root
    assert no_fork == []
    assert split.images.shape == (200, 3, 16, 16) and split.classes == ["blue", "red"]
    assert split.images[:100, 2].float().mean() == 255 and split.images[100:, 0].float().mean() == 255
    assert len(seen) >= 2 and all(name.startswith("sc-viz-decode-") and daemon for name, daemon in seen)
    assert not [t for t in threading.enumerate() if t.name.startswith("sc-viz-decode-")]  # all ended
    assert len(list((tmp_path / "cache" / "arrays").glob("*.npz"))) == 1
    again = load_image_folder(folder, 16)  # from the cache, without decoding
    assert torch.equal(again.images, split.images) and len(seen) <= 3


def test_decoding_reports_progress_and_names_a_bad_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SC_VIZ_CACHE", str(tmp_path / "cache"))
    folder = image_folder(tmp_path / "test", per_class=80)
    heard = []
    with data.reporting(lambda done, total: heard.append((done, total))):
        load_image_folder(folder, 8)
    assert heard[0] == (0, 160) and heard[-1] == (160, 160)
    assert [d for d, _ in heard] == sorted(d for d, _ in heard)
    (folder / "red" / "0042.png").write_bytes(b"not a png")
    monkeypatch.setenv("SC_VIZ_CACHE", str(tmp_path / "cache2"))
    with pytest.raises(OSError, match="0042.png"):
        load_image_folder(folder, 8)
    assert not list((tmp_path / "cache2" / "arrays").glob("*.npz"))  # nothing half-built kept


def test_two_callers_at_once_share_one_build(tmp_path, monkeypatch):
    monkeypatch.setenv("SC_VIZ_CACHE", str(tmp_path / "cache"))
    folder = image_folder(tmp_path / "test", per_class=20)
    builds, real = [], data.decode_images

    def slow_decode(paths, size, **kw):
        builds.append(threading.current_thread().name)
        time.sleep(0.5)  # long enough for the other caller to arrive meanwhile
        return real(paths, size, **kw)

    monkeypatch.setattr(data, "decode_images", slow_decode)
    start, results = threading.Barrier(3), {}

    def caller(name):
        start.wait()
        results[name] = load_image_folder(folder, 16)

    threads = [threading.Thread(target=caller, args=(f"session-{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 3 and len(builds) == 1
    first = results["session-0"].images
    assert all(torch.equal(r.images, first) for r in results.values())


def test_the_wait_for_another_build_is_bounded(tmp_path, monkeypatch):
    """A build held by another thread, or by another process (its flock), makes a caller
    wait SC_VIZ_CACHE_WAIT seconds at most, then raise CacheBusy; never hang."""
    monkeypatch.setenv("SC_VIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SC_VIZ_CACHE_WAIT", "0.5")
    folder = image_folder(tmp_path / "test")
    _, items = data._list_folder(folder)
    cache = data.image_folder_cache(folder, 16, items)
    held, release = threading.Event(), threading.Event()

    def holder():
        with data.build_lock(cache):
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    assert held.wait(10)
    started = time.monotonic()
    with pytest.raises(CacheBusy, match="another session"):
        load_image_folder(folder, 16)
    assert 0.4 < time.monotonic() - started < 5
    release.set()
    t.join(10)

    cache.parent.mkdir(parents=True, exist_ok=True)
    other = subprocess.Popen(  # another process building the same cache (it holds the flock)
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a+b'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('held', flush=True); time.sleep(30)",
            f"{cache}.lock",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(CacheBusy, match="another process"):
            load_image_folder(folder, 16)
        assert time.monotonic() - started < 5
    finally:
        other.kill()
        other.wait()
    assert load_image_folder(folder, 16).images.shape == (6, 3, 16, 16)  # its exit freed the lock


def test_the_cache_is_written_atomically(tmp_path):
    target = tmp_path / "arrays" / "x.npy"
    data.write_atomically(target, lambda fh: np.save(fh, np.arange(5)))
    assert np.load(target).tolist() == [0, 1, 2, 3, 4]

    def fails_halfway(fh):
        fh.write(b"\x93NUMPY partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        data.write_atomically(target, fails_halfway)
    assert np.load(target).tolist() == [0, 1, 2, 3, 4]  # the old file, whole
    assert [p.name for p in target.parent.iterdir()] == ["x.npy"]  # no temporary left


def test_existing_cache_files_stay_valid(tmp_path, monkeypatch):
    """The cache's name and format are the ones earlier versions wrote (np.savez of
    `images`, (N, H, W, 3) uint8): such a file is read, not rebuilt."""
    monkeypatch.setenv("SC_VIZ_CACHE", str(tmp_path / "cache"))
    folder = image_folder(tmp_path / "test")
    _, items = data._list_folder(folder)
    cache = data.image_folder_cache(folder, 16, items)
    assert cache.name.startswith("test-16-") and cache.parent == tmp_path / "cache" / "arrays"
    cache.parent.mkdir(parents=True)
    np.savez(cache, images=np.full((6, 16, 16, 3), 7, dtype=np.uint8))  # as written before
    monkeypatch.setattr(data, "decode_images", lambda *a, **k: pytest.fail("decoded again"))
    assert (load_image_folder(folder, 16).images == 7).all()


def test_loader_workers_never_fork(tmp_path, monkeypatch):
    """A streaming folder's DataLoader workers start from a forkserver (the data set,
    transforms included, pickles), never by forking."""
    folder = image_folder(tmp_path / "data" / "val", per_class=2, size=(80, 60))
    split = load_split("imagefolder", "test", tmp_path / "data", 72)  # > 64 px: streams
    assert split.folder is not None and pickle.loads(pickle.dumps(split.folder))[0][0].shape == (3, 72, 72)
    made = {}
    real = torch.utils.data.DataLoader

    def loader(*args, **kwargs):
        made.update(kwargs)
        return real(*args, **{**kwargs, "num_workers": 0, "multiprocessing_context": None})

    monkeypatch.setattr(torch.utils.data, "DataLoader", loader)
    batches = list(iterate_batches(split, 2, shuffle=False, augment=False, num_workers=2))
    assert made["multiprocessing_context"] == "forkserver" and made["num_workers"] == 2
    assert sum(len(y) for _, y in batches) == 4 and folder.is_dir()
