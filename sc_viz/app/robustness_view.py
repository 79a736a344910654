"""The Robustness page's computation beyond the attack itself (sc_viz.app.single_image):

- the verdict of each variant's row, judged against the image's true class where it is
  known (a gallery image), else against the model's own clean prediction (an upload), with
  "wrong before the attack" as a state of its own;
- the gallery examples the page starts from: test images where the stored report's PGD
  leaves the robust model (adv) on the true class and moves the standard one off it,
  computed from the report's per-image results;
- the test-set chart: clean and PGD accuracy per variant from the stored report, with
  Wilson 95% error bars (`report_view.robustness_intervals`);
- the page's pieces of work (each variant's PGD, its clean and adversarial maps, SPAT's
  attack), asked through a `fetch` (sc_viz.deck.work) so a prepared deck can hold them:
  the page and `sc-viz deck build` call the same functions.

What draws them (the variants' rows, SPAT's section, the test-set table) is in
`robustness_screen`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

import plotly.graph_objects as go

from sc_viz.app.maps import clean_and_adversarial
from sc_viz.app.report_view import StoredReport, robustness_intervals
from sc_viz.app.single_image import AttackResult, attack_each, attack_rows
from sc_viz.app.spat_view import SpatResult, spat_each
from sc_viz.deck.work import Fetch, Work, compute_now, result_type
from sc_viz.evaluate.stats import decode_values
from sc_viz.explain import Explanation
from sc_viz.variants import variant_colour

KINDS = {"clean": "clean accuracy", "pgd": "PGD accuracy"}

# ---------------------------------------------------------------- the verdict of a row
# States of a row's verdict. With a true class: right -> right, right -> wrong, and the two
# rows that were wrong before the attack. Without one (an upload): the model's own clean
# prediction kept or changed.
KEPT_TRUE, LOST_TRUE = "kept the true class", "lost the true class"
WRONG_STAYS_WRONG, WRONG_TURNS_RIGHT = "wrong before, wrong after", "wrong before, right after"
KEPT_OWN, CHANGED_OWN = "kept its own prediction", "changed its own prediction"
WRONG_BEFORE = (WRONG_STAYS_WRONG, WRONG_TURNS_RIGHT)


@dataclass(frozen=True)
class Verdict:
    """What a row's box says: `state` (one of the states above), `text` (the box's words),
    `tone` (the box: "success", "error" or "warning"), `against` (what it is judged
    against, in words)."""

    state: str
    text: str
    tone: str
    against: str


def verdict(before: int, after: int, true_class: Optional[int], classes: Sequence[str]) -> Verdict:
    """The verdict of a model's top class before and after the attack, judged against
    `true_class` when known (a gallery image), else against the prediction `before`."""
    if true_class is None:
        against = "its own clean prediction (no true class for an upload)"
        if after == before:
            return Verdict(KEPT_OWN, f"kept its own prediction ({classes[before]})", "success", against)
        return Verdict(CHANGED_OWN, f"changed its own prediction ({classes[before]})", "error", against)
    name = classes[true_class]
    against = f"the true class, {name}"
    if before == true_class:
        if after == true_class:
            return Verdict(KEPT_TRUE, f"kept the true class ({name})", "success", against)
        return Verdict(LOST_TRUE, f"lost the true class ({name})", "error", against)
    if after == true_class:
        return Verdict(
            WRONG_TURNS_RIGHT,
            f"wrong before the attack; right after it ({name})",
            "warning",
            against,
        )
    return Verdict(
        WRONG_STAYS_WRONG, f"wrong before the attack (true class: {name}); still wrong", "warning", against
    )


def verdict_of(result: AttackResult, true_class: Optional[int], classes: Sequence[str]) -> Verdict:
    """The verdict of a `single_image.AttackResult`."""
    return verdict(result.before[0][0], result.after[0][0], true_class, classes)


def judged_against_note(true_class: Optional[int], classes: Sequence[str]) -> str:
    """The line above the rows saying what every verdict is judged against."""
    if true_class is None:
        return (
            "Verdicts are judged against each model's own prediction on the clean image: an "
            "upload has no true class."
        )
    return (
        f"Verdicts are judged against the true class, **{classes[true_class]}**: kept or lost "
        "when the model was right before the attack, and 'wrong before the attack' when it "
        "was not."
    )


# ---------------------------------------------------------------- the page's examples
KEEPER, LOSER = "adv", "standard"  # the story: the robust model keeps, the standard one loses
# Ranking among the story images: the other two of the paper's four telling it too.
ALSO_KEEP, ALSO_LOSE = ("advc",), ("c",)


@dataclass
class StoryImages:
    """Test images where the stored report's PGD leaves `keeper` on the true class and
    moves `loser` off it (both right on the clean image), per class, best first: those where
    more of `ALSO_KEEP` keep and `ALSO_LOSE` lose come first, then by index."""

    keeper: str
    loser: str
    by_class: dict[int, list[int]] = field(default_factory=dict)
    n: int = 0  # test images in the report
    attack: str = ""  # the report's attack, in words

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.by_class.values())

    @property
    def all(self) -> set[int]:
        return {i for found in self.by_class.values() for i in found}

    def first(self, label: int) -> Optional[int]:
        found = self.by_class.get(int(label))
        return found[0] if found else None

    def caption(self) -> str:
        return (
            f"Gallery examples start with test images where {self.keeper} keeps the true class "
            f"under the stored report's {self.attack} and {self.loser} loses it "
            f"({self.count:,} of {self.n:,}, from the report's per-image results)."
        )


def _per_image(suite: Mapping, variant: str) -> Optional[tuple[list[float], list[float]]]:
    per = (suite.get(variant) or {}).get("per_image") or {}
    clean, pgd = decode_values(per.get("clean_correct")), decode_values(per.get("pgd_correct"))
    if clean is None or pgd is None or len(clean) != len(pgd):
        return None
    return clean, pgd


def story_images(
    stored: StoredReport, labels: Sequence[int], keeper: str = KEEPER, loser: str = LOSER
) -> Optional[StoryImages]:
    """The report's story images (see `StoryImages`), grouped by `labels` (the test split's
    class of each image, in the report's order); None when the report has no per-image
    robustness results of both variants, or they do not match the test split."""
    suite = stored.suite("robustness") if stored.message is None else None
    if not suite:
        return None
    keep, lose = _per_image(suite, keeper), _per_image(suite, loser)
    if keep is None or lose is None or len(keep[0]) != len(labels) or len(lose[0]) != len(labels):
        return None
    others = [(v, True) for v in ALSO_KEEP] + [(v, False) for v in ALSO_LOSE]
    extra = {v: _per_image(suite, v) for v, _ in others}
    extra = {v: e for v, e in extra.items() if e is not None and len(e[0]) == len(labels)}

    def agreeing(i: int) -> int:
        return sum(
            1 for v, keeps in others if v in extra and extra[v][0][i] == 1 and (extra[v][1][i] == 1) == keeps
        )

    chosen = [
        i
        for i in range(len(labels))
        if keep[0][i] == 1 and keep[1][i] == 1 and lose[0][i] == 1 and lose[1][i] == 0
    ]
    chosen.sort(key=lambda i: (-agreeing(i), i))
    by_class: dict[int, list[int]] = {}
    for i in chosen:
        by_class.setdefault(int(labels[i]), []).append(i)
    first = suite[keeper]
    attack = f"PGD-{first.get('steps')} (eps {first.get('eps', 0) * 255:g}/255)" if "eps" in first else "PGD"
    return StoryImages(keeper, loser, by_class, len(labels), attack)


# ---------------------------------------------------------------- the test-set chart
def test_set_figure(stored, variants):
    """The chart of a stored report's robustness suite for `variants`, or None when the
    report has none (stored: report_view.StoredReport)."""
    intervals = robustness_intervals(stored, variants)
    if not intervals:
        return None
    result = stored.suite("robustness")
    points = {v: {"clean": result[v]["clean_acc"], "pgd": result[v]["pgd_acc"]} for v in intervals}
    return accuracy_figure(points, intervals)


def accuracy_figure(points: Mapping[str, Mapping[str, float]], intervals: Mapping[str, Mapping[str, list]]):
    """Grouped bars (clean, PGD) per variant in %, asymmetric error bars from the intervals.
    points: {variant: {"clean": acc, "pgd": acc}}; intervals: {variant: {"clean": [lo, hi], ...}}."""
    variants = [v for v in points if v in intervals]
    fig = go.Figure()
    for kind, name in KINDS.items():
        values = [100 * points[v][kind] for v in variants]
        fig.add_bar(
            x=variants,
            y=values,
            name=name,
            marker_color=[variant_colour(v) for v in variants],
            marker_pattern_shape="" if kind == "clean" else "/",
            error_y=dict(
                type="data",
                symmetric=False,
                # max(0, .): Wilson's bound at 0% is 0 up to round-off
                array=[max(0.0, 100 * intervals[v][kind][1] - y) for v, y in zip(variants, values)],
                arrayminus=[max(0.0, y - 100 * intervals[v][kind][0]) for v, y in zip(variants, values)],
            ),
            hovertemplate="%{x}: %{y:.2f}%<extra>" + name + "</extra>",
        )
    fig.update_layout(
        barmode="group",
        yaxis_title="accuracy (%), 95% Wilson interval",
        height=360,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h", y=1.1),
    )
    return fig


def verdict_rows(
    results: Mapping[str, AttackResult], classes: Sequence[str], eps: float, true_class: Optional[int]
) -> list[dict]:
    """The page's CSV rows (`single_image.attack_rows`) with the true class (empty for an
    upload) and each row's verdict state."""
    rows = attack_rows(results, list(classes), eps)
    for row, r in zip(rows, results.values()):
        row["true_class"] = classes[true_class] if true_class is not None else ""
        found = verdict_of(r, true_class, classes)
        row["verdict"], row["judged_against"] = found.state, found.against
    return rows


