"""The paper's experiments on a pack -> `reports/<pack>/report.json` + `report.md`.

A suite is one `Suite` (common.py), registered once in `SUITES` by its own module: its
computation, its settings, its section of report.md and its charts. `run_suites(pack,
suites, ...)` (runner.py) runs the selected suites one by one and rewrites report.json
atomically after each suite, and after each variant inside the slow robustness suite, so an
interrupted run keeps what it finished; `resume=True` skips suites (and robustness
variants) already done with the same settings and weights. `load_report(pack)` (store.py)
finds a pack's report for the app; report.py lays out report.md and the figures from the
suites' own sections and charts. The experiments: docs/method.md#experiments.

report.json schema ("format": "sc-viz-report/1"; levels, strengths and lambdas are JSON
object keys, so strings: "1".."4", "0.25"; accuracies are fractions in [0, 1]):

    format, created, updated               str (ISO 8601 UTC)
    pack        {name, path, dataset, arch, input_size, classes, hash, variants: [...],
                 not_loaded: {variant: reason}}    hash: sha256 over the weights files
    environment {python, platform, sc-viz, torch, ..., device, torch_threads}
    settings    {suite: {seed, limit, n, batch_size, ...suite-specific}}
    status      {suite: {state: "complete"|"partial"|"failed", seconds, cpu_seconds,
                 finished, error?}}
    paper       the paper's anchor numbers (paper.PAPER_RESULTS)
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
      robustness-budgets
                   {budgets: ["1", "2", "4", "8"], eps: {budget: float}, n, attack: {...},
                    results: {variant: {budget: robustness's row}}, floor: {variant:
                    {budget: bool}}, check?: {...}}   (evaluate/budgets.py)  Table 2 per eps
      disruption   {accuracy: {variant: {transform: {strength: float}}},       Tables 7/9/11
                    clean_acc: {variant: float}, strengths: {transform: [..]}, n: int}
      saliency     {measures: {variant: {method: {measure: float}}},  (mean over the sample)
                    std: same shape, n: int, methods: [...]}
      explanation-stability
                   {spearman: {variant: {method: {perturbation: float}}},  (mean over images)
                    ssim: same shape, level: int, n: int, methods: [...]}
      neurons      {variants: {variant: {layers: {layer: {mean, top, relative, channels}},
                    sigma, clean_acc, pgd_acc, ...}}, layers, n, top_fraction, claim: {...}}
                                                           (evaluate/neurons.py)
      consensus    {means: {variant: {method: {kind: {cosine, spearman, iou}}}}, values,
                    claim: {...}, methods, kinds, measures, level, top_fraction, n}
                                                           (evaluate/consensus.py)
      sanity       {steps, similarity: {order: {variant: {method: {similarity: {mean, std}}}}},
                    final_similarity, flagged, cannot_judge, road: {fractions, morf, lerf,
                    gap}, n, methods, orders, ...}        (evaluate/sanity.py)
    (a test holds this list to the registry: every suite, and no other)

Uncertainty (evaluate/stats.py; reports made before it lack these keys, and the report
writer then shows "n/a (rerun the suite)" where it needs them). Per-image values are one
string of space-separated numbers in sample order ("nan" = undefined), see
`stats.encode_values`; intervals are [low, high], 95%:
      continuity   ci: {mean_ds|violation_rate|violated_share: shape of that table}
                   per_image: {level: 2, ds|violation_fraction: {variant: {perturbation: str}}}
      robustness   {variant: {..., per_image: {clean_correct: str, pgd_correct: str}}}  (1/0)
      saliency     ci: shape of measures; per_image: {variant: {method: {measure: str}}}
      explanation-stability
                   ci: {spearman|ssim: shape of that table}; per_image: same shape, str
Accuracies' Wilson intervals are computed from the accuracy and n when needed.
"""

from __future__ import annotations

import importlib

from sc_viz.evaluate.common import SUITES, EvalContext, Suite

# One module per suite; importing it registers its suite. This order (not the import
# sorter's) is the order of `--suite all`, of the CLI help and of a new report's run log.
# They are imported before the runner: its report imports some of them (the claims tables
# import the budgets suite), which would register those first.
SUITE_MODULES = (
    "continuity",
    "embeddings",
    "robustness",
    "budgets",  # robustness-budgets
    "disruption",
    "saliency",
    "stability",
    "neurons",
    "consensus",
    "sanity",
)
for _module in SUITE_MODULES:
    importlib.import_module(f"sc_viz.evaluate.{_module}")

from sc_viz.evaluate.runner import run_suites  # noqa: E402  (after the suites: see above)
from sc_viz.evaluate.store import FORMAT, load_report  # noqa: E402

__all__ = ["SUITES", "Suite", "EvalContext", "run_suites", "load_report", "FORMAT"]
