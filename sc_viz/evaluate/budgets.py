"""Robustness across attack budgets (`robustness-budgets`): clean and PGD accuracy
of every variant at several L-inf budgets, on one seeded sample of test images that every
budget and variant shares, so that any two rows compare image by image (paired intervals).

At eps 8/255 `standard` and `c` both score 0 on the demo pack: a floor, where the claim
"continuity training raises PGD accuracy" cannot be tested. Smaller budgets leave
`standard` above 0, and there the claim becomes testable (evaluate/budget_claims.py).

- Budgets: eps in /255 (`--budgets`, default 1 2 4 8), PGD with step eps/4, 10 steps
  (`--pgd-steps`), random start: the robustness suite's attack (evaluate/robustness.py)
  at each eps. Each (variant, eps) row has the robustness suite's keys and values: at the
  robustness suite's budget and on the same images, the row equals that suite's result
  bit for bit (same batches, same seeded random starts).
- Images: a seeded subset of `--budgets-limit` images (default 2,000) of the test sample
  (`EvalContext.sample`): without --limit, the images `--suite robustness --limit 2000`
  attacks.
- Floors: a (variant, eps) whose PGD accuracy is 0 with a Wilson upper bound below 0.1%
  (`stats.at_floor`). On 2,000 images the bound of 0/2000 is 0.19%, so a floor needs
  `--budgets-limit 3838` or more; fewer images leave two zeros "not testable" too
  (`stats.floor_verdict`).
- A second attack as a check (`--budgets-check`, default foolbox-pgd): foolbox's L-inf PGD
  (an independent implementation; 20 steps of 2.5 eps / 20, Madry et al.'s step rule,
  random start) at one budget (`--budgets-check-eps`, default the largest), on the same
  images, beside ours; a gap of more than 2 points is flagged. Skipped, with a note in
  the result, when foolbox is not installed.

Results are saved after each (variant, eps) and each check: an interrupted run resumes at
the next one. Under torchrun each rank attacks its batches with the random starts of a
one-process run (robustness.correct_per_image; the check seeds each batch by its index),
so the numbers are those of one process.

Result (report.json, suites["robustness-budgets"]):
    budgets  ["1", "2", "4", "8"]  eps in /255, as keys
    eps      {budget: eps in [0, 1]}
    attack   {steps, step_fraction, random_start, norm}
    n        images in the sample;  floor_upper: 0.001
    results  {variant: {budget: {clean_acc, pgd_acc, n, eps, step_size, steps,
              random_start, norm, per_image: {clean_correct, pgd_correct}}}}
    floor    {variant: {budget: bool}}
    check    {attack, library, budget, eps, steps, step_size, random_start, gap_flag,
              results: {variant: {pgd_acc, check_acc, both_acc, gap, flagged,
              per_image: {check_correct}}}}, or {attack, skipped: reason}; absent with
              --budgets-check none
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Optional

import torch

from sc_viz.attacks import PGDConfig
from sc_viz.data import Split, iterate_batches
from sc_viz.evaluate.common import SUITES, EvalContext, Suite
from sc_viz.evaluate.distributed import ONE_PROCESS, Shard
from sc_viz.evaluate.render import Figure, table
from sc_viz.evaluate.robustness import correct_per_image, result_row
from sc_viz.evaluate.stats import FLOOR_UPPER, accuracy_interval, at_floor, decode_values, encode_values
from sc_viz.model_run import model_device, using_model

NAME = "robustness-budgets"
FIGURE_NAME = "robustness_budgets"  # figures/<name>.png of the report (sc_viz/figures/budgets.py)
DEFAULT_BUDGETS = (1.0, 2.0, 4.0, 8.0)  # eps in /255
DEFAULT_LIMIT = 2000
DEFAULT_STEPS = 10
STEP_FRACTION = 0.25  # step = eps / 4 (the paper's 8/255 -> 2/255)
CHECK_ATTACKS = ("foolbox-pgd", "none")
CHECK_STEPS = 20
CHECK_REL_STEP = 2.5 / CHECK_STEPS  # Madry et al.'s rule: the steps can cross the ball 2.5 times
GAP_FLAG = 0.02  # a check attack more than 2 points from ours is a finding to explain


def budget_key(eps255: float) -> str:
    """An eps in /255 as report.json keys it: 8.0 -> "8", 0.5 -> "0.5"."""
    return f"{float(eps255):g}"


def budgets(ctx: EvalContext) -> list[str]:
    """The run's budgets as keys, ascending, without repeats."""
    values = ctx.options.get("budgets") or DEFAULT_BUDGETS
    return [budget_key(b) for b in sorted({float(b) for b in values})]


