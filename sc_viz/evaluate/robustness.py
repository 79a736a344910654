"""Adversarial robustness (Sec. 4.4, Table 2): clean and PGD accuracy per variant.

The attack is the variant's evaluation PGD from the pack manifest (`eval_eps`,
`eval_step`, `eval_steps` in its training config) when present, else the paper's
default for the input size (`sc_viz.paper`, docs/method.md#pgd: CIFAR 8/255, 2/255;
ImageNet size 4/255, 1/255; 10 steps, random start). Random starts are seeded, so the
same seed gives the same numbers.
Results are saved after each variant: an interrupted run resumes at the next one.
"""
from __future__ import annotations

from sc_viz.attacks import PGDConfig, paper_pgd
from sc_viz.metrics import accuracy
from sc_viz.evaluate.common import SUITES, EvalContext, SuiteSpec


def eval_attack(ctx: EvalContext, variant: str) -> PGDConfig:
    cfg = ctx.pack.manifest["variants"].get(variant, {}).get("config") or {}
    default = paper_pgd(ctx.pack.input_size)
    steps = ctx.options.get("pgd_steps") or cfg.get("eval_steps") or default.steps
    return PGDConfig(eps=float(cfg.get("eval_eps") or default.eps),
                     step_size=float(cfg.get("eval_step") or default.step_size),
                     steps=int(steps), random_start=True)


def run(ctx: EvalContext) -> dict:
    results = {v: r for v, r in ctx.previous.items() if v in ctx.models and "pgd_acc" in r}
    todo = [v for v in ctx.models if v not in results]
    bar = ctx.bar(len(ctx.test) * len(todo), "robustness (clean + PGD)")
    for v in todo:
        model, attack = ctx.models[v], eval_attack(ctx, v)
        clean = accuracy(model, ctx.test, batch_size=ctx.batch_size)
        robust = accuracy(model, ctx.test, batch_size=ctx.batch_size, attack=attack,
                          seed=ctx.seed, progress=bar.update)
        results[v] = {"clean_acc": clean, "pgd_acc": robust, "n": len(ctx.test),
                      "eps": attack.eps, "step_size": attack.step_size, "steps": attack.steps,
                      "random_start": attack.random_start, "norm": "Linf"}
        ctx.checkpoint(dict(results))
    bar.close()
    return {v: results[v] for v in ctx.models}  # pack order


SUITES.add("robustness", SuiteSpec(
    run, "clean and PGD-10 accuracy per variant (Table 2)",
    settings=lambda ctx: {"pgd_steps": ctx.options.get("pgd_steps")}))
