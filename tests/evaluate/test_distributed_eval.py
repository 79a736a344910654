"""`sc-viz eval` in two processes as torchrun starts them (gloo, CPU) gives the report.json
numbers of a one-process run, only rank 0 writes, and rank 0's resume holds for both
(evaluate/distributed.py)."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

import torch

from sc_viz.cli import main
from sc_viz.data import Split
from sc_viz.evaluate.distributed import ONE_PROCESS, Shard, batch_shapes

# 30 images in batches of 8: 4 batches (the last of 6), rank 0 takes batches 0 and 2,
# rank 1 batches 1 and 3; 5 explained images: 3 and 2. neurons runs on rank 0 alone.
# One two-process run, resuming from a report left by an interrupted run.
SUITES = ["continuity", "robustness", "disruption", "saliency", "explanation-stability", "sanity", "neurons"]
ARGS = [
    "eval",
    "--suite",
    *SUITES,
    "--limit",
    "30",
    "--seed",
    "3",
    "--batch-size",
    "8",
    "--pgd-steps",
    "2",
    "--methods",
    "saliency",
    "gradcam",
    "--explain-limit",
    "5",
    "--stability-limit",
    "3",
    "--sanity-limit",
    "3",
    "--neurons-limit",
    "8",
    "--no-figures",
    "--no-progress",
    "--device",
    "cpu",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_main(rank: int, port: int, args: list[str]) -> None:
    """One process as torchrun starts it: the environment torchrun sets, then the CLI."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE="2",
        LOCAL_WORLD_SIZE="2",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    try:
        rc = main(args)
    except BaseException:
        traceback.print_exc()
        rc = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)  # a forked child must not run the parent's (pytest's) exit handlers


def run_two_ranks(args: list[str], timeout: float = 180) -> list[int]:
    """Two gloo processes (forked: torch is imported already, which saves the half minute
    two fresh interpreters spend importing it on a loaded CPU); their exit codes. The CLI
    under torchrun sees the same environment; tests/hardening/test_ddp.py runs torchrun
    itself."""
    port = free_port()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_rank_main, args=(r, port, args)) for r in range(2)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    hung = [p for p in procs if p.is_alive()]
    for p in hung:
        p.kill()
        p.join()
    assert not hung, f"ranks still running after {timeout} s"
    return [p.exitcode for p in procs]


def test_two_processes_give_the_one_process_report_and_resume_on_rank0(tiny_pack, tmp_path, capfd):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main([*ARGS, "--pack", str(tiny_pack), "--out", str(one)]) == 0
    a = json.loads((one / "report.json").read_text())
    # what an interrupted run leaves: neurons complete, robustness done for one variant only,
    # the rest not run; the two processes resume from it (rank 0 reads it for both)
    left = json.loads(json.dumps(a))
    left["suites"] = {
        "neurons": a["suites"]["neurons"],
        "robustness": {"standard": a["suites"]["robustness"]["standard"]},
    }
    left["status"] = {"neurons": a["status"]["neurons"], "robustness": {"state": "partial", "seconds": 1}}
    left["settings"] = {s: a["settings"][s] for s in ("neurons", "robustness")}
    two.mkdir()
    (two / "report.json").write_text(json.dumps(left))

    capfd.readouterr()
    assert run_two_ranks([*ARGS, "--pack", str(tiny_pack), "--out", str(two), "--resume"]) == [0, 0]
    said = capfd.readouterr().out
    assert said.count("report: ") == 1  # rank 0 speaks for both
    assert said.count("already complete") == 1  # neurons, kept
    b = json.loads((two / "report.json").read_text())
    assert b["environment"]["processes"] == 2 and "processes" not in a["environment"]
    assert a["settings"] == b["settings"]
    assert all(b["status"][s]["state"] == "complete" for s in SUITES)
    for suite in SUITES:  # every number: means, intervals, counts, per-image values
        assert b["suites"][suite] == a["suites"][suite], suite
    # the sample really was split: per-image values of both ranks' batches are there
    robust = a["suites"]["robustness"]["advc"]["per_image"]["pgd_correct"].split()
    assert len(robust) == 30 and a["suites"]["saliency"]["n"] == 5
    assert sorted(p.name for p in two.iterdir()) == ["report.json", "report.md"]


def test_shards_cover_the_sample_once_in_whole_batches():
    import torch

    split = Split(torch.arange(30), ["c"], images=torch.zeros(30, 3, 4, 4, dtype=torch.uint8))
    split.labels[:] = torch.arange(30)
    shards = [Shard(r, 3).split(split, 8) for r in range(3)]
    assert [s.labels.tolist() for s in shards] == [
        list(range(0, 8)) + list(range(24, 30)),
        list(range(8, 16)),
        list(range(16, 24)),
    ]
    assert batch_shapes(split, 8) == [(8, 3, 4, 4)] * 3 + [(6, 3, 4, 4)]
    assert list(Shard(1, 2).units(5)) == [1, 3] and Shard().split(split, 8) is split


# ---------------------------------------------------------------- the random draws, rank by rank
@dataclass(frozen=True)
class ThreadShard(Shard):
    """A rank of `world` threads: all_gather through shared slots (no process group), so a
    test can run both ranks of a sharded computation inside one process."""

    slots: list = field(default_factory=list)
    meet: threading.Barrier | None = None

    def all_gather(self, obj):
        self.slots[self.rank] = obj
        self.meet.wait()
        out = list(self.slots)
        self.meet.wait()  # nobody overwrites a slot before everyone has read
        return out


def on_two_threads(work) -> list:
    """work(shard) on ranks 0 and 1 at once; their results."""
    slots, meet, results = [None, None], threading.Barrier(2, timeout=60), [None, None]

    def rank(r):
        results[r] = work(ThreadShard(r, 2, slots, meet))

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(r is not None for r in results)
    return results


