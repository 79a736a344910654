"""Update a report for some variants only: after retraining one or two variants of a pack,
run the suites on those variants and put their results into the pack's report in place of
the old ones, keeping every other variant's results (a full report of the demo pack costs
about three CPU hours; two variants about a fifth of it).

Safe only when the other variants' weights are the ones the report was made from: the
report keeps each variant's weights hash (`pack.variant_hashes`) and the update refuses
when any variant it does not name has changed. Suites whose numbers are joint over every
variant (`JOINT_SUITES`: embeddings fit one projection on all variants' logits) run on
the whole pack. A suite's results are merged wherever they are keyed by variant name, at
any depth and inside lists (e.g. embeddings' per-image coordinates).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from sc_viz.data import data_root, load_split, seeded_subset
from sc_viz.evaluate.common import EvalContext, pack_hash, variant_hashes
from sc_viz.evaluate.distributed import from_environment
from sc_viz.evaluate.report import write_report
from sc_viz.evaluate.runner import expand_suites, pack_for_evaluation, run_suites, suite_settings
from sc_viz.evaluate.store import REPORT_JSON, ReportFile, now, read_report
from sc_viz.packs import Pack

JOINT_SUITES = ("embeddings",)


class UpdateRefused(ValueError):
    """The report cannot be updated for these variants; nothing was written."""


def adopt_hashes(report: dict, pack: Pack) -> bool:
    """Give an older report, made before reports kept per-variant hashes, those of `pack`
    when the report's pack hash shows it was made from exactly these weights. -> whether
    the report now holds per-variant hashes."""
    if "variant_hashes" in report["pack"]:
        return True
    if report["pack"].get("hash") != pack_hash(pack):
        return False
    report["pack"]["variant_hashes"] = variant_hashes(pack)
    return True


def check_others_unchanged(report: dict, pack: Pack, variants: list[str]) -> None:
    stored = report["pack"].get("variant_hashes")
    if stored is None:
        raise UpdateRefused(
            "the report keeps no per-variant weights hashes (made by an older sc-viz, and the "
            "pack's weights changed since): run the suites on the whole pack"
        )
    current = variant_hashes(pack)
    changed = sorted(v for v in current if v not in variants and stored.get(v) != current[v])
    if changed:
        raise UpdateRefused(
            f"variants {changed} changed since the report was made; name them in --variants too "
            "or run the suites on the whole pack"
        )


def check_settings(report: dict, names: list[str], pack: Pack, run_options: dict) -> None:
    """Refuse before any work when a suite is not complete in the report or would run with
    other settings than the report's run."""
    ctx_options = {k: v for k, v in run_options.items() if k in ("seed", "limit", "batch_size", "options")}
    test = report_sample(pack, run_options)
    for name in names:
        if report["status"].get(name, {}).get("state") != "complete":
            raise UpdateRefused(f"the report's {name} suite is not complete; run it on the whole pack")
        ctx = EvalContext(pack, test, **{**ctx_options, "options": dict(ctx_options.get("options") or {})})
        if suite_settings(name, ctx) != report["settings"].get(name):
            raise UpdateRefused(
                f"{name}: the report ran it with other settings ({report['settings'].get(name)}); "
                "use the same flags as the report's run, or run it on the whole pack"
            )


def report_sample(pack: Pack, run_options: dict):
    """The test sample run_suites will draw for these options."""
    split = load_split(pack.dataset, "test", data_root(run_options.get("root")), pack.input_size)
    return seeded_subset(split, run_options.get("limit"), run_options.get("seed", 0))


def already_updated(report: dict, name: str, variants: list[str], current: dict) -> bool:
    """Whether an earlier, interrupted update already put these weights' results in."""
    done = report["status"].get(name, {}).get("updated_variants", {})
    return all(done.get(v, {}).get("weights") == current[v] for v in variants)


