"""One line per page that says what the numbers on screen show ("a story on every
page"), computed from those numbers, never fixed text; and the landing page's two lines on
what semantic continuity is. The pages only lay these out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from sc_viz.app.robustness_view import CHANGED_OWN, KEPT_OWN, KEPT_TRUE, LOST_TRUE, WRONG_BEFORE
from sc_viz.app.views import GALLERY

INTRO = (
    "**Semantic continuity**: a small change that keeps an image's meaning (a little "
    "brighter, a slightly shifted hue) should move a classifier's output only a little.",
    "sc-viz compares a `standard` model with variants trained for it (`c`), for robustness "
    "(`adv`) or both (`advc`): their outputs, their saliency maps and their inner channels.",
)
DEMO_IMAGE = 3003  # "Start the demo": a cat the standard model gets right (test split index)
BASELINE = "standard"
ROBUST_SHARE = 0.5  # a robust row keeps at least this share of the best PGD accuracy


def _number(x: Any) -> Optional[float]:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def pgd_accuracies(manifest: Mapping) -> dict[str, float]:
    """{variant: final PGD accuracy} of the variants the manifest has it for."""
    variants = manifest.get("variants", {}) if isinstance(manifest, Mapping) else {}
    out = {}
    for v, entry in variants.items():
        metrics = entry.get("metrics") if isinstance(entry, Mapping) else None
        value = _number(metrics.get("pgd_acc")) if isinstance(metrics, Mapping) else None
        if value is not None:
            out[v] = value
    return out


def robust_variants(manifest: Mapping) -> list[str]:
    """The variants whose PGD accuracy is at least ROBUST_SHARE of the best one's (and the
    best is above 5%: a pack where every variant falls has no robust row)."""
    acc = pgd_accuracies(manifest)
    best = max(acc.values(), default=0.0)
    if best <= 0.05:
        return []
    return [v for v, a in acc.items() if a >= ROBUST_SHARE * best]


def models_takeaway(manifest: Mapping, eps: str = "") -> Optional[str]:
    """ "Under PGD (8/255) `sns` keeps 32.8% accuracy, `standard` 0.0%; robust (highlighted):
    adv, advc, sns." from the manifest's final PGD accuracies; None without them."""
    acc = pgd_accuracies(manifest)
    if not acc:
        return None
    best = max(acc, key=acc.get)
    line = f"Under PGD{f' ({eps})' if eps else ''} `{best}` keeps {acc[best]:.1%} accuracy"
    if BASELINE in acc and best != BASELINE:
        line += f", `{BASELINE}` {acc[BASELINE]:.1%}"
    robust = robust_variants(manifest)
    line += (
        f"; robust (highlighted): {', '.join(f'`{v}`' for v in robust)}."
        if robust
        else "; no variant keeps much accuracy."
    )
    return line


def continuity_takeaway(table: Mapping[str, Mapping[str, Mapping[Any, float]]], source: str) -> Optional[str]:
    """ "`c` moves 3.3x less than `standard` under hue shifts (test-set mean DS)": of the
    variants other than `standard` and the perturbations, the pair where `standard`'s mean
    DS over the levels is the largest multiple of the variant's. `table`: {variant:
    {perturbation: {level: DS}}}; `source`: what the numbers are (the line's last words).
    None without `standard` and another variant."""
    if BASELINE not in table or len(table) < 2:
        return None

    def mean(v: str, p: str) -> Optional[float]:
        values = [_number(x) for x in table[v].get(p, {}).values()]
        values = [x for x in values if x is not None]
        return sum(values) / len(values) if values else None

    best = None
    for v in table:
        if v == BASELINE:
            continue
        for p in table[BASELINE]:
            base, other = mean(BASELINE, p), mean(v, p)
            if base is None or other is None or other <= 0:
                continue
            ratio = base / other
            if best is None or ratio > best[0]:
                best = (ratio, v, p)
    if best is None:
        return None
    ratio, v, p = best
    if ratio >= 1:
        return f"`{v}` moves {ratio:.1f}x less than `{BASELINE}` under {p} shifts ({source})."
    closest = f"`{v}` {1 / ratio:.1f}x more under {p} shifts"
    return f"Every variant moves more than `{BASELINE}`; the closest: {closest} ({source})."


def saliency_takeaway(
    predictions: Mapping[str, Sequence[tuple[int, float]]], classes: Sequence[str], label: Optional[int]
) -> Optional[str]:
    """ "3 of 4 variants predict cat, the true class; `adv` says dog." from the top-1
    predictions on screen (of an upload: which class most variants predict)."""
    if not predictions:
        return None
    top = {v: p[0][0] for v, p in predictions.items() if p}
    if not top:
        return None
    if label is not None:
        right = [v for v, c in top.items() if c == label]
        line = f"{len(right)} of {len(top)} variants predict {classes[label]}, the true class"
        wrong = [f"`{v}` says {classes[c]}" for v, c in top.items() if c != label]
    else:
        counts = {c: sum(1 for x in top.values() if x == c) for c in set(top.values())}
        common = max(counts, key=counts.get)
        line = f"{counts[common]} of {len(top)} variants predict {classes[common]}"
        wrong = [f"`{v}` says {classes[c]}" for v, c in top.items() if c != common]
    return line + (f"; {', '.join(wrong)}." if 0 < len(wrong) <= 2 else ".")