def attack_at(key: str, steps: int) -> PGDConfig:
    """PGD at eps = key/255, step eps/4, `steps` steps, random start."""
    eps = float(key) / 255
    return PGDConfig(eps=eps, step_size=eps * STEP_FRACTION, steps=int(steps), random_start=True)


def pgd_steps(ctx: EvalContext) -> int:
    return int(ctx.options.get("pgd_steps") or DEFAULT_STEPS)


def sample_size(ctx: EvalContext) -> int:
    return int(ctx.options.get("budgets_limit") or DEFAULT_LIMIT)


def check_attack(ctx: EvalContext) -> str:
    name = ctx.options.get("budgets_check") or CHECK_ATTACKS[0]
    if name not in CHECK_ATTACKS:
        raise ValueError(f"budgets_check must be one of {CHECK_ATTACKS}, not {name!r}")
    return name


def check_budget(ctx: EvalContext) -> str:
    """The budget of the check attack: one of the sweep's (default the largest)."""
    eps = ctx.options.get("budgets_check_eps")
    if eps is None:
        return budgets(ctx)[-1]
    if budget_key(eps) not in budgets(ctx):
        raise ValueError(f"the check's eps {budget_key(eps)}/255 is not one of the budgets {budgets(ctx)}")
    return budget_key(eps)


def settings(ctx: EvalContext) -> dict:
    check = check_attack(ctx)
    return {
        "budgets": budgets(ctx),
        "budgets_limit": sample_size(ctx),
        "pgd_steps": pgd_steps(ctx),
        "check": check,
        "check_budget": check_budget(ctx) if check != "none" else None,
        "floor_upper": FLOOR_UPPER,
    }


