"""The paper's experiments on a pack -> `reports/<pack>/report.json` + `report.md`.

`run_suites(pack, suites, ...)` runs the selected suites (registry `SUITES`) one by one
and rewrites report.json atomically after each suite, and after each variant inside the
slow robustness suite, so an interrupted run keeps what it finished; `resume=True` skips
suites (and robustness variants) already done with the same settings and weights.
`load_report(pack)` finds a pack's report for the app.

report.json schema ("format": "sc-viz-report/1"; levels, strengths and lambdas are JSON
object keys, so strings: "1".."4", "0.25"; accuracies are fractions in [0, 1]):

    format, created, updated               str (ISO 8601 UTC)
    pack        {name, path, dataset, arch, input_size, classes, hash, variants: [...],
                 not_loaded: {variant: reason}}    hash: sha256 over the weights files
    environment {python, platform, sc-viz, torch, ..., device, torch_threads}
    settings    {suite: {seed, limit, n, batch_size, ...suite-specific}}
    status      {suite: {state: "complete"|"partial"|"failed", seconds, cpu_seconds,
                 finished, error?}}
    paper       the paper's anchor numbers (evaluate.report.PAPER)
    suites:
      continuity   {mean_ds:        {variant: {perturbation: {level: float}}},   Fig. 4
                    std_ds:         same shape,
                    level1_ds_sum:  {variant: float},                           Fig. 5 measure
                    violation_rate: {variant: {perturbation: {level: float|null}}},  Fig. 1
                    violated_share: same shape (fraction of images with >= 1 violation),
                    clean_acc: {variant: float}, n: int}
      embeddings   {images: [{position, label, class, same_class: int, kinds: [...],
                     indices: [...], violations: {variant: {perturbation: int}},
                     distances: {variant: [DS to x per point]},
                     coords: {method: {variant: [[x, y] per point]}}}],
                    level: int, count: int, methods: [...], joint: true}      Fig. 1-2
      robustness   {variant: {clean_acc, pgd_acc, n, eps, step_size, steps, random_start,
                    norm}}                                                      Table 2
      disruption   {accuracy: {variant: {transform: {strength: float}}},       Tables 7/9/11
                    clean_acc: {variant: float}, strengths: {transform: [..]}, n: int}
      saliency     {measures: {variant: {method: {measure: float}}},  (mean over the sample)
                    std: same shape, n: int, methods: [...]}
      explanation-stability
                   {spearman: {variant: {method: {perturbation: float}}},  (mean over images)
                    ssim: same shape, level: int, n: int, methods: [...]}
"""
from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Iterable, Optional, Union

import torch

from ..data import data_root, load_split, seeded_subset
from ..packs import Pack, atomic_write_json, load_pack
from .common import SUITES, EvalContext, SuiteSpec, device_info, pack_hash, versions
from . import continuity, embeddings, robustness, disruption, saliency, stability  # noqa: F401  (register)

FORMAT = "sc-viz-report/1"
REPORT_JSON = "report.json"

__all__ = ["SUITES", "SuiteSpec", "EvalContext", "run_suites", "load_report", "FORMAT"]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def new_report(pack: Pack) -> dict:
    from .report import PAPER

    return {
        "format": FORMAT, "created": _now(), "updated": _now(),
        "pack": {"name": pack.name, "path": str(pack.path), "dataset": pack.dataset,
                 "arch": pack.arch, "input_size": pack.input_size, "classes": pack.classes,
                 "hash": pack_hash(pack), "variants": list(pack.models),
                 "not_loaded": dict(pack.errors)},
        "environment": {**versions(), **device_info(pack.device)},
        "settings": {}, "status": {}, "paper": PAPER, "suites": {},
    }


def read_report(path: Path) -> Optional[dict]:
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and report.get("format") == FORMAT else None


def expand_suites(names: Iterable[str]) -> list[str]:
    """'all' -> every registered suite, in registry order; unknown names fail early."""
    out = []
    for name in names:
        for n in (SUITES.names() if name == "all" else [name]):
            SUITES[n]
            if n not in out:
                out.append(n)
    return out


