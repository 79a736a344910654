"""Training faults: kill -9 then --resume (same weights as an uninterrupted run), a crash
while writing a checkpoint (previous file intact), NaN/inf loss (clear stop, last good
checkpoint kept)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sc_viz import load_pack, packs
from sc_viz.training import trainer as train_mod
from sc_viz.training.trainer import TrainConfig, TrainingDiverged, resume_path, train

REPO = Path(__file__).resolve().parents[2]
CLI = [
    "--dataset",
    "cifar10",
    "--arch",
    "tinycnn",
    "--variant",
    "c",
    "--epochs",
    "3",
    "--train-limit",
    "1000",
    "--batch-size",
    "50",
    "--optimizer",
    "sgd",
    "--lr",
    "0.05",
    "--schedule",
    "cosine",
    "--test-limit",
    "64",
    "--epoch-eval-limit",
    "64",
    "--seed",
    "3",
    "--precision",
    "fp32",
    "--no-progress",
]
TINY = dict(
    arch="tinycnn",
    optimizer="sgd",
    lr=0.05,
    epochs=2,
    batch_size=50,
    train_limit=150,
    test_limit=32,
    epoch_eval_limit=32,
    precision="fp32",
)


def sc_viz(*args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "sc_viz", "train", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen, timeout=400) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"trainer still running after {timeout} s")
    return proc.returncode, out, err


def tensors(path: Path) -> dict:
    return packs.read_weights(path)[0]


def test_kill_9_mid_run_then_resume_equals_uninterrupted(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    reference = sc_viz(*CLI, "--out", str(full))  # runs alongside the one we kill
    victim = sc_viz(*CLI, "--out", str(cut))
    log = cut / packs.TRAIN_LOG
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and victim.poll() is None:
        if any(r.get("epoch") == 1 for r in packs.read_jsonl(log)):
            break
        time.sleep(0.02)
    assert victim.poll() is None, "the trainer ended before it could be killed"
    os.killpg(victim.pid, signal.SIGKILL)  # epoch 1 saved: now somewhere in epoch 2
    victim.communicate()
    assert victim.returncode == -signal.SIGKILL

    manifest = packs.read_manifest(cut)
    entry = manifest["variants"]["c"]
    assert entry["status"] == "training" and entry["epochs_done"] in (1, 2)
    saved = torch.load(resume_path(cut, "c"), map_location="cpu", weights_only=True)["epoch"]
    assert saved in (1, 2)
    assert load_pack(cut, device="cpu").models["c"] is not None  # the pack stays loadable

    rc, out, err = finish(sc_viz(*CLI, "--out", str(cut), "--resume"))
    assert rc == 0, err[-2000:]
    assert f"c: resuming after epoch {saved}/3" in out
    assert finish(reference)[0] == 0

    a, b = tensors(full / "c.safetensors"), tensors(cut / "c.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    epochs = [r["epoch"] for r in packs.read_jsonl(log) if "epoch" in r]
    assert len(epochs) == len(set(epochs)) and {1, 3} <= set(epochs)
    assert packs.read_manifest(cut)["variants"]["c"]["status"] == "complete"
    assert not resume_path(cut, "c").exists()


@pytest.mark.parametrize("fail_in", ["write", "fsync", "replace"])
def test_crash_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, fail_in):
    from safetensors.torch import save_file

    f = tmp_path / "pack" / "standard.safetensors"
    f.parent.mkdir()
    save_file({"w": torch.arange(6.0)}, str(f))
    before = f.read_bytes()

    class Crash(RuntimeError):
        pass

    def boom(*a, **k):
        raise Crash(fail_in)

    if fail_in == "write":  # the disk fills up half way
        real_fdopen = os.fdopen

        class Half:
            def __init__(self, fh):
                self.fh = fh

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.fh.close()

            def write(self, data):
                self.fh.write(data[: len(data) // 2])
                raise OSError(28, "No space left on device")

            def __getattr__(self, name):
                return getattr(self.fh, name)

        monkeypatch.setattr(packs.os, "fdopen", lambda fd, mode: Half(real_fdopen(fd, mode)))
    else:
        monkeypatch.setattr(packs.os, fail_in, boom)
    with pytest.raises((Crash, OSError)):
        packs.atomic_write_bytes(f, b"new weights that never land" * 1000)
    monkeypatch.undo()
    assert f.read_bytes() == before
    assert torch.equal(tensors(f)["w"], torch.arange(6.0))
    assert sorted(p.name for p in f.parent.iterdir()) == ["standard.safetensors"]  # no temp left


def test_crash_while_saving_an_epoch_keeps_the_last_good_pack(tmp_path, monkeypatch, data_root):
    """A crash inside the trainer's save of epoch 2 (weights file written, manifest not):
    the pack still loads, and --resume finishes the run."""
    cfg = TrainConfig(variant="standard", **TINY)
    out = tmp_path / "pack"
    train(cfg, out, progress=False, log=lambda m: None, stop_after_epochs=1)
    good_manifest = (out / "manifest.json").read_bytes()
    real = packs.atomic_write_json

    def crash_on_manifest(path, obj):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(packs, "atomic_write_json", crash_on_manifest)
    with pytest.raises(OSError):
        train(cfg, out, resume=True, progress=False, log=lambda m: None)
    monkeypatch.setattr(packs, "atomic_write_json", real)
    assert (out / "manifest.json").read_bytes() == good_manifest
    assert "standard" in load_pack(out, device="cpu").models
    assert not list(out.rglob("*.tmp"))
    train(cfg, out, resume=True, progress=False, log=lambda m: None)
    assert packs.read_manifest(out)["variants"]["standard"]["status"] == "complete"


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, data_root):
    cfg = TrainConfig(variant="c", **TINY)
    out = tmp_path / "pack"
    real_step, calls = train_mod.training_step, [0]
    steps_per_epoch = 150 // 50

    def poisoned(*args, **kwargs):
        calls[0] += 1
        loss, ce, sc, correct = real_step(*args, **kwargs)
        if calls[0] == steps_per_epoch + 2:  # second step of epoch 2
            loss = loss * float("nan")
        return loss, ce, sc, correct

    monkeypatch.setattr(train_mod, "training_step", poisoned)
    lines = []
    with pytest.raises(TrainingDiverged) as info:
        train(cfg, out, progress=False, log=lines.append)
    msg = str(info.value)
    assert "\n" not in msg and "nan" in msg and "epoch 2" in msg and "epoch 1" in msg
    entry = packs.read_manifest(out)["variants"]["c"]
    assert entry["status"] == "training" and entry["epochs_done"] == 1
    weights = tensors(out / "c.safetensors")
    assert all(torch.isfinite(t).all() for t in weights.values() if t.is_floating_point())
    state = torch.load(resume_path(out, "c"), map_location="cpu", weights_only=True)
    assert state["epoch"] == 1
    assert all(torch.equal(state["model"][k], weights[k]) for k in weights)
    assert load_pack(out, device="cpu").models["c"] is not None


def test_diverging_cli_run_exits_2_with_one_line(tmp_path):
    out = tmp_path / "pack"
    args = [
        "--dataset",
        "cifar10",
        "--arch",
        "tinycnn",
        "--variant",
        "standard",
        "--epochs",
        "2",
        "--train-limit",
        "100",
        "--batch-size",
        "50",
        "--test-limit",
        "32",
        "--epoch-eval-limit",
        "32",
        "--precision",
        "fp32",
        "--no-progress",
        "--out",
        str(out),
        "--optimizer",
        "sgd",
        "--lr",
        "1e30",
        "--no-augment",
    ]
    rc, stdout, err = finish(sc_viz(*args))
    assert rc == 2, err[-2000:]
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0] and ("nan" in lines[0] or "inf" in lines[0]), err
    assert "stopped" in lines[0]
    if (out / "manifest.json").exists():  # whatever was saved is finite and loadable
        assert packs.read_manifest(out)["variants"]["standard"]["status"] != "complete"
        assert "standard" in load_pack(out, device="cpu").models


def test_infinite_lambda_is_caught_in_process(tmp_path, data_root):
    cfg = TrainConfig(variant="c", **{**TINY, "lam": float("inf"), "epochs": 1})
    with pytest.raises(TrainingDiverged, match="no checkpoint was written"):
        train(cfg, tmp_path / "pack", progress=False, log=lambda m: None)
    assert not (tmp_path / "pack" / "manifest.json").exists()


def test_two_trainers_on_one_pack_keep_each_others_variants(tmp_path, data_root):
    """Another process trains variant 'adv' into the same pack meanwhile (simulated by
    writing its manifest entry): finishing 'standard' must not drop it."""
    cfg = TrainConfig(variant="standard", **{**TINY, "epochs": 2})
    out = tmp_path / "pack"
    train(cfg, out, progress=False, log=lambda m: None, stop_after_epochs=1)
    m = packs.read_manifest(out)
    other = {"file": "adv.safetensors", "status": "training", "epochs_done": 3, "config": {}}
    m["variants"]["adv"] = other
    packs.atomic_write_json(out / "manifest.json", m)
    train(cfg, out, resume=True, progress=False, log=lambda m: None)
    final = packs.read_manifest(out)["variants"]
    assert final["adv"] == other
    assert final["standard"]["status"] == "complete"
