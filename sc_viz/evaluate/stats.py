"""Uncertainty of the report's numbers: 95% intervals and the verdict a claim gets from them.

- accuracies: the Wilson score interval (needs only the accuracy and n, so it also works
  on reports stored before the suites kept per-image values);
- mean measures over test images (DS, TV, Gini, deletion/insertion, violation rate,
  stability, ...): the percentile bootstrap over images;
- the difference between two variants on the same images: the paired percentile
  bootstrap (one resample of image indices serves both variants, so what the images share
  cancels out); for two stored accuracies without per-image values, Newcombe's unpaired
  interval (wider, so it errs toward "within noise").
Bootstraps are seeded: the same values and seed give the same interval.

Per-image values travel in report.json as one string of space-separated numbers
(`encode_values` / `decode_values`): the report is written with indent=2, which would put
each number of a list on its own line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

CONFIDENCE = 0.95
N_BOOTSTRAP = 2000
NOT_COMPUTABLE = "n/a (rerun the suite)"  # intervals of a report stored without per-image values

HOLDS, FAILS, NOISE = "holds", "does not hold", "within noise"
# Floors: an accuracy of 0 whose Wilson upper bound is below FLOOR_UPPER is a
# floor; two accuracies at 0 cannot be compared, so such a comparison gets no verdict from
# its interval (that would read "within noise" with [0, 0]). Wilson's upper bound of 0/n
# falls below 0.1% from n = 3,838 images on; with fewer, two zeros are BOTH_ZERO.
FLOOR_UPPER = 0.001
AT_FLOOR = "at floor: not testable at this budget"
BOTH_ZERO = "both 0%: not testable at this budget (too few images to call it a floor)"


@dataclass(frozen=True)
class Interval:
    estimate: float  # the point estimate (mean, accuracy or mean difference)
    low: float
    high: float

    def as_list(self) -> list[float]:
        """[low, high], as report.json stores an interval."""
        return [self.low, self.high]


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> Optional[Interval]:
    """Wilson score interval of a proportion successes / n (None when n == 0)."""
    if n <= 0:
        return None
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def accuracy_interval(
    accuracy: Optional[float], n: Optional[int], confidence: float = CONFIDENCE
) -> Optional[Interval]:
    """Wilson interval of a stored accuracy (a fraction of n images)."""
    if accuracy is None or not n:
        return None
    return wilson_interval(round(accuracy * n), int(n), confidence)


def unpaired_accuracy_difference(
    acc_a: float, n_a: int, acc_b: float, n_b: int, confidence: float = CONFIDENCE
) -> Optional[Interval]:
    """Newcombe's hybrid score interval of acc_a - acc_b from the two Wilson intervals
    (Newcombe 1998, method 10). It treats the samples as independent: on the same images,
    where the two variants' errors go together, it is wider than the paired interval, so a
    verdict from it errs toward "within noise". For reports without per-image values."""
    a, b = accuracy_interval(acc_a, n_a, confidence), accuracy_interval(acc_b, n_b, confidence)
    if a is None or b is None:
        return None
    d = a.estimate - b.estimate
    return Interval(
        d,
        d - math.hypot(a.estimate - a.low, b.high - b.estimate),
        d + math.hypot(a.high - a.estimate, b.estimate - b.low),
    )


def at_floor(accuracy: Optional[float], n: Optional[int], upper: float = FLOOR_UPPER) -> bool:
    """True when `accuracy` of n images is 0 and its Wilson 95% upper bound is below `upper`."""
    if accuracy is None or not n or round(accuracy * n) != 0:
        return False
    return wilson_interval(0, int(n)).high < upper


def floor_verdict(
    acc_a: Optional[float], n_a: Optional[int], acc_b: Optional[float], n_b: Optional[int]
) -> Optional[str]:
    """The verdict of comparing two accuracies that are both 0: AT_FLOOR when both are floors
    (`at_floor`), else BOTH_ZERO; None when either is above 0 (the interval decides)."""
    if acc_a is None or acc_b is None or not n_a or not n_b:
        return None
    if round(acc_a * n_a) != 0 or round(acc_b * n_b) != 0:
        return None
    return AT_FLOOR if at_floor(acc_a, n_a) and at_floor(acc_b, n_b) else BOTH_ZERO


def _finite(values: Sequence[Optional[float]]) -> np.ndarray:
    a = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    return a[np.isfinite(a)]


def _percentiles(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_interval(
    values: Sequence[Optional[float]],
    *,
    confidence: float = CONFIDENCE,
    n_boot: int = N_BOOTSTRAP,
    seed: int = 0,
) -> Optional[Interval]:
    """Percentile bootstrap interval of the mean of per-image values (None/NaN dropped;
    None when nothing is left)."""
    a = _finite(values)
    if len(a) == 0:
        return None
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // len(a))  # replicates per draw: bounded memory for large n
    means = np.concatenate(
        [
            a[rng.integers(0, len(a), size=(min(chunk, n_boot - start), len(a)))].mean(axis=1)
            for start in range(0, n_boot, chunk)
        ]
    )  # (B,)
    return Interval(float(a.mean()), *_percentiles(means, confidence))


def paired_difference_interval(
    a: Sequence[Optional[float]],
    b: Sequence[Optional[float]],
    *,
    confidence: float = CONFIDENCE,
    n_boot: int = N_BOOTSTRAP,
    seed: int = 0,
) -> Optional[Interval]:
    """Paired percentile bootstrap interval of mean(a - b), a[i] and b[i] measured on the
    same image i. Images where either value is missing are dropped."""
    if len(a) != len(b):
        raise ValueError(f"paired values need the same images: {len(a)} vs {len(b)} values")
    x = np.asarray([np.nan if v is None else v for v in a], dtype=np.float64)
    y = np.asarray([np.nan if v is None else v for v in b], dtype=np.float64)
    return bootstrap_interval(x - y, confidence=confidence, n_boot=n_boot, seed=seed)


def verdict(interval: Optional[Interval], direction: str) -> str:
    """The claim "the difference is `direction` ('higher' or 'lower') than zero" from the
    difference's interval: holds when the whole interval lies on the claimed side, does not
    hold when it lies wholly on the other side, within noise when it contains 0."""
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', not {direction!r}")
    if interval is None:
        return NOT_COMPUTABLE
    sign = 1 if direction == "higher" else -1
    low, high = sorted((sign * interval.low, sign * interval.high))
    return HOLDS if low > 0 else FAILS if high < 0 else NOISE


def encode_values(values: Sequence[Optional[float]], digits: int = 5) -> str:
    """Per-image values -> "0.12345 1.5 nan" (compact in an indented report.json)."""
    out = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append("nan")
        elif float(v).is_integer():
            out.append(str(int(v)))
        else:
            out.append(f"{v:.{digits}g}")  # `digits` significant digits
    return " ".join(out)


def decode_values(text: Optional[str]) -> Optional[list[float]]:
    """`encode_values`'s string back to floats (NaN for missing); None stays None."""
    if text is None:
        return None
    return [float(t) for t in text.split()]
