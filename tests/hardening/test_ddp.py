"""2-process `torchrun` (gloo, CPU): only rank 0 writes, the ranks end with identical
weights (and the manifest says so honestly), and a worker that dies or hangs makes the job
exit non-zero within a bounded time instead of hanging."""

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
from sc_viz.training.trainer import weights_checksum

REPO = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).parent / "torchrun"
WORKER = Path(__file__).with_name("ddp_worker.py")
ARGS = [
    "train",
    "--dataset",
    "cifar10",
    "--arch",
    "tinycnn",
    "--variant",
    "standard",
    "--train-limit",
    "400",
    "--epochs",
    "2",
    "--batch-size",
    "25",
    "--optimizer",
    "sgd",
    "--lr",
    "0.05",
    "--test-limit",
    "64",
    "--epoch-eval-limit",
    "64",
    "--precision",
    "fp32",
    "--no-progress",
]


def run_bounded(cmd, env, timeout: float) -> subprocess.CompletedProcess:
    """subprocess.run in its own process group; on timeout the whole group is killed (no
    orphaned workers) and the test fails."""
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"still running after {timeout} s (hung); stderr tail:\n{err[-2000:]}")
    finally:
        try:  # a SIGSTOPped or orphaned worker must not outlive the test
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def torchrun(out: Path, env_extra: dict, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **env_extra}
    cmd = [
        str(TORCHRUN),
        "--standalone",
        "--nproc_per_node=2",
        "--monitor-interval=0.5",
        str(WORKER),
        *ARGS,
        "--out",
        str(out),
    ]
    t0 = time.monotonic()
    proc = run_bounded(cmd, env, timeout)
    return proc, time.monotonic() - t0


def test_two_ranks_train_identical_weights_and_only_rank0_writes(tmp_path):
    out, states = tmp_path / "pack", tmp_path / "states"
    states.mkdir()
    proc, _ = torchrun(out, {"SCVIZ_TEST_STATE_DIR": str(states)}, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # only rank 0 logs and writes: one line per epoch, one final record, no temp files
    epochs_said = [line for line in proc.stdout.splitlines() if line.startswith("standard epoch ")]
    assert len(epochs_said) == 2, proc.stdout
    log = packs.read_jsonl(out / "train_log.jsonl")
    assert [r.get("epoch") for r in log if "epoch" in r] == [1, 2]
    assert sum("final" in r for r in log) == 1
    assert all(r["world_size"] == 2 for r in log if "epoch" in r)
    assert sorted(p.name for p in out.iterdir() if p.name != ".resume") == [
        "manifest.json",
        "standard.safetensors",
        "train_log.jsonl",
    ]
    assert not list(out.rglob("*.tmp"))
    manifest = packs.read_manifest(out)
    entry = manifest["variants"]["standard"]
    assert entry["status"] == "complete"
    ddp = entry["metrics"]["ddp"]
    assert ddp["world_size"] == 2
    # the ranks really hold the same weights (parameters and BatchNorm buffers) ...
    r0, _ = packs.read_weights(states / "rank0.safetensors")
    r1, _ = packs.read_weights(states / "rank1.safetensors")
    assert set(r0) == set(r1) and all(torch.equal(r0[k], r1[k]) for k in r0)
    assert any("running_mean" in k for k in r0)
    # ... the manifest's verdict comes from both ranks' real checksums ...
    assert ddp["weights_identical"] is True
    assert len(ddp["checksums"]) == 2 and ddp["checksums"][0] == ddp["checksums"][1]
    # ... and they are the weights that were saved
    pack = load_pack(out, device="cpu")
    assert weights_checksum(pack.models["standard"]) == ddp["checksums"][0]
    saved, _ = packs.read_weights(out / "standard.safetensors")
    assert all(torch.equal(saved[k], r0[k]) for k in r0)


def test_a_dead_rank_ends_the_torchrun_job_non_zero(tmp_path):
    """Rank 1 SIGKILLs itself at its 5th step: torchrun must end non-zero, promptly,
    leaving no complete variant behind."""
    out = tmp_path / "pack"
    proc, took = torchrun(out, {"SCVIZ_TEST_FAULT": "1:5:kill", "SC_VIZ_DIST_TIMEOUT": "20"}, timeout=300)
    assert proc.returncode != 0
    assert "test fault kill" in proc.stderr
    if (out / "manifest.json").exists():
        assert packs.read_manifest(out)["variants"].get("standard", {}).get("status") != "complete"


def test_a_hung_rank_makes_the_others_exit_after_the_timeout(tmp_path):
    """Rank 1 freezes (SIGSTOP) at its 5th step, without torchrun watching: rank 0 must
    give up after $SC_VIZ_DIST_TIMEOUT and exit non-zero instead of waiting forever."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    timeout_s = 8
    base = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "SC_VIZ_DIST_TIMEOUT": str(timeout_s),
    }
    cmd = [sys.executable, str(WORKER), *ARGS, "--out", str(tmp_path / "pack")]
    procs = [
        subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={
                **base,
                "RANK": str(r),
                "LOCAL_RANK": str(r),
                **({"SCVIZ_TEST_FAULT": "1:5:stop"} if r == 1 else {}),
            },
        )
        for r in (0, 1)
    ]
    try:
        try:
            _, err0 = procs[0].communicate(timeout=300)
        except subprocess.TimeoutExpired:
            pytest.fail("rank 0 still waiting for the hung rank after 300 s")
        # rank 1 is stopped, not dead: only the collective timeout can have ended rank 0
        assert procs[1].poll() is None
        with open(f"/proc/{procs[1].pid}/stat") as f:
            assert f.read().split(")")[1].split()[0] == "T"  # really stopped
        assert procs[0].returncode != 0
        assert "Timed out" in err0 or "timeout" in err0.lower(), err0[-2000:]
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.communicate()


def test_bad_timeout_env_is_a_clear_error(monkeypatch):
    from sc_viz.training.trainer import TrainError, setup_distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("SC_VIZ_DIST_TIMEOUT", "soon")
    with pytest.raises(TrainError, match="SC_VIZ_DIST_TIMEOUT"):
        setup_distributed()