def run(ctx: EvalContext) -> dict:
    sample = ctx.sample(sample_size(ctx))
    keys, steps = budgets(ctx), pgd_steps(ctx)
    check, check_key = check_attack(ctx), check_budget(ctx)
    previous = ctx.previous.get("results", {})
    results = {
        v: {k: r for k, r in previous.get(v, {}).items() if k in keys and "pgd_acc" in r} for v in ctx.models
    }
    old_check = ctx.previous.get("check", {})
    checked = (
        dict(old_check.get("results", {}))
        if old_check.get("attack") == check and old_check.get("budget") == check_key
        else {}
    )
    todo = [(v, k) for v in ctx.models for k in keys if k not in results[v]]
    check_todo = [] if check == "none" else [v for v in ctx.models if v not in checked]
    library = foolbox_version() if check == "foolbox-pgd" else None
    if library is None:
        check_todo = []
    per_pass = len(ctx.shard.split(sample, ctx.batch_size))
    bar = ctx.bar(
        per_pass * (len(todo) + CHECK_STEPS // DEFAULT_STEPS * len(check_todo)), f"{NAME} (PGD per eps)"
    )

    def save() -> None:
        ctx.checkpoint(summary(sample, keys, steps, results, check, check_key, checked, library))

    clean: dict[str, list[int]] = {}
    for v, k in todo:
        model = ctx.models[v]
        if v not in clean:
            clean[v] = correct_per_image(model, sample, batch_size=ctx.batch_size, shard=ctx.shard)
        attack = attack_at(k, steps)
        robust = correct_per_image(
            model,
            sample,
            batch_size=ctx.batch_size,
            attack=attack,
            seed=ctx.seed,
            progress=bar.update,
            shard=ctx.shard,
        )
        results[v][k] = result_row(clean[v], robust, attack, len(clean[v]))
        save()
    for v in check_todo:
        theirs = foolbox_correct_per_image(
            ctx.models[v],
            sample,
            float(check_key) / 255,
            batch_size=ctx.batch_size,
            seed=ctx.seed,
            progress=lambda n: bar.update(n * CHECK_STEPS // DEFAULT_STEPS),
            shard=ctx.shard,
        )
        ours = (
            decode_values(results[v][check_key]["per_image"]["pgd_correct"])
            if check_key in results[v]
            else None
        )
        checked[v] = check_row(ours, theirs)
        save()
    bar.close()
    return summary(sample, keys, steps, results, check, check_key, checked, library)


def summary(
    sample: Split,
    keys: list[str],
    steps: int,
    results: dict,
    check: str,
    check_key: str,
    checked: dict,
    library: Optional[str],
) -> dict:
    """The suite's result (module docstring) from its rows so far, in pack and budget order."""
    results = {v: {k: rows[k] for k in keys if k in rows} for v, rows in results.items()}
    out = {
        "budgets": keys,
        "eps": {k: float(k) / 255 for k in keys},
        "attack": {"steps": steps, "step_fraction": STEP_FRACTION, "random_start": True, "norm": "Linf"},
        "n": len(sample),
        "floor_upper": FLOOR_UPPER,
        "results": results,
        "floor": {
            v: {k: at_floor(r["pgd_acc"], r["n"]) for k, r in rows.items()} for v, rows in results.items()
        },
    }
    if check == "none":
        return out
    if library is None:
        out["check"] = {"attack": check, "skipped": "foolbox is not installed (pip install foolbox)"}
        return out
    out["check"] = {
        "attack": check,
        "library": library,
        "budget": check_key,
        "eps": float(check_key) / 255,
        "steps": CHECK_STEPS,
        "step_size": CHECK_REL_STEP * float(check_key) / 255,
        "random_start": True,
        "gap_flag": GAP_FLAG,
        "results": {v: checked[v] for v in results if v in checked},
    }
    return out


def check_row(ours: Optional[Sequence[float]], theirs: Sequence[int]) -> dict:
    """Our PGD and the check attack on the same images: both accuracies, the accuracy under
    both (right only where neither attack succeeds), the gap (ours minus theirs: positive =
    the check found more adversarial images, so ours was the weaker attack) and its flag."""
    n = max(len(theirs), 1)
    out = {"check_acc": sum(theirs) / n, "per_image": {"check_correct": encode_values(theirs)}}
    if ours is not None and len(ours) == len(theirs):
        out["pgd_acc"] = sum(ours) / n
        out["both_acc"] = sum(1 for a, b in zip(ours, theirs) if a and b) / n
        out["gap"] = out["pgd_acc"] - out["check_acc"]
        out["flagged"] = (
            abs(sum(ours) - sum(theirs)) > GAP_FLAG * n + 1e-9
        )  # counts: no round-off at 2 points
    return out


# ---------------------------------------------------------------- the check attack (foolbox)
def import_foolbox():
    """The foolbox module (optional: only the check attack needs it), imported without its
    DeprecationWarning about scipy.ndimage.filters; ImportError when it is not installed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import foolbox

    return foolbox


def foolbox_version() -> Optional[str]:
    """'foolbox 3.3.4' when foolbox is importable, else None."""
    try:
        return f"foolbox {import_foolbox().__version__}"
    except ImportError:
        return None


def foolbox_correct_per_image(
    model: torch.nn.Module,
    split: Split,
    eps: float,
    *,
    batch_size: int,
    seed: int = 0,
    progress=None,
    shard: Shard = ONE_PROCESS,
) -> list[int]:
    """1 where the model still classifies the image right after foolbox's L-inf PGD
    (CHECK_STEPS steps of CHECK_REL_STEP * eps, random start), else 0, in the split's order.
    Each batch's random start is drawn from torch's generator seeded by (seed, batch index)
    inside `torch.random.fork_rng`, so it is the same in any process and leaves the global
    generator as it was."""
    foolbox = import_foolbox()
    device = model_device(model)
    fmodel = foolbox.PyTorchModel(model, bounds=(0, 1), device=device)
    attack = foolbox.attacks.LinfPGD(steps=CHECK_STEPS, rel_stepsize=CHECK_REL_STEP, random_start=True)
    count = -(-len(split) // batch_size)
    correct = []
    with using_model(model):
        for b, (x, y) in zip(
            shard.units(count),
            iterate_batches(
                shard.split(split, batch_size), batch_size, shuffle=False, augment=False, device=device
            ),
        ):  # x: (B, 3, H, W)
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(seed * 1_000_003 + b)
                _, x_adv, _ = attack(fmodel, x, y, epsilons=eps)  # (B, 3, H, W), clipped to the ball
            with torch.inference_mode():
                correct.append((model(x_adv).argmax(1) == y).int().tolist())
            if progress:
                progress(len(y))
    return [c for batch in shard.gather(correct, count) for c in batch]


# ---------------------------------------------------------------- report
def accuracy_cell(acc: float, n: int, floor: bool) -> str:
    """'12.34% [11.00, 13.80]' (Wilson 95%, in percent), ' **floor**' added at a floor."""
    interval = accuracy_interval(acc, n)
    text = f"{100 * acc:.2f}%"
    if interval is not None:
        text += f" [{100 * interval.low:.2f}, {100 * interval.high:.2f}]"
    return text + (" **floor**" if floor else "")


def ranking(result: dict, key: str) -> str:
    """The variants by PGD accuracy at one budget, best first, equal ones joined by '='
    ('sns 32.84% > advc 32.63% > standard 0.00% = c 0.00%'); point estimates."""
    rows = sorted(
        ((v, r[key]["pgd_acc"]) for v, r in result["results"].items() if key in r), key=lambda t: -t[1]
    )
    out = ""
    for i, (v, a) in enumerate(rows):
        if i:
            out += " = " if a == rows[i - 1][1] else " > "
        out += f"{v} {100 * a:.2f}%"
    return out


def markdown(r: dict, settings: dict) -> str:
    """The section of report.md: accuracies per variant and budget, the ranking per budget,
    the check attack and the figure."""
    keys, a = r["budgets"], r["attack"]
    md = [
        f"## Robustness across attack budgets\n\nPGD-{a['steps']}, L-inf, step eps/4, random "
        f"start, on a seeded sample of n = {r['n']:,} test images, the same for every budget and "
        "variant; in brackets Wilson 95% intervals. **floor**: PGD accuracy 0 with a Wilson upper "
        f"bound below {100 * r['floor_upper']:g}% (two floors cannot be compared; with fewer than "
        "3,838 images no zero is a floor). The claims per budget are in the table at the top.\n"
    ]
    header = ["variant", "clean"] + [f"eps {k}/255" for k in keys]
    rows = []
    for v, per in r["results"].items():
        first = next(iter(per.values()), None)
        cells = [v, accuracy_cell(first["clean_acc"], first["n"], False) if first else "-"]
        cells += [
            accuracy_cell(per[k]["pgd_acc"], per[k]["n"], r["floor"].get(v, {}).get(k, False))
            if k in per
            else "-"
            for k in keys
        ]
        rows.append(cells)
    md.append(table(header, rows))
    md.append(
        "\nRanking by PGD accuracy:\n\n" + "\n".join(f"- eps {k}/255: {ranking(r, k)}" for k in keys) + "\n"
    )
    md.append(check_markdown(r.get("check")))
    md.append(f"\n![accuracy against eps](figures/{FIGURE_NAME}.png)\n")
    return "\n".join(part for part in md if part)


def check_markdown(check: Optional[dict]) -> str:
    if not check:
        return ""
    if "skipped" in check:
        return f"\n### Second attack (check)\n\nNot run: {check['skipped']}.\n"
    md = [
        f"\n### Second attack (check)\n\n{check['library']}'s L-inf PGD (`LinfPGD`, "
        f"{check['steps']} steps of {check['step_size'] * 255:.2f}/255, random start) at eps "
        f"{check['budget']}/255 on the same images, beside ours. Gap = ours minus foolbox's "
        "(positive: foolbox found more adversarial images, ours was the weaker attack); "
        f"**flagged** when it exceeds {100 * check['gap_flag']:g} points either way, a finding "
        "to explain. 'Both': right under both attacks.\n"
    ]
    rows = [
        [
            v,
            f"{100 * c['pgd_acc']:.2f}%" if "pgd_acc" in c else "-",
            f"{100 * c['check_acc']:.2f}%",
            f"{100 * c['both_acc']:.2f}%" if "both_acc" in c else "-",
            f"{100 * c['gap']:+.2f} pp" + (" **flagged**" if c.get("flagged") else "") if "gap" in c else "-",
        ]
        for v, c in check["results"].items()
    ]
    md.append(table(["variant", "our PGD", "foolbox PGD", "both", "gap"], rows))
    return "\n".join(md)


def figures(result: dict) -> list[Figure]:
    """Accuracy against eps, Wilson bands (sc_viz/figures/budgets.py); none without rows."""
    from sc_viz.figures.budgets import budget_figure, budget_png  # lazy: plotly; it imports this module

    fig = budget_figure(result)
    if fig is None:
        return []
    return [Figure(FIGURE_NAME, lambda: budget_png(result), lambda: [(f"fig-{FIGURE_NAME}", fig)])]


SUITES.add(
    NAME,
    Suite(
        run,
        "clean and PGD-10 accuracy per variant at several L-inf budgets (default 1, 2, 4, 8 /255) "
        "on a seeded 2,000-image sample, with floors and a second attack as a check",
        settings=settings,
        sharded=True,
        markdown=markdown,
        figures=figures,
    ),
)