# ---------------------------------------------------------------- the page's work
for _stored in (AttackResult, SpatResult, Explanation):  # what a deck holds for this page
    result_type(_stored)
NO_METHOD = "none"  # the saliency picker's "no maps"


def _budget(eps255: float, steps: int, label: Optional[int]) -> dict:
    return {"eps255": float(eps255), "steps": int(steps), "label": label}


def pgd_of(
    pack, x, label, variant: str, eps255: float, steps: int, fetch: Fetch = compute_now
) -> AttackResult:
    """One variant's PGD of image x (1, 3, S, S), pushed away from `label` (a gallery
    image's class), else from the model's own prediction."""
    work = Work("robustness.pgd", _budget(eps255, steps, label), (variant,))
    model = {variant: pack.models[variant]}
    return fetch(work, lambda: attack_each(model, x, eps255 / 255, steps=steps, label=label)[variant])


def maps_of(
    pack,
    x,
    variant: str,
    attack: AttackResult,
    eps255: float,
    steps: int,
    method: str,
    fetch: Fetch = compute_now,
) -> tuple[Explanation, Explanation]:
    """The variant's map of x and of its PGD image (`attack`, from `pgd_of`)."""
    work = Work("robustness.maps", {**_budget(eps255, steps, attack.label), "method": method}, (variant,))
    return fetch(work, lambda: clean_and_adversarial(pack.models[variant], x, attack.x_adv, method))


def spat_of(
    pack, x, variant: str, attack: AttackResult, eps255: float, steps: int, fetch: Fetch = compute_now
) -> SpatResult:
    """SPAT's shared-pixel attack of the variant, beside its PGD `attack` (same budget)."""
    work = Work("robustness.spat", _budget(eps255, steps, attack.label), (variant,))
    model, pgd = {variant: pack.models[variant]}, {variant: attack}
    return fetch(work, lambda: spat_each(model, x, pgd, eps255 / 255, steps=steps)[variant])