def _names(variants: Sequence[str]) -> str:
    names = [f"`{v}`" for v in variants]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def robustness_takeaway(states: Mapping[str, str], eps255: float) -> Optional[str]:
    """ "At ε = 8/255 `adv` and `advc` keep the true class; `standard` and `c` lose it."
    from the rows' verdict states (robustness_view); of an upload, each model's own
    prediction. None without rows."""
    if not states:
        return None
    own = any(s in (KEPT_OWN, CHANGED_OWN) for s in states.values())
    what = "its own prediction" if own else "the true class"
    groups = [
        ([v for v, s in states.items() if s in (KEPT_TRUE, KEPT_OWN)], "keep", what),
        ([v for v, s in states.items() if s in (LOST_TRUE, CHANGED_OWN)], "lose", what),
        ([v for v, s in states.items() if s in WRONG_BEFORE], "", "wrong before the attack"),
    ]
    parts, named = [], False
    for variants, verb, obj in groups:
        if not variants:
            continue
        one = len(variants) == 1 or len(variants) == len(states)
        who = "every variant" if len(variants) == len(states) > 1 else _names(variants)
        if not verb:
            parts.append(f"{who} {'was' if one else 'were'} {obj}")
            continue
        parts.append(f"{who} {verb}{'s' if one else ''} {'it' if named else obj}")
        named = True
    return f"At ε = {eps255:g}/255 " + "; ".join(parts) + "."


def embeddings_takeaway(violations: Mapping[str, Mapping[str, int]], same: int, level: int) -> Optional[str]:
    """ "`c` has 3 continuity violations over the 4 perturbations, `standard` 12 (of 200
    same-class images each, level 1)." from the violation counts on screen: the variant
    with the fewest against `standard` (else against the most). None without two variants."""
    totals = {v: sum(int(n) for n in per.values()) for v, per in violations.items()}
    if len(totals) < 2:
        return None
    best = min(totals, key=totals.get)
    other = BASELINE if BASELINE in totals and best != BASELINE else max(totals, key=totals.get)
    kinds = len(next(iter(violations.values())))
    return (
        f"`{best}` has {totals[best]} continuity violations over the {kinds} perturbations, "
        f"`{other}` {totals[other]} (of {same} same-class images each, level {level})."
    )


def neurons_takeaway(
    per_variant: Mapping[str, Mapping[str, Mapping[str, float]]], layers: Sequence[str]
) -> Optional[str]:
    """ "In layer3 the channels of `advc` move 4.1x less than those of `standard` under PGD
    (mean sensitivity)." from the per-layer table on screen: the deepest layer, the variant
    that moves least against `standard` (else against the most). None without two variants."""
    if len(per_variant) < 2 or not layers:
        return None
    layer = layers[-1]
    means = {v: _number(per.get(layer, {}).get("mean")) for v, per in per_variant.items()}
    means = {v: m for v, m in means.items() if m is not None}
    if len(means) < 2:
        return None
    least = min(means, key=means.get)
    other = BASELINE if BASELINE in means and least != BASELINE else max(means, key=means.get)
    if means[least] <= 0 or least == other:
        return None
    ratio = means[other] / means[least]
    return (
        f"In {layer} the channels of `{least}` move {ratio:.1f}x less than those of `{other}` "
        "under PGD (mean sensitivity)."
    )


def sanity_takeaway(
    flags: Mapping[str, Sequence[str]], titles: Mapping[str, str], unjudged: Sequence[str] = ()
) -> Optional[str]:
    """ "Grad-CAM barely changes when the weights are randomised (flagged for `c`); IG and
    Saliency pass." from the flags on screen ({method: flagged variants}). None without a
    method."""
    if not flags:
        return None
    flagged = {m: v for m, v in flags.items() if v}
    passed = [titles.get(m, m) for m, v in flags.items() if not v and m not in unjudged]
    parts = [
        f"{titles.get(m, m)} barely changes when the weights are randomised (flagged for {_names(v)})"
        for m, v in flagged.items()
    ]
    if passed:
        parts.append(
            f"{' and '.join(passed) if len(passed) < 3 else ', '.join(passed)} "
            f"{'pass' if len(passed) > 1 else 'passes'}: the maps follow the weights"
        )
    return "; ".join(parts) + "." if parts else None


def demo_values(image: int = DEMO_IMAGE) -> dict[str, Any]:
    """What "Start the demo" sets before it opens Saliency (as if the user had picked them,
    so sc_viz.app.state takes them in): gallery test image `image` (an upload chosen before
    is set aside); the rest of the view (pack, presentation mode) stays."""
    return {"img_source": GALLERY, "img_index": int(image)}


def highlight_rows(rows: Sequence[Mapping], robust: Sequence[str], key: str = "Variant"):
    """The rows as a table whose robust variants' rows are highlighted (a pandas Styler)."""
    import pandas as pd  # the app's tables are pandas already; lazy: only the Models page needs it

    frame = pd.DataFrame(list(rows))

    def paint(row):
        on = row[key] in robust
        return ["background-color: #d9f2d9; font-weight: 700" if on else "" for _ in row]

    return frame.style.apply(paint, axis=1)
