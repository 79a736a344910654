"""What every suite shares: the suite object (`Suite`) and its registry, the evaluation
context (pack, seeded test sample, seed, device, progress bars), batching, package versions
and the pack hash."""

from __future__ import annotations

import hashlib
import platform
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Optional

import torch

from sc_viz import __version__
from sc_viz.data import Split, iterate_batches, seeded_subset
from sc_viz.evaluate.distributed import Shard
from sc_viz.evaluate.render import Chart, Figure
from sc_viz.packs import Pack, variant_file
from sc_viz.registry import Registry


@dataclass
class EvalContext:
    """One evaluation run as a suite sees it."""

    pack: Pack
    test: Split  # the seeded test sample (the whole test split when limit is None)
    seed: int = 0
    limit: Optional[int] = None
    batch_size: int = 256
    progress: bool = True
    options: dict = field(default_factory=dict)  # suite-specific settings (CLI flags)
    # results of an interrupted earlier run with the same settings (resume), else {}
    previous: dict = field(default_factory=dict)
    # called with the suite's partial results after each finished unit of work, so an
    # interrupted run keeps them; set by run_suites
    checkpoint: Callable[[dict], None] = lambda partial: None
    # this process's share of a torchrun evaluation (evaluate/distributed.py); one
    # process: Shard(), and every shard_* helper below is the whole sample
    shard: Shard = field(default_factory=Shard)

    @property
    def models(self) -> dict[str, torch.nn.Module]:
        return self.pack.models

    @property
    def device(self) -> torch.device:
        return self.pack.device

    def batches(
        self, split: Optional[Split] = None, batch_size: Optional[int] = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(x (B, 3, H, W) in [0, 1], y (B,)) on the pack's device, in a fixed order."""
        return iterate_batches(
            split if split is not None else self.test,
            batch_size or self.batch_size,
            shuffle=False,
            augment=False,
            device=self.device,
        )

    def shard_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's batches of the test sample (`ctx.batches()` with one process): batch
        k of the sample when k % world == rank, in order; `shard.gather(items,
        self.n_batches())` puts per-batch results back in sample order."""
        return self.batches(self.shard.split(self.test, self.batch_size))

    def n_batches(self, split: Optional[Split] = None) -> int:
        return -(-len(split if split is not None else self.test) // self.batch_size)

    def explanation_sample_size(self, key: str, default: int, per: int) -> int:
        """How many images an explanation suite explains: options[key] when set, else
        `default` on the whole test set; a quick --limit run shrinks it with the rest of the
        evaluation, to one image per `per` (at least 5), so `--limit 500` stays quick."""
        if self.options.get(key) is not None:
            return int(self.options[key])
        if self.limit is None:
            return default
        return min(default, max(5, self.limit // per))

    def sample(self, n: Optional[int]) -> Split:
        """A seeded sub-sample of the test sample (explanation suites use a few images)."""
        return seeded_subset(self.test, n, self.seed)

    def bar(self, total: int, desc: str, unit: str = "img"):
        from tqdm import tqdm

        tty = sys.stderr.isatty()
        return tqdm(
            total=total,
            desc=desc,
            unit=unit,
            disable=not self.progress,
            dynamic_ncols=True,
            mininterval=0.5 if tty else 30,
            leave=True,
        )


def no_settings(ctx: EvalContext) -> dict:
    return {}


def no_section(result: dict, settings: dict) -> str:
    return ""


def no_charts(result: dict) -> list[Chart]:
    return []


def no_figures(result: dict) -> list[Figure]:
    return []


@dataclass(frozen=True)
class Suite:
    """One suite, whole: what it computes and how the report shows it. A suite module
    registers one in `SUITES`; the runner and the report (report.py) loop over them and know
    nothing else of any suite."""

    run: Callable[[EvalContext], dict]  # -> JSON-ready results (schema in evaluate/__init__)
    description: str
    settings: Callable[[EvalContext], dict] = no_settings  # what else the numbers depend on
    # under torchrun: True when `run` splits its images among the ranks (ctx.shard) and
    # gathers them; False: rank 0 runs the suite alone while the others wait
    sharded: bool = False
    # its section of report.md from (results, settings as report.json keeps them); drawn
    # once the suite is complete; "" for none
    markdown: Callable[[dict, dict], str] = no_section
    # its figures as data (`Chart`), drawn by the report with plotly and matplotlib; from
    # the results as they stand, complete or not
    charts: Callable[[dict], list[Chart]] = no_charts
    # the figures it draws its own way (`Figure`: embeddings, budget curves), after its charts
    figures: Callable[[dict], list[Figure]] = no_figures


SUITES: Registry[Suite] = Registry("suite")


def level_key(level: int) -> str:
    """JSON object keys are strings; levels, strengths and lambdas are keyed as str(value)."""
    return str(level)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in (
        "sc-viz",
        "torch",
        "torchvision",
        "numpy",
        "scipy",
        "scikit-image",
        "captum",
        "lime",
        "plotly",
        "matplotlib",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    if out["sc-viz"] is None:  # running from a checkout that is not pip-installed
        out["sc-viz"] = __version__
    return out


def device_info(device: torch.device) -> dict[str, Any]:
    info = {"device": str(device), "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["cuda_device"] = torch.cuda.get_device_name(device)
    return info


def variant_hashes(pack: Pack) -> dict[str, str]:
    """sha256 of each loaded variant's weights file (a report updated for some variants
    only checks the others against these: evaluate/update.py)."""
    return {v: pack.weights_sha256(v) for v in sorted(pack.models)}


def pack_hash(pack: Pack) -> str:
    """sha256 over the pack's data set, arch and the bytes of every loaded weights file:
    a report belongs to exactly these weights."""
    h = hashlib.sha256(f"{pack.dataset}|{pack.arch}|{pack.input_size}".encode())
    for variant in sorted(pack.models):
        h.update(variant.encode())
        h.update(variant_file(pack.path, pack.manifest["variants"][variant], variant).read_bytes())
    return h.hexdigest()
