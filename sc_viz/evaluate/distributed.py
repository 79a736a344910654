"""Sharded evaluation under `torchrun` (`torchrun --nproc_per_node=N -m sc_viz eval ...`).

Every suite sees its test images in *units*: batches of `batch_size` images for the batch
suites (continuity, robustness, disruption), single images for the explanation suites
(saliency, explanation-stability, sanity). Unit k belongs to rank k % world, so a rank's
batches hold exactly the images they hold in a one-process run (same batch composition,
same arithmetic). Each rank computes its units, `Shard.gather` all-gathers them and puts
them back in unit order, and the suite then summarises the same ordered per-image values a
one-process run has: means, bootstrap intervals (same seed, same order) and counts come out
equal to the one-process numbers, bit for bit on the same device and thread count.

Random draws that run through the images in sequence (PGD random starts, centre noise,
puzzle shuffles) stay the one-process draws: a rank advances each generator over the
batches of the other ranks by drawing (and dropping) what those batches would draw, so the
draws of a batch do not depend on which process runs it. Everything else is seeded per
image already (LIME, SmoothGrad, ROAD, randomisation).

With one process (`Shard()`, world 1) every method here is the identity: no process group,
no copies, the single-process code path and numbers are unchanged.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.distributed as dist

from sc_viz.data import Split

TIMEOUT_ENV = "SC_VIZ_DIST_TIMEOUT"  # seconds; the same variable as training's
# Ranks wait at a collective while rank 0 runs a rank-0-only suite or writes the report's
# figures, so the evaluation's default is longer than training's (a dead process makes
# torchrun stop the others at once; the timeout only bounds a hung one).
DEFAULT_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Shard:
    """This process's place in the evaluation: rank `rank` of `world` processes."""

    rank: int = 0
    world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def units(self, count: int) -> range:
        """The units (batches or images, 0..count-1) this rank computes."""
        return range(self.rank, count, self.world)

    def split(self, split: Split, batch_size: int) -> Split:
        """The images of this rank's batches of `split` (batches of `batch_size`, in order):
        batching it again with `batch_size` gives exactly those batches."""
        if not self.active:
            return split
        n = len(split)
        positions = [
            i
            for b in self.units(-(-n // batch_size))
            for i in range(b * batch_size, min(n, (b + 1) * batch_size))
        ]
        return split.subset(positions)

    def all_gather(self, obj: Any) -> list:
        """[obj of rank 0, obj of rank 1, ...] on every rank ([obj] with one process)."""
        if not self.active:
            return [obj]
        out: list = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def gather(self, local: Sequence, count: int) -> list:
        """This rank's items, one per unit of `units(count)` in that order -> every rank's,
        as one list in unit order (0..count-1)."""
        if not self.active:
            return list(local)
        per_rank = self.all_gather(list(local))
        for r, items in enumerate(per_rank):
            expected = len(range(r, count, self.world))
            if len(items) != expected:
                raise RuntimeError(f"rank {r} sent {len(items)} results for {expected} units")
        return [per_rank[k % self.world][k // self.world] for k in range(count)]

    def gather_tree(self, tree: Any, count: int) -> Any:
        """`gather` applied to every list leaf of nested dicts and tuples (each leaf: one item
        per unit of this rank, in order); the keys and their order are this rank's."""
        if not self.active:
            return tree
        trees = self.all_gather(tree)

        def merge(node_path: tuple) -> Any:
            nodes = [_at(t, node_path) for t in trees]
            if isinstance(nodes[0], dict):
                return {k: merge((*node_path, k)) for k in nodes[0]}
            if isinstance(nodes[0], tuple):
                return tuple(merge((*node_path, i)) for i in range(len(nodes[0])))
            return [nodes[k % self.world][k // self.world] for k in range(count)]

        return merge(())

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


ONE_PROCESS = Shard()


def _at(tree: Any, path: tuple) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def skip_draws(draw, shapes: Sequence[tuple]) -> None:
    """Advance a generator over batches another rank computes: `draw(zeros)` must make the
    random draws the real computation makes for a batch of that shape (e.g. PGD with no
    steps: its random start), on a stand-in of zeros (CPU, float32, as batches come)."""
    for shape in shapes:
        draw(torch.zeros(shape))


def batch_shapes(split: Split, batch_size: int) -> list[tuple]:
    """The shape of every batch of `split` (float (B, 3, H, W)), in order."""
    n = len(split)
    if n == 0:
        return []
    image = tuple(split.images.shape[1:]) if split.images is not None else tuple(split.get(0).shape)
    return [(min(batch_size, n - start), *image) for start in range(0, n, batch_size)]


def from_environment(device: Optional[str] = None) -> tuple[Shard, Optional[str]]:
    """(this process's Shard, the device it evaluates on). Under torchrun (WORLD_SIZE > 1)
    joins the process group, NCCL for CUDA and gloo for the CPU, and puts each rank on
    cuda:LOCAL_RANK; otherwise (Shard(), `device`) untouched."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Shard(), device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if cuda:
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    else:
        device = "cpu"
    if not dist.is_initialized():
        timeout = float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)
        dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(seconds=timeout))
    return Shard(dist.get_rank(), dist.get_world_size()), device


def launch_local(processes: int, argv: Sequence[str]) -> int:
    """Run `python -m sc_viz <argv>` as `processes` ranks on this machine under torchrun
    (standalone rendezvous on a free local port; one CPU thread per rank unless
    OMP_NUM_THREADS says otherwise), wait for all of them; 0 when every rank succeeded, 1
    when one failed (torchrun's agent stops the others), 130 when a signal (Ctrl-C) stopped
    them."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    launcher = ["--standalone", f"--nproc_per_node={processes}", "--module", "sc_viz", *argv]
    threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = threads or "1"  # torchrun's own default, without its warning
    try:
        run(parse_args(launcher))
    except ChildFailedError as err:
        failures = "; ".join(f"rank {f.local_rank}: exit code {f.exitcode}" for f in err.failures.values())
        print(f"sc-viz: {processes} local processes, failed ({failures}); the log above says why")
        return 1
    except SignalException as err:  # Ctrl-C or a kill: torchrun has stopped the ranks
        print(f"sc-viz: stopped by signal {err.sigval}; run again with --resume to keep the finished suites")
        return 130
    finally:
        if threads is None:
            del os.environ["OMP_NUM_THREADS"]
    return 0
