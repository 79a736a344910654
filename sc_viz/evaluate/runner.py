"""`run_suites`: run the selected suites on a pack, one by one, saving report.json after
each suite (and after each unit of work inside a suite), so an interrupted run keeps what
it finished and `resume=True` picks up where it stopped."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Optional, Union

import torch

from sc_viz.data import data_root, load_split, seeded_subset
from sc_viz.evaluate.common import SUITES, EvalContext
from sc_viz.evaluate.distributed import Shard, from_environment
from sc_viz.evaluate.report import write_report
from sc_viz.evaluate.store import ReportFile, now
from sc_viz.packs import Pack, load_pack


def run_suites(
    pack: Union[Pack, str, Path],
    suites: Iterable[str] = ("all",),
    *,
    limit: Optional[int] = None,
    seed: int = 0,
    out: Union[str, Path, None] = None,
    progress: bool = True,
    resume: bool = False,
    batch_size: int = 256,
    options: Optional[dict] = None,
    root: Optional[str] = None,
    device: Optional[str] = None,
    figures: bool = True,
    log=print,
    shard: Optional[Shard] = None,
) -> dict:
    """Run `suites` on `pack`; write `out`/report.json after each suite (and report.md
    plus figures at the end) when `out` is given. Returns the report dict.

    A suite that raises is recorded as failed and the next one runs; Ctrl-C keeps the
    report as it stands (complete suites, partial robustness) and re-raises.

    Under torchrun (WORLD_SIZE > 1, or `shard` given) the sharded suites split their
    images among the processes and gather the per-image values (evaluate/distributed.py),
    the others run on rank 0 alone; only rank 0 reads and writes the report, and it hands
    the report it started from to the others, so every rank resumes the same way. There a
    sharded suite that fails stops the run (the other ranks would wait for it forever):
    rank 0 records the failure if it is rank 0's, and `--resume` goes on from there.
    """
    if shard is None:
        shard, device = from_environment(device)
    if not shard.is_main:  # rank 0 speaks and writes for all
        log, progress, out = (lambda *a, **k: None), False, None
    pack = pack_for_evaluation(pack, device)
    names = expand_suites(suites)
    test = seeded_subset(load_split(pack.dataset, "test", data_root(root), pack.input_size), limit, seed)
    file = ReportFile.start(pack, Path(out) if out is not None else None, log)
    file.report = shard.broadcast(file.report)  # the same resume decisions on every rank
    if shard.active:
        file.report["environment"]["processes"] = shard.world
    failed = []
    for name in names:
        ctx = EvalContext(
            pack,
            test,
            seed=seed,
            limit=limit,
            batch_size=batch_size,
            progress=progress,
            options=dict(options or {}),
            shard=shard,
        )
        settings = suite_settings(name, ctx)
        if resume and already_complete(file.report, name, settings):
            log(f"{name}: already complete with these settings; kept")
            continue
        if resume:
            ctx.previous = partial_results(file.report, name, settings)
        if shard.active and not SUITES[name].sharded:
            # rank 0 alone; the others wait for it at the barrier
            if shard.is_main and not run_suite(file, name, ctx, settings, log):
                failed.append(name)
            shard.barrier()
            continue
        if not run_suite(file, name, ctx, settings, log, reraise=shard.active):
            failed.append(name)
    if file.out_dir is not None:
        write_report(file.report, file.out_dir, figures=figures)
    shard.barrier()  # the others end when rank 0 has written everything
    file.report["failed"] = failed  # not saved: the status block holds it
    return file.report


def pack_for_evaluation(pack: Union[Pack, str, Path], device: Optional[str]) -> Pack:
    """`pack` itself, or the pack loaded from a folder; fails when no variant loaded."""
    if not isinstance(pack, Pack):
        pack = load_pack(pack, device=device)
        if pack.device.type == "cpu":
            # oneDNN convolutions run ~1.4x faster on NHWC weights (measured on ResNet-20);
            # only for a pack loaded here, never one the caller shares (e.g. the app's)
            for model in pack.models.values():
                model.to(memory_format=torch.channels_last)
    if not pack.models:
        raise ValueError(f"{pack.path}: no variant could be loaded: {pack.errors}")
    return pack


def expand_suites(names: Iterable[str]) -> list[str]:
    """'all' -> every registered suite, in registry order; unknown names fail early."""
    out = []
    for name in names:
        for n in SUITES.names() if name == "all" else [name]:
            SUITES[n]
            if n not in out:
                out.append(n)
    return out


def suite_settings(name: str, ctx: EvalContext) -> dict:
    """What a suite's numbers depend on, as report.json stores them (tuples -> lists), so
    that a stored run compares equal when nothing changed."""
    settings = {
        "seed": ctx.seed,
        "limit": ctx.limit,
        "n": len(ctx.test),
        "batch_size": ctx.batch_size,
        **SUITES[name].settings(ctx),
    }
    return json.loads(json.dumps(settings))


def _stored_state(report: dict, name: str, settings: dict) -> Optional[str]:
    """The stored state of suite `name` when it ran with these settings, else None."""
    if report["settings"].get(name) != settings:
        return None
    return report["status"].get(name, {}).get("state")


def already_complete(report: dict, name: str, settings: dict) -> bool:
    return _stored_state(report, name, settings) == "complete"


def partial_results(report: dict, name: str, settings: dict) -> dict:
    """What an interrupted run with these settings left of suite `name`, else {}."""
    if _stored_state(report, name, settings) != "partial":
        return {}
    return report["suites"].get(name, {})


def run_suite(
    file: ReportFile, name: str, ctx: EvalContext, settings: dict, log=print, reraise: bool = False
) -> bool:
    """Run one suite, saving its partial results as it reports them and its outcome at the
    end; False when it failed (recorded, the run goes on; with `reraise`, recorded and
    raised again). Ctrl-C saves and re-raises."""
    t0, cpu0 = time.time(), time.process_time()
    ctx.checkpoint = lambda partial: file.record(
        name, settings, {"state": "partial", "seconds": time.time() - t0}, partial
    )
    try:
        results = SUITES[name].run(ctx)
    except KeyboardInterrupt:
        file.save()
        raise
    except Exception as err:  # one broken suite must not cost the others
        file.record(
            name,
            settings,
            {
                "state": "failed",
                "seconds": time.time() - t0,
                "error": f"{type(err).__name__}: {err}",
                "finished": now(),
            },
            None,
        )
        log(f"{name}: FAILED: {type(err).__name__}: {err}")
        if reraise:
            raise
        return False
    # cpu_seconds: this process's CPU time, a fairer cost than wall time on a shared CPU
    file.record(
        name,
        settings,
        {
            "state": "complete",
            "seconds": round(time.time() - t0, 2),
            "cpu_seconds": round(time.process_time() - cpu0, 2),
            "finished": now(),
        },
        results,
    )
    if file.out_dir is not None:
        write_report(file.report, file.out_dir, figures=False)  # text now; figures at the end
    log(f"{name}: done in {time.time() - t0:.0f} s")
    return True