def run_suites(pack: Union[Pack, str, Path], suites: Iterable[str] = ("all",), *,
               limit: Optional[int] = None, seed: int = 0, out: Union[str, Path, None] = None,
               progress: bool = True, resume: bool = False, batch_size: int = 256,
               options: Optional[dict] = None, root: Optional[str] = None,
               device: Optional[str] = None, figures: bool = True, log=print) -> dict:
    """Run `suites` on `pack`; write `out`/report.json after each suite (and report.md
    plus figures at the end) when `out` is given. Returns the report dict.

    A suite that raises is recorded as failed and the next one runs; Ctrl-C keeps the
    report as it stands (complete suites, partial robustness) and re-raises.
    """
    from .report import write_report

    if not isinstance(pack, Pack):
        pack = load_pack(pack, device=device)
        if pack.device.type == "cpu":
            # oneDNN convolutions run ~1.4x faster on NHWC weights (measured on ResNet-20);
            # only for a pack loaded here, never one the caller shares (e.g. the app's)
            for model in pack.models.values():
                model.to(memory_format=torch.channels_last)
    if not pack.models:
        raise ValueError(f"{pack.path}: no variant could be loaded: {pack.errors}")
    names = expand_suites(suites)
    test = seeded_subset(load_split(pack.dataset, "test", data_root(root), pack.input_size),
                         limit, seed)
    out_dir = Path(out) if out is not None else None
    report = new_report(pack)
    if out_dir is not None:
        old = read_report(out_dir / REPORT_JSON)
        if old is not None and old["pack"].get("hash") == report["pack"]["hash"]:
            # same weights: keep the other suites' results, refresh the environment
            old["environment"], old["paper"] = report["environment"], report["paper"]
            report = old
        elif old is not None:
            log(f"{out_dir / REPORT_JSON}: made from other weights; starting a new report")

    def save() -> None:
        report["updated"] = _now()
        if out_dir is not None:
            atomic_write_json(out_dir / REPORT_JSON, report)

    failed = []
    for name in names:
        spec = SUITES[name]
        ctx = EvalContext(pack, test, seed=seed, limit=limit, batch_size=batch_size,
                          progress=progress, options=dict(options or {}))
        settings = {"seed": seed, "limit": limit, "n": len(test), "batch_size": batch_size,
                    **spec.settings(ctx)}
        settings = json.loads(json.dumps(settings))  # compare as stored (tuples -> lists)
        status = report["status"].get(name, {})
        same = report["settings"].get(name) == settings
        if resume and same and status.get("state") == "complete":
            log(f"{name}: already complete with these settings; kept")
            continue
        if resume and same and status.get("state") == "partial":
            ctx.previous = report["suites"].get(name, {})

        t0, cpu0 = time.time(), time.process_time()

        def checkpoint(partial: dict, name=name, t0=t0, settings=settings) -> None:
            report["suites"][name] = partial
            report["settings"][name] = settings
            report["status"][name] = {"state": "partial", "seconds": time.time() - t0}
            save()

        ctx.checkpoint = checkpoint
        try:
            results = spec.run(ctx)
        except KeyboardInterrupt:
            save()
            raise
        except Exception as err:  # one broken suite must not cost the others
            report["status"][name] = {"state": "failed", "seconds": time.time() - t0,
                                      "error": f"{type(err).__name__}: {err}", "finished": _now()}
            report["settings"][name] = settings
            report["suites"].pop(name, None)
            save()
            failed.append(name)
            log(f"{name}: FAILED: {type(err).__name__}: {err}")
            continue
        report["suites"][name] = results
        report["settings"][name] = settings
        # cpu_seconds: this process's CPU time, a fairer cost than wall time on a shared CPU
        report["status"][name] = {"state": "complete", "seconds": round(time.time() - t0, 2),
                                  "cpu_seconds": round(time.process_time() - cpu0, 2),
                                  "finished": _now()}
        save()
        if out_dir is not None:
            write_report(report, out_dir, figures=False)  # text now; figures at the end
        log(f"{name}: done in {time.time() - t0:.0f} s")
    if out_dir is not None:
        write_report(report, out_dir, figures=figures)
    report["failed"] = failed  # not saved: the status block holds it
    return report


def _repo_reports() -> list[Path]:
    return [Path.cwd() / "reports", Path(__file__).resolve().parents[2] / "reports"]


def load_report(pack: Union[str, Path, Pack], reports_root: Union[str, Path, None] = None
                ) -> Optional[dict]:
    """The report of a pack (a Pack, a pack folder or a pack name): `<root>/<pack name>/
    report.json`, root = `reports_root`, else ./reports, else the checkout's reports/.
    None when there is none or it cannot be read."""
    name = pack.name if isinstance(pack, Pack) else Path(str(pack)).name
    roots = [Path(reports_root)] if reports_root is not None else _repo_reports()
    for root in roots:
        report = read_report(root / name / REPORT_JSON)
        if report is not None:
            report.pop("failed", None)
            return report
    return None
