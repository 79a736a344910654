import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from apptest_helpers import SALIENCY, assert_clean, open_app
from PIL import Image

from sc_viz import data
from sc_viz.app import gallery, loaders
from sc_viz.data import CIFAR10_CLASSES


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


# ---------------------------------------------------------------- loading inside the app
FAST = {"m": "saliency,gradcam"}
BOUND_S = 60  # a first visit that decodes must be done well within this (it hung for minutes)


def small_cifar(root: Path, per_class: int = 3) -> Path:
    """A CIFAR-10-shaped image folder (root/cifar10/test/<class>/) of 32 px PNGs."""
    for label, name in enumerate(CIFAR10_CLASSES):
        d = root / "cifar10" / "test" / name
        d.mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (32, 32), (25 * label, 10 * i, 200)).save(d / f"{i:04d}.png")
    return root


@pytest.fixture
def fresh_data(tmp_path, monkeypatch):
    """SC_VIZ_DATA at a small CIFAR-10 folder and SC_VIZ_CACHE at an empty folder: no
    decoded-image cache exists, as on a fresh machine."""
    monkeypatch.setenv("SC_VIZ_DATA", str(small_cifar(tmp_path / "data")))
    monkeypatch.setenv("SC_VIZ_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "arrays"


@pytest.fixture
def busy_core():
    """Another process keeping a core busy for the test's length."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield proc
    proc.kill()
    proc.wait()


def gallery_shown(at) -> bool:
    return at.radio(key="img_source").options == ["Gallery", "Upload"] and not any(
        "Gallery unavailable" in i.value for i in at.sidebar.info
    )


def test_first_visit_builds_the_cache_inside_the_app(
    tiny_packs_env, fresh_data, busy_core, monkeypatch, no_fork
):
    """The issue's hang: a first visit decodes the test images inside the running app while
    another thread holds a lock (one the decoding also takes, as library code takes its
    locks: a forked worker would inherit it held and wait forever) and another process
    keeps a core busy. It finishes within the bound, forks nothing, writes the cache."""
    held, holding, decoding = threading.Lock(), threading.Event(), threading.Event()
    real = data.decode_image

    def decode(path, size):
        decoding.set()
        with held:  # a thread waits until the holder lets go; a forked child, forever
            pass
        return real(path, size)

    monkeypatch.setattr(data, "decode_image", decode)

    def holder():
        with held:  # held while the decoding starts, and a while after
            holding.set()
            decoding.wait(BOUND_S)
            time.sleep(0.5)

    t = threading.Thread(target=holder)
    t.start()
    assert holding.wait(10)
    started = time.monotonic()
    at = open_app(SALIENCY, pack=tiny_packs_env, query=FAST, timeout=BOUND_S)
    seconds = time.monotonic() - started
    t.join()
    assert_clean(at)
    assert seconds < BOUND_S and busy_core.poll() is None
    assert no_fork == []
    assert gallery_shown(at) and not at.error
    assert at.selectbox(key="img_index").value in range(30)
    assert len(list(fresh_data.glob("*.npz"))) == 1  # the cache, written once, whole
    assert not [p for p in fresh_data.iterdir() if p.name.endswith(".tmp")]


def test_a_failed_build_says_so_and_retries(tiny_packs_env, fresh_data, monkeypatch):
    real = data.decode_image

    def broken(path, size):
        raise OSError("input/output error")

    monkeypatch.setattr(data, "decode_image", broken)
    at = open_app(SALIENCY, pack=tiny_packs_env, query=FAST)
    assert not at.exception
    assert any("could not be loaded" in e.value and "input/output error" in e.value for e in at.error)
    assert at.radio(key="img_source").options == ["Upload"]  # the page goes on with uploads
    assert not list(fresh_data.glob("*.npz"))
    monkeypatch.setattr(data, "decode_image", real)  # the disk is back
    at.button(key="gallery-retry").click().run()
    assert_clean(at)
    assert gallery_shown(at) and not at.error
    assert len(list(fresh_data.glob("*.npz"))) == 1


def test_a_slow_build_shows_its_progress_and_never_a_stuck_spinner(tiny_packs_env, fresh_data, monkeypatch):
    """A build longer than the page's bounded wait: the run ends with what it is doing
    ("Decoding 30 test images: ..%") and a button to check again; a later run has it."""
    monkeypatch.setattr(loaders, "GALLERY_WAIT_S", 1.0)
    gate, real = threading.Event(), data.decode_image

    def stalled(path, size):
        gate.wait(30)
        return real(path, size)

    monkeypatch.setattr(data, "decode_image", stalled)
    try:
        at = open_app(SALIENCY, pack=tiny_packs_env, query=FAST, timeout=BOUND_S)
        assert not at.exception
        [warning] = [w.value for w in at.warning if "still loading" in w.value]
        assert "Decoding 30 test images: 0%" in warning
        assert at.radio(key="img_source").options == ["Upload"]
    finally:
        gate.set()
    assert loaders.gallery_jobs().get("cifar10", 32, str(data.data_root())).done.wait(30)
    at.button(key="gallery-retry").click().run()
    assert_clean(at)
    assert gallery_shown(at)


def test_two_sessions_wait_for_one_build(tiny_packs_env, fresh_data, monkeypatch):
    """A session opens a page while another (its own thread, as the server runs each
    session) asks for the same test images: both get them from one build. (Two AppTests
    cannot run at once: Streamlit's test runner compiles scripts on shared state.)"""
    builds, arrived, real = [], threading.Event(), data.decode_images

    def counted(paths, size, **kw):
        builds.append(len(paths))
        arrived.wait(BOUND_S)  # the second session asks while this build runs
        time.sleep(0.3)
        return real(paths, size, **kw)

    monkeypatch.setattr(data, "decode_images", counted)
    first = {}
    t = threading.Thread(target=lambda: first.update(at=open_app(SALIENCY, pack=tiny_packs_env, query=FAST)))
    t.start()
    deadline = time.monotonic() + BOUND_S
    while not builds and time.monotonic() < deadline:
        time.sleep(0.05)
    assert builds == [30]  # the first session's build is running
    second = {}
    other = threading.Thread(
        target=lambda: second.update(
            got=loaders.get_gallery(SimpleNamespace(dataset="cifar10", input_size=32), 30)
        )
    )
    other.start()
    time.sleep(0.2)
    arrived.set()
    t.join(BOUND_S)
    other.join(BOUND_S)
    split, why = second["got"]
    assert why is None and len(split) == 30
    assert builds == [30]  # one build for both
    assert_clean(first["at"])
    assert gallery_shown(first["at"])


def test_job_status_in_words():
    job = loaders.GalleryJob("cifar10", 32, "/nowhere")
    assert job.status() == "Loading the test images..."
    job._progress(4000, 10000)
    assert job.status() == "Decoding 10,000 test images: 40%" and job.fraction() == 0.4
    split, why = job.outcome()
    assert split is None and "still loading (Decoding 10,000 test images: 40%" in why


def test_the_set_up_step_builds_the_cache(tiny_pack, fresh_data, monkeypatch, tmp_path):
    """scripts/setup.sh runs scripts/build_cache.py: the packs' test images decoded into the
    cache once; a second run reads it; a pack whose data set is missing is skipped."""
    said = []
    assert gallery.prepare_test_sets([tiny_pack], say=said.append) == {
        "cifar10@32": said[-1].split(": ", 1)[1]
    }
    assert "30 test images ready" in said[-1] and any("decoding 30 test images: 100%" in s for s in said)
    assert len(list(fresh_data.glob("*.npz"))) == 1
    monkeypatch.setattr(data, "decode_images", lambda *a, **k: pytest.fail("decoded again"))
    assert "ready" in gallery.prepare_test_sets([tiny_pack], say=said.append)["cifar10@32"]
    monkeypatch.setenv("SC_VIZ_DATA", str(tmp_path / "empty"))
    assert gallery.prepare_test_sets([tiny_pack], say=said.append)["cifar10@32"].startswith("skipped")
