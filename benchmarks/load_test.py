"""Load test: N users at once, each uploading a different image and asking for the full
variants x methods grid, through the code path the app uses (upload bytes ->
`sc_viz.images.load_input` -> one shared, cached `load_pack(...)` -> `explain_grid`).

Bounded and local: in-process threads (the Streamlit server also serves each session on
its own thread), no sockets, at most --max-users users and --time-limit seconds. It checks
that every user gets exactly their own image's results (identical to a single-user run)
and no exception, and reports wall times and peak memory (RSS).

    .venv/bin/python benchmarks/load_test.py                       # demo pack, 8 users
    .venv/bin/python benchmarks/load_test.py --pack checkpoints/cifar10-resnet20 --users 8 --fast

Exit code: 0 all users correct, 1 a user got wrong results or an error, 2 time limit.
This is a benchmark, not a CI test.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from sc_viz import load_pack  # noqa: E402
from sc_viz.explain import METHODS, explain_grid  # noqa: E402
from sc_viz.images import load_input  # noqa: E402

MAX_USERS = 32


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class PeakRSS(threading.Thread):
    """Samples the process's resident memory every 50 ms."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self._stop_evt = rss_mb(), threading.Event()

    def run(self):
        while not self._stop_evt.wait(0.05):
            self.peak = max(self.peak, rss_mb())

    def stop(self) -> float:
        self._stop_evt.set()
        self.join()
        return self.peak


def upload_bytes(i: int, size: int = 96) -> bytes:
    """User i's photo: a different random picture per user, PNG or JPEG."""
    rng = np.random.RandomState(1000 + i)
    base = rng.randint(0, 256, (6, 6, 3), dtype=np.uint8)
    im = Image.fromarray(base).resize((size + 8 * i, size), Image.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, "PNG" if i % 2 == 0 else "JPEG", **({} if i % 2 == 0 else {"quality": 90}))
    return buf.getvalue()


def user_session(pack, data: bytes, methods, options) -> dict:
    """What one browser session does: decode its upload, run the grid on the shared models."""
    t0 = time.perf_counter()
    _, x = load_input(data, pack.input_size)  # (1, 3, S, S)
    grid = explain_grid(pack.models, x, methods=methods, options=options)
    return {
        "targets": dict(grid.targets),
        "predictions": grid.predictions,
        "maps": {k: e.map.clone() for k, e in grid.cells.items()},
        "seconds": time.perf_counter() - t0,
    }


def same(a: dict, b: dict) -> bool:
    return (
        a["targets"] == b["targets"]
        and a["predictions"] == b["predictions"]
        and a["maps"].keys() == b["maps"].keys()
        and all(torch.equal(a["maps"][k], b["maps"][k]) for k in a["maps"])
    )


def random_pack(folder: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import make_pack

    return make_pack(folder / "random-tinycnn")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--pack",
        default=str(REPO / "checkpoints" / "cifar10-resnet20"),
        help="pack folder (default: the demo pack; a random TinyCNN pack if missing)",
    )
    ap.add_argument("--users", type=int, default=8, help=f"concurrent users (at most {MAX_USERS})")
    ap.add_argument("--methods", nargs="+", default=None, help="default: every registered method")
    ap.add_argument(
        "--fast",
        action="store_true",
        help="cheap method settings (IG 16 steps, "
        "LIME 100 samples, SmoothGrad 8 samples) instead of the app's defaults",
    )
    ap.add_argument("--time-limit", type=float, default=900, help="seconds for the whole run")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    if not 1 <= args.users <= MAX_USERS:
        ap.error(f"--users must be 1..{MAX_USERS}")
    if args.threads:
        torch.set_num_threads(args.threads)
    deadline = time.monotonic() + args.time_limit
    tmp = tempfile.TemporaryDirectory()
    pack_dir = Path(args.pack)
    if not (pack_dir / "manifest.json").exists():
        print(f"{pack_dir}: no pack; using a random TinyCNN pack", file=sys.stderr)
        pack_dir = random_pack(Path(tmp.name))
    rss_start = rss_mb()
    pack = load_pack(pack_dir, device="cpu")  # shared by all users, as st.cache_resource does
    if not pack.models:
        print(f"{pack_dir}: no variant loads: {pack.errors}", file=sys.stderr)
        return 1
    methods = args.methods or METHODS.names()
    options = (
        {
            "ig": {"n_steps": 16},
            "lime": {"n_samples": 100, "seed": 0},
            "smoothgrad": {"n_samples": 8, "seed": 0},
        }
        if args.fast
        else {
            "ig": {"n_steps": 50},
            "lime": {"n_samples": 1000, "seed": 0},
            "smoothgrad": {"n_samples": 25, "seed": 0},
        }
    )
    options = {m: o for m, o in options.items() if m in methods}
    uploads = [upload_bytes(i) for i in range(args.users)]
    print(
        f"pack {pack_dir} ({', '.join(pack.models)}), {args.users} users, methods "
        f"{', '.join(methods)}, torch threads {torch.get_num_threads()}"
    )

    # 1. every user alone, one after another: the reference results
    t0 = time.perf_counter()
    single = []
    for data in uploads:
        if time.monotonic() > deadline:
            print("time limit reached during the single-user runs", file=sys.stderr)
            return 2
        single.append(user_session(pack, data, methods, options))
    t_single = time.perf_counter() - t0
    rss_after_single = rss_mb()

    # 2. all users at once
    sampler = PeakRSS()
    sampler.start()
    start = threading.Barrier(args.users)

    def user(i):
        start.wait(timeout=60)
        return user_session(pack, uploads[i], methods, options)

    t0 = time.perf_counter()
    pool = ThreadPoolExecutor(args.users)
    futures = [pool.submit(user, i) for i in range(args.users)]
    done, pending = wait(futures, timeout=max(1.0, deadline - time.monotonic()))
    t_conc = time.perf_counter() - t0
    peak = sampler.stop()
    if pending:
        print(f"time limit: {len(pending)} users still running", file=sys.stderr)
        os._exit(2)  # threads cannot be cancelled; leave at once
    pool.shutdown()

    failures = []
    for i, fut in enumerate(futures):
        if fut.exception() is not None:
            failures.append(f"user {i}: {type(fut.exception()).__name__}: {fut.exception()}")
        elif not same(fut.result(), single[i]):
            failures.append(f"user {i}: results differ from the single-user run")
    distinct = len(
        {json.dumps(s["predictions"]) + str(float(sum(m.sum() for m in s["maps"].values()))) for s in single}
    )
    per_user = [f.result()["seconds"] for f in futures if f.exception() is None]
    report = {
        "users": args.users,
        "pack": str(pack_dir),
        "variants": list(pack.models),
        "methods": methods,
        "options": options,
        "torch_threads": torch.get_num_threads(),
        "single_user_total_s": round(t_single, 2),
        "single_user_mean_s": round(t_single / args.users, 2),
        "concurrent_wall_s": round(t_conc, 2),
        "concurrent_per_user_s": {
            "min": round(min(per_user), 2) if per_user else None,
            "max": round(max(per_user), 2) if per_user else None,
        },
        "rss_mb": {
            "start": round(rss_start, 1),
            "after_single_runs": round(rss_after_single, 1),
            "peak_concurrent": round(peak, 1),
            "peak_process_lifetime": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
        "distinct_user_results": distinct,
        "all_identical_to_single_user": not failures,
        "failures": failures,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    tmp.cleanup()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