def merge_variant_results(old: Any, new: Any, variants: list[str], known: set) -> Any:
    """`old` with the entries of `variants` taken from `new` wherever a dict is keyed by
    variant names (a key in `known`); a named variant absent from `new` there is dropped
    (its old value belonged to the old weights). Lists of the same length merge item by
    item; everything else keeps `old`'s value."""
    if isinstance(old, dict) and isinstance(new, dict):
        if any(k in known for k in old) or any(k in known for k in new):
            out = {k: v for k, v in old.items() if k not in variants}
            out.update({k: new[k] for k in variants if k in new})
            # the old order, the named variants where they were (new ones at the end)
            order = list(old) + [k for k in out if k not in old]
            return {k: out[k] for k in order if k in out}
        return {
            k: merge_variant_results(old[k], new[k], variants, known) if k in new else v
            for k, v in old.items()
        }
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [merge_variant_results(a, b, variants, known) for a, b in zip(old, new)]
    return old


def update_variants(
    pack_path,
    variants: list[str],
    suites=("all",),
    *,
    out,
    device: Optional[str] = None,
    figures: bool = True,
    log=print,
    **run_options,
) -> dict:
    """Run `suites` on `variants` of the pack at `pack_path` and merge their results into
    `out`/report.json (which must exist, made with the same suite settings). `run_options`
    go to run_suites (limit, seed, batch_size, options, root, progress). Under torchrun the
    sharded suites split their images among the ranks and rank 0 alone merges and writes.
    -> the report (on rank 0; {} on the others)."""
    out = Path(out)
    shard, device = from_environment(device)
    if not shard.is_main:  # rank 0 speaks for all
        log = lambda *a, **k: None  # noqa: E731
    pack = pack_for_evaluation(pack_path, device)
    report = _report_to_update(pack, variants, out)
    names = expand_suites(suites)
    check_settings(report, names, pack, run_options)
    current = variant_hashes(pack)
    file = ReportFile(report, out) if shard.is_main else ReportFile(report, None)
    run = dict(run_options, log=log, device=device, shard=shard)
    for name in names:
        if already_updated(report, name, variants, current):
            log(f"{name}: already updated for {', '.join(variants)} with these weights; kept")
            continue
        _update_suite(report, name, pack, variants, current, run)
        if shard.is_main:
            file.save()  # an interrupted update keeps the suites it finished (the hash: at the end)
    if not shard.is_main:
        return {}
    report["pack"]["hash"] = pack_hash(pack)
    report["pack"]["variant_hashes"] = current
    report["pack"]["variants"] = list(pack.models)
    file.save()
    write_report(report, out, figures=figures)
    return report


def _report_to_update(pack: Pack, variants: list[str], out: Path) -> dict:
    """The stored report the update merges into, after the checks that refuse it: variants
    the pack lacks, no report, the other variants' weights changed since."""
    missing = [v for v in variants if v not in pack.models]
    if missing:
        raise UpdateRefused(f"{pack.path}: no loaded variant {missing}; it has {list(pack.models)}")
    report = read_report(out / REPORT_JSON)
    if report is None:
        raise UpdateRefused(f"{out / REPORT_JSON}: no report to update; run the suites on the whole pack")
    adopt_hashes(report, pack)
    check_others_unchanged(report, pack, variants)
    return report


def _update_suite(report: dict, name: str, pack: Pack, variants: list[str], current: dict, run: dict) -> None:
    """Run suite `name` on `variants` (a joint suite: on every variant) and merge its
    results and status into `report` (on rank 0; the other ranks only take their share)."""
    known = set(pack.models) | set(report["pack"].get("variants", []))
    named = Pack(
        pack.path, pack.manifest, {v: pack.models[v] for v in variants}, dict(pack.errors), pack.device
    )
    joint = name in JOINT_SUITES
    t0 = time.time()
    run["log"](f"{name}: {'every variant (joint suite)' if joint else ', '.join(variants)}")
    fresh = run_suites(pack if joint else named, [name], out=None, figures=False, **run)
    if not run["shard"].is_main:
        return
    if fresh["failed"]:
        raise UpdateRefused(f"{name}: failed: {fresh['status'][name].get('error')}")
    report["suites"][name] = (
        fresh["suites"][name]
        if joint
        else merge_variant_results(report["suites"][name], fresh["suites"][name], variants, known)
    )
    status = dict(report["status"][name])
    updated = {
        v: {"seconds": round(time.time() - t0, 2), "finished": now(), "weights": current[v]} for v in variants
    }
    status["updated_variants"] = {**status.get("updated_variants", {}), **updated}
    report["status"][name] = status