class PixelAboveHalf(torch.nn.Module):
    """Class 1 when pixel (0, row, col) is above 0.5, else class 0: which way a random
    start or a noise draw pushes that one pixel decides the answer."""

    def __init__(self, row: int = 0, col: int = 0):
        super().__init__()
        self.row, self.col = row, col
        self.bias = torch.nn.Parameter(torch.zeros(2))

    def forward(self, x):
        v = x[:, 0, self.row, self.col] - 0.5  # (N,)
        return torch.stack([torch.zeros_like(v), v], dim=1) + self.bias


def half_grey(n: int = 30, seed: int = 0) -> Split:
    """Labels 1; pixel (0, 0, 0) just below 0.5 (a random start of +-8/255 lands either
    side), the rest random (a shuffled puzzle or centre noise moves the pixels read)."""
    g = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    img[:, 0, 0, 0] = 127
    return Split(torch.ones(n, dtype=torch.long), ["no", "yes"], images=img)


def test_sharded_pgd_random_starts_are_the_one_process_ones():
    from sc_viz.attacks import PGDConfig
    from sc_viz.evaluate.robustness import correct_per_image

    model, split = PixelAboveHalf().eval(), half_grey()
    attack = PGDConfig(eps=8 / 255, step_size=0.0, steps=1, random_start=True)
    one = correct_per_image(model, split, batch_size=8, attack=attack, seed=5)
    assert 5 < sum(one) < 25  # the starts decide: a wrong draw would show
    two = on_two_threads(
        lambda s: correct_per_image(model, split, batch_size=8, attack=attack, seed=5, shard=s)
    )
    assert two[0] == two[1] == one


def test_sharded_disruption_draws_are_the_one_process_ones():
    from sc_viz.evaluate import disruption

    from .helpers import context

    models = {"corner": PixelAboveHalf(0, 1), "centre": PixelAboveHalf(16, 16)}
    strengths = {"centre_noise": [0.5], "sliding_puzzle": [4]}

    def run(shard=ONE_PROCESS):
        ctx = context(models, half_grey(), batch_size=8, seed=2, options={"disruption_strengths": strengths})
        ctx.shard = shard
        return disruption.run(ctx)

    one = run()
    two = on_two_threads(run)
    assert two[0] == two[1] == one
    assert 0.2 < one["accuracy"]["centre"]["centre_noise"]["0.5"] < 0.8  # noise decides


def test_processes_flag_runs_local_ranks_with_the_one_process_report(tiny_pack, tmp_path, capfd):
    """`sc-viz eval --processes 2` starts two CPU ranks through torchrun (fresh interpreters)
    and writes what one process writes."""
    args = ["eval", "--pack", str(tiny_pack), "--suite", "sanity", "saliency", "--limit", "12", "--seed", "1"]
    args += ["--methods", "saliency", "gradcam", "--explain-limit", "3", "--sanity-limit", "3"]
    args += ["--no-figures", "--no-progress"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main([*args, "--out", str(one), "--threads", "1"]) == 0
    capfd.readouterr()
    assert main([*args, "--out", str(two), "--processes", "2"]) == 0
    assert capfd.readouterr().out.count("report: ") == 1
    a, b = (json.loads((d / "report.json").read_text()) for d in (one, two))
    assert b["environment"]["processes"] == 2
    for suite in ("sanity", "saliency"):
        assert b["suites"][suite] == a["suites"][suite], suite


def test_processes_flag_is_checked_and_taken_out_of_the_ranks_arguments(tiny_pack):
    from sc_viz.cli.eval import _device_cpu, _without_processes

    assert _without_processes(["--pack", "p", "--processes", "2", "--limit", "3"]) == [
        "--pack",
        "p",
        "--limit",
        "3",
    ]
    assert _without_processes(["--processes=4", "--resume"]) == ["--resume"]
    assert _device_cpu(["--pack", "p"]) == ["--pack", "p", "--device", "cpu"]
    assert _device_cpu(["--device", "cpu"]) == ["--device", "cpu"]
    assert main(["eval", "--pack", str(tiny_pack), "--processes", "0"]) == 2
    assert main(["eval", "--pack", str(tiny_pack), "--processes", "2", "--device", "cuda"]) == 2


def test_processes_flag_reports_a_failed_rank(tiny_pack, tmp_path, capfd):
    """A rank that fails (here: no data where --data-root points) ends the run with exit code 1
    and a line naming the failed ranks; a wrong pack path is refused before any rank starts."""
    args = ["eval", "--pack", str(tiny_pack), "--suite", "sanity", "--out", str(tmp_path / "r")]
    nowhere = str(tmp_path / "no-data")
    assert main([*args, "--processes", "2", "--data-root", nowhere, "--no-progress"]) == 1
    out = capfd.readouterr()
    assert "2 local processes, failed (rank " in out.out
    assert "no-data" in out.err  # each rank's own error line, as one process prints it
    missing = ["eval", "--pack", str(tmp_path / "no-pack"), "--processes", "2"]
    assert main(missing) == 2 and "no manifest.json" in capfd.readouterr().err


def test_local_launch_stopped_by_a_signal_says_how_to_go_on(monkeypatch, capsys):
    """Ctrl-C reaches torchrun's agent as a SignalException once it has stopped the ranks:
    one line and exit code 130, no traceback of the launcher."""
    import signal

    import torch.distributed.run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException

    from sc_viz.evaluate.distributed import launch_local

    def interrupted(config):
        raise SignalException("got signal: 2", sigval=signal.SIGINT)

    monkeypatch.setattr(torchrun, "run", interrupted)
    assert launch_local(2, ["eval", "--pack", "p"]) == 130
    assert "--resume" in capsys.readouterr().out
