"""Shared fixtures: the data root, tiny random-init packs, small CIFAR-10 splits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "datasets"
DEMO_PACK = REPO / "checkpoints" / "cifar10-resnet20"

# Tests need ../shared/datasets (CI has it); point SC_VIZ_DATA at it unless set.
if not os.environ.get("SC_VIZ_DATA") and SHARED_DATA.is_dir():
    os.environ["SC_VIZ_DATA"] = str(SHARED_DATA)

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = Path(os.environ["SC_VIZ_DATA"])
    assert (root / "cifar10" / "test").is_dir(), f"CIFAR-10 image folder missing under {root}"
    return root


@pytest.fixture(scope="session")
def cifar_test(data_root):
    from sc_viz.data import load_split

    return load_split("cifar10", "test", data_root)


def make_pack(
    path: Path,
    arch: str = "tinycnn",
    variants=("standard", "c", "adv", "advc"),
    seed: int = 0,
    num_classes: int = 10,
    input_size: int = 32,
) -> Path:
    """A pack of random-init models (different seed per variant), written by packs.py as
    every pack is."""
    from sc_viz import packs
    from sc_viz.data import CIFAR10_CLASSES, DATASETS
    from sc_viz.models import build_model

    spec = DATASETS["cifar10"]
    classes = CIFAR10_CLASSES if num_classes == 10 else [f"class{i}" for i in range(num_classes)]
    manifest = packs.new_manifest("cifar10", arch, classes, input_size, spec.mean, spec.std)
    models, entries = {}, {}
    for i, v in enumerate(variants):
        torch.manual_seed(seed + i)
        models[v] = build_model(arch, num_classes, spec.mean, spec.std).eval()
        cfg = {"variant": v, "arch": arch, "dataset": "cifar10", "note": "random init (test)"}
        entries[v] = {"status": "complete", "config": cfg, "metrics": {}}
    packs.write_new_pack(path, manifest, models, entries)
    return path


@pytest.fixture(scope="session")
def tiny_pack(tmp_path_factory) -> Path:
    """Four random-init TinyCNN variants (fast)."""
    return make_pack(tmp_path_factory.mktemp("packs") / "tiny")


@pytest.fixture
def tiny_packs_env(tiny_pack, monkeypatch) -> str:
    """Point the app at the tiny pack via SC_VIZ_PACKS (tests/app); returns the pack's name
    for the `pack` query parameter."""
    monkeypatch.setenv("SC_VIZ_PACKS", str(tiny_pack.parent))
    return tiny_pack.name


@pytest.fixture(scope="session")
def resnet20_pack(tmp_path_factory) -> Path:
    """Four random-init ResNet-20 variants (the demo pack's architecture)."""
    return make_pack(tmp_path_factory.mktemp("packs") / "r20", arch="resnet20")


@pytest.fixture
def no_fork(monkeypatch) -> list[str]:
    """Every way this process could fork or start a process (os.fork and its kin; the
    fork_exec under subprocess and under multiprocessing's spawn and forkserver contexts)
    raises while the test runs; returns the list of attempts (empty when none)."""
    import _posixsubprocess

    attempts: list[str] = []

    def forbidden(name):
        def refuse(*args, **kwargs):
            attempts.append(name)
            raise AssertionError(f"{name} called: nothing may fork or start a process here")

        return refuse

    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, forbidden(f"os.{name}"))
    monkeypatch.setattr(_posixsubprocess, "fork_exec", forbidden("_posixsubprocess.fork_exec"))
    return attempts
