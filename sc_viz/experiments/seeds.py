"""What several training seeds add to an experiment's numbers.

A trained model's score varies with two things: the test images it is scored on and the
training run itself (initialisation, batch order, augmentation, the validation split).
Every seed here is scored on the same test images, so each number gets

- the spread over seeds (mean, sample std, min, max of the per-seed values): the training
  noise;
- a 95% interval over test images (`evaluate.stats`' percentile bootstrap) of the
  seed-averaged per-image values: the test-sample noise;

and a claim "a > b" (`ordering`) is decided by the paired bootstrap interval of
mean(a - b) on the seed-averaged per-image values (`evaluate.stats.verdict`), and then
only kept as "holds" / "does not hold" when every seed's own difference has that sign;
when the seeds disagree, it is "within noise" however narrow the image interval is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from sc_viz.evaluate.stats import (
    FAILS,
    HOLDS,
    NOISE,
    Interval,
    bootstrap_interval,
    paired_difference_interval,
    verdict,
)


def seed_dir(out: Path, seed: int) -> Path:
    """The folder of one seed's runs: <out>/seed-<seed>/."""
    return Path(out) / f"seed-{seed}"


def spread(values: Sequence[Optional[float]]) -> dict:
    """{mean, std (sample std, 0 for one seed), min, max, n_seeds} of per-seed values
    (None/NaN dropped; every entry None when nothing is left)."""
    a = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    a = a[np.isfinite(a)]
    if len(a) == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "n_seeds": 0}
    return {
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
        "min": float(a.min()),
        "max": float(a.max()),
        "n_seeds": int(len(a)),
    }


def seed_mean_per_image(per_seed: Sequence[Sequence[float]]) -> np.ndarray:
    """(n_images,): each image's value averaged over the seeds (NaN-aware; all seeds were
    scored on the same images, in the same order)."""
    rows = [np.asarray(v, dtype=np.float64) for v in per_seed]
    if not rows:
        raise ValueError("no seeds")
    if len({len(r) for r in rows}) != 1:
        raise ValueError(f"the seeds were scored on different numbers of images: {[len(r) for r in rows]}")
    stacked = np.vstack(rows)  # (S, N)
    counts = np.isfinite(stacked).sum(axis=0)
    sums = np.where(np.isfinite(stacked), stacked, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def image_interval(per_seed: Sequence[Sequence[float]], seed: int = 0) -> Optional[Interval]:
    """Bootstrap 95% interval over images of the seed-averaged mean."""
    return bootstrap_interval(seed_mean_per_image(per_seed).tolist(), seed=seed)


def summary(per_seed_values: Sequence[Sequence[float]], seed: int = 0) -> dict:
    """Spread over seeds of the per-seed means, and the image interval of their mean."""
    means = [
        float(np.nanmean(v)) if len(v) and np.isfinite(v).any() else None
        for v in map(np.asarray, per_seed_values)
    ]
    interval = image_interval(per_seed_values, seed)
    return {
        **spread(means),
        "per_seed": means,
        "ci": interval.as_list() if interval is not None else None,
    }


def compare(
    a: Sequence[Sequence[float]],
    b: Sequence[Sequence[float]],
    direction: str = "higher",
    seed: int = 0,
) -> dict:
    """The claim "a is `direction` than b" on per-image values of the same seeds and
    images (a[s][i], b[s][i]): mean difference, paired bootstrap interval, per-seed
    differences and the verdict (see the module docstring for the seed rule)."""
    if len(a) != len(b):
        raise ValueError(f"the claim needs the same seeds on both sides: {len(a)} vs {len(b)}")
    interval = paired_difference_interval(
        seed_mean_per_image(a).tolist(), seed_mean_per_image(b).tolist(), seed=seed
    )
    per_seed = [float(np.nanmean(np.asarray(x, float) - np.asarray(y, float))) for x, y in zip(a, b)]
    result = verdict(interval, direction)
    sign = 1 if direction == "higher" else -1
    agree = {
        HOLDS: all(sign * d > 0 for d in per_seed),
        FAILS: all(sign * d < 0 for d in per_seed),
    }
    seeds_agree = agree.get(result, True)
    if not seeds_agree:
        result = NOISE
    return {
        "difference": interval.estimate if interval is not None else None,
        "ci": interval.as_list() if interval is not None else None,
        "per_seed": per_seed,
        "seeds_agree": seeds_agree,
        "verdict": result,
    }


def ordering(
    per_variant: Mapping[str, Sequence[Sequence[float]]], order: Sequence[str], seed: int = 0
) -> dict:
    """A chain a > b > c ... (e.g. the paper's advc > adv > c > standard) as one claim per
    adjacent pair of the variants present: {"a > b": compare(...)}, plus "chain": holds when
    every pair holds, does not hold when any pair does not hold, else within noise."""
    present = [v for v in order if v in per_variant]
    pairs = {
        f"{hi} > {lo}": compare(per_variant[hi], per_variant[lo], "higher", seed)
        for hi, lo in zip(present, present[1:])
    }
    verdicts = [p["verdict"] for p in pairs.values()]
    if not verdicts:
        chain = None
    elif FAILS in verdicts:
        chain = FAILS
    elif all(v == HOLDS for v in verdicts):
        chain = HOLDS
    else:
        chain = NOISE
    return {"order": present, "pairs": pairs, "chain": chain}


def fmt_spread(s: Mapping, percent: bool = False, digits: int = 3) -> str:
    """'81.6% (min 80.9, max 82.3; 3 seeds)' or '1.234 (min 1.2, max 1.3; 3 seeds)'."""
    if s.get("mean") is None:
        return "-"

    def f(x):
        return f"{100 * x:.2f}" if percent else f"{x:.{digits}g}"

    head = f(s["mean"]) + ("%" if percent else "")
    if s.get("n_seeds", 1) <= 1:
        return head
    return f"{head} (min {f(s['min'])}, max {f(s['max'])}; {s['n_seeds']} seeds)"


def fmt_interval(ci: Optional[Sequence[float]], percent: bool = False, digits: int = 3) -> str:
    if not ci or any(c is None or not math.isfinite(c) for c in ci):
        return "-"
    if percent:
        return f"[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]"
    return f"[{ci[0]:.{digits}g}, {ci[1]:.{digits}g}]"
