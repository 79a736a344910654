"""Cached loaders shared by every session: packs (models load once per process, keyed by
the manifest's mtime so a pack still training shows new variants), the gallery's test
split (loaded by one background job per data set that every session waits on, with
progress and a bounded wait), the stored evaluation report, and UMAP's one-off warm-up."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Optional

import streamlit as st
from threadpoolctl import threadpool_limits

from sc_viz import data, embed
from sc_viz.app import gallery
from sc_viz.app.report_view import stored_report
from sc_viz.packs import MANIFEST, Pack, PackError, load_pack

WARMUP_ENV = "SC_VIZ_WARMUP"


def manifest_stamp(path: Path) -> str:
    try:
        s = (Path(path) / MANIFEST).stat()
        return f"{s.st_mtime_ns}-{s.st_size}"
    except OSError:
        return "missing"


def load_or_explain(path: str) -> tuple[Optional[Pack], Optional[str]]:
    """(pack, None) or (None, one line saying why it could not be loaded)."""
    try:
        return load_pack(path), None
    except PackError as err:
        return None, str(err)
    except Exception as err:  # noqa: BLE001 - a broken pack must not break the app
        return None, f"{path}: could not be loaded ({type(err).__name__}: {str(err)[:200]})"


@st.cache_resource(max_entries=8, show_spinner="Loading models...")
def _load_pack(path: str, stamp: str) -> tuple[Optional[Pack], Optional[str]]:
    return load_or_explain(path)


def get_pack(path: Path) -> tuple[Optional[Pack], Optional[str]]:
    """(pack, None) or (None, why); cached per process until the manifest changes."""
    return _load_pack(str(path), manifest_stamp(path))


def pack_key(pack: Pack) -> str:
    """Identifies a pack's weights for result caches."""
    return f"{pack.path.resolve()}@{manifest_stamp(pack.path)}"


# ---------------------------------------------------------------- the gallery's test split
GALLERY_WAIT_S = 120.0  # a page run waits this long at most for the test images, then says so
QUIET_WAIT_S = 0.5  # a load this quick (a cached array) shows no progress bar
KEPT_GALLERIES = 2  # loaded test splits kept in memory (the least recently asked go first)


class GalleryJob:
    """One data set's test split, loaded (decoded into the on-disk cache the first time) by
    a daemon thread; every session asking for it meanwhile waits for this job, not a build
    of its own. `decoded`/`total` report the decoding's progress."""

    def __init__(self, dataset: str, input_size: int, root: str) -> None:
        self.dataset, self.input_size, self.root = dataset, input_size, root
        self.done = threading.Event()
        self.split = None
        self.error: Optional[str] = None
        self.retry = False  # whether trying again may help (see gallery.GalleryUnavailable)
        self.decoded = self.total = 0
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, name=f"sc-viz-gallery-{dataset}", daemon=True)

    def _progress(self, done: int, total: int) -> None:
        self.decoded, self.total = done, total

    def _run(self) -> None:
        try:
            with data.reporting(self._progress):
                self.split = gallery.load_gallery(self.dataset, self.input_size, Path(self.root))
        except gallery.GalleryUnavailable as err:
            self.error, self.retry = str(err), err.retry
        except BaseException as err:  # noqa: BLE001 - whatever it is, the page must hear of it
            self.error = f"the {self.dataset!r} test images could not be loaded ({type(err).__name__}: "
            self.error += f"{str(err)[:160]}); retry, or upload an image instead."
            self.retry = True
        finally:
            self.done.set()

    def status(self) -> str:
        """What it is doing, in words: "Decoding 10,000 test images: 40%"."""
        if self.total:
            return f"Decoding {self.total:,} test images: {self.decoded / self.total:.0%}"
        return "Loading the test images..."

    def fraction(self) -> float:
        return min(1.0, self.decoded / self.total) if self.total else 0.0

    def outcome(self) -> tuple[Optional[data.Split], Optional[str]]:
        """(split, None), (None, why it failed), or (None, what it is doing) while it runs."""
        if not self.done.is_set():
            seconds = time.monotonic() - self.started
            return None, f"the test images are still loading ({self.status()}, {seconds:.0f} s so far)"
        return self.split, self.error


class GalleryJobs:
    """The process's gallery jobs, one per (data set, input size, data root, cache folder)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[tuple, GalleryJob] = {}

    def get(self, dataset: str, input_size: int, root: str) -> GalleryJob:
        """The job for these test images: the running or finished one, else a new one started."""
        key = (dataset, int(input_size), str(root), str(data.cache_dir()))
        with self._lock:
            job = self._jobs.pop(key, None)
            if job is None:
                job = GalleryJob(dataset, input_size, root)
                job.thread.start()
            self._jobs[key] = job  # the most recently asked last
            finished = [k for k, j in self._jobs.items() if j.done.is_set() and j.split is not None]
            for k in finished[: max(0, len(finished) - KEPT_GALLERIES)]:
                del self._jobs[k]
            return job

    def forget(self, job: GalleryJob) -> None:
        """Drop a finished job (Retry): the next ask starts a new one."""
        with self._lock:
            for k, j in list(self._jobs.items()):
                if j is job and j.done.is_set():
                    del self._jobs[k]


@st.cache_resource(show_spinner=False)
def gallery_jobs() -> GalleryJobs:
    """Per process (Streamlit's "Clear cache" starts afresh, as the tests do)."""
    return GalleryJobs()


def gallery_job(pack: Pack) -> GalleryJob:
    return gallery_jobs().get(pack.dataset, pack.input_size, str(data.data_root()))


def get_gallery(pack: Pack, wait_s: float = QUIET_WAIT_S):
    """(test split, None) or (None, why) for the pack's data set, waiting `wait_s` at most
    (the sidebar has waited for it already, with a progress bar: sidebar.await_gallery)."""
    job = gallery_job(pack)
    job.done.wait(wait_s)
    return job.outcome()


@st.cache_data(max_entries=8, show_spinner=False, ttl=60)
def _stored_report(key: str, _pack: Pack):

    return stored_report(_pack)


def get_stored_report(pack: Pack):
    """The pack's evaluation report for the Continuity and Robustness pages
    (report_view.StoredReport); re-read at most once a minute."""
    return _stored_report(pack_key(pack), pack)


@st.cache_resource
def warm_up_projections() -> threading.Thread:
    """Once per process, in the background: UMAP's numba compilation takes tens of seconds
    the first time, which would otherwise land on the first Embeddings visit.
    SC_VIZ_WARMUP=0 turns it off (the tests do, to keep their CPU)."""

    def run():

        with threadpool_limits(limits=1):
            embed.warm_up()

    thread = threading.Thread(target=run, name="sc-viz-warm-up", daemon=True)
    if os.environ.get(WARMUP_ENV, "1") != "0":
        thread.start()
    return thread
