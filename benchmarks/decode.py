"""Decoding an image folder: threads of this process versus spawned/forkserver processes.

`sc_viz.data.load_image_folder` decodes a data set once into its cached array. It runs
inside the app's threaded server, where a forked worker can inherit a lock another thread
holds and hang, so the choice is between threads (PIL releases the GIL while it decodes)
and processes started without fork (spawn, forkserver). This decodes the same images every
way in one process, in interleaved rounds, checks that they agree, and prints each way's
best time and the ratio of the best process pool to the best thread count. A pool's time
includes starting it (each start imports sc_viz.data, and so torch, in every worker), as
a build in the app would pay; the time with its workers already started is printed too.

    .venv/bin/python benchmarks/decode.py [--folder DATA/cifar10/test] [--limit 10000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np

from sc_viz.data import _list_folder, data_root, decode_image, decode_images


def with_threads(paths: list[str], size: int, threads: int) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = decode_images(paths, size, threads=threads)
    return time.perf_counter() - start, out


def with_processes(paths: list[str], size: int, method: str, workers: int) -> tuple[float, float, np.ndarray]:
    """(seconds including the pool's start, seconds of the decoding alone, images)."""
    start = time.perf_counter()
    with multiprocessing.get_context(method).Pool(workers) as pool:
        pool.starmap(decode_image, [(paths[0], size)] * workers)  # every worker started and ready
        ready = time.perf_counter()
        arrays = pool.starmap(decode_image, [(p, size) for p in paths], chunksize=256)
        end = time.perf_counter()
    return end - start, end - ready, np.stack(arrays)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="a class-folder tree (default: CIFAR-10's test set)")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=10000, help="images decoded per way")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best time counts")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes per pool")
    args = parser.parse_args(argv)
    folder = args.folder or data_root() / "cifar10" / "test"
    paths = [p for p, _ in _list_folder(folder)[1]][: args.limit]
    print(f"{len(paths)} images of {folder} at {args.size} px; {os.cpu_count()} CPUs; {args.rounds} rounds")

    thread_counts = sorted({1, 2, 4, args.workers})
    best: dict[str, float] = {}
    warm: dict[str, float] = {}
    reference = None
    for r in range(args.rounds):
        for t in thread_counts:
            seconds, out = with_threads(paths, args.size, t)
            best[f"threads x{t}"] = min(best.get(f"threads x{t}", float("inf")), seconds)
            reference = out if reference is None else reference
            assert np.array_equal(out, reference), "threads disagree"
        for method in ("spawn", "forkserver"):
            seconds, decoding, out = with_processes(paths, args.size, method, args.workers)
            name = f"{method} pool x{args.workers}"
            best[name] = min(best.get(name, float("inf")), seconds)
            warm[name] = min(warm.get(name, float("inf")), decoding)
            assert np.array_equal(out, reference), f"{method} disagrees"
        print(f"round {r + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in best.items()))

    for name, seconds in best.items():
        extra = f" (workers already started: {warm[name]:.2f} s)" if name in warm else ""
        print(f"{name:>18}: {seconds:6.2f} s  {len(paths) / seconds:7.0f} img/s{extra}")
    threads = min((v, k) for k, v in best.items() if k.startswith("threads"))
    pools = min((v, k) for k, v in best.items() if "pool" in k)
    print(
        f"ratio best pool / best threads = {pools[0] / threads[0]:.2f} "
        f"({pools[1]} {pools[0]:.2f} s vs {threads[1]} {threads[0]:.2f} s; above 1: threads faster)"
    )
    warm_best = min(warm.values())
    print(f"ratio best pool with started workers / best threads = {warm_best / threads[0]:.2f}")


if __name__ == "__main__":
    main()
