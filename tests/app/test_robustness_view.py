"""The Robustness page's glue (sc_viz.app.robustness_view): each row's verdict judged against
the true class (or, for an upload, the model's own clean prediction), and the gallery's story
images computed from a stored report's per-image results."""

import pytest
import torch

from sc_viz.app import robustness_view as rv
from sc_viz.app.report_view import StoredReport
from sc_viz.app.single_image import AttackResult
from sc_viz.evaluate.stats import encode_values

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
AIRPLANE, CAT, DOG, FROG, SHIP = 0, 3, 5, 6, 8


def result(before: int, after: int) -> AttackResult:
    x = torch.zeros(1, 3, 4, 4)
    return AttackResult(x, x, before, [(before, 0.6), (1, 0.3)], [(after, 0.7), (2, 0.2)])


# ---------------------------------------------------------------- the verdict
@pytest.mark.parametrize(
    "before, after, state, tone, words",
    [
        (AIRPLANE, AIRPLANE, rv.KEPT_TRUE, "success", "kept the true class (airplane)"),
        (AIRPLANE, SHIP, rv.LOST_TRUE, "error", "lost the true class (airplane)"),
        # the airplane test image 0 on adv: ship before and after is no "kept"
        (SHIP, SHIP, rv.WRONG_STAYS_WRONG, "warning", "wrong before the attack (true class: airplane)"),
        (SHIP, AIRPLANE, rv.WRONG_TURNS_RIGHT, "warning", "wrong before the attack; right after"),
    ],
)
def test_verdict_is_judged_against_the_true_class(before, after, state, tone, words):
    v = rv.verdict(before, after, AIRPLANE, CLASSES)
    assert (v.state, v.tone) == (state, tone)
    assert words in v.text
    assert v.against == "the true class, airplane"
    assert rv.verdict_of(result(before, after), AIRPLANE, CLASSES) == v


def test_wrong_before_the_attack_is_a_state_of_its_own():
    """The issue's cat test image 3003 on adv: dog before, frog after. The prediction changed,
    but the model never had the true class: neither 'kept' nor 'lost'."""
    v = rv.verdict(DOG, FROG, CAT, CLASSES)
    assert v.state == rv.WRONG_STAYS_WRONG and v.state in rv.WRONG_BEFORE
    assert v.tone == "warning" and "cat" in v.text
    assert rv.verdict(DOG, DOG, CAT, CLASSES).state == rv.WRONG_STAYS_WRONG  # unchanged, still wrong
    states = {rv.verdict(b, a, CAT, CLASSES).state for b in (CAT, DOG) for a in (CAT, DOG, FROG)}
    assert states == {rv.KEPT_TRUE, rv.LOST_TRUE, rv.WRONG_STAYS_WRONG, rv.WRONG_TURNS_RIGHT}


def test_an_upload_is_judged_against_its_own_prediction_and_says_so():
    kept, changed = rv.verdict(DOG, DOG, None, CLASSES), rv.verdict(DOG, FROG, None, CLASSES)
    assert (kept.state, kept.tone) == (rv.KEPT_OWN, "success")
    assert (changed.state, changed.tone) == (rv.CHANGED_OWN, "error")
    assert "own clean prediction" in kept.against and "no true class" in kept.against
    assert "own prediction" in rv.judged_against_note(None, CLASSES)
    assert "true class, **cat**" in rv.judged_against_note(CAT, CLASSES)


def test_csv_rows_carry_the_true_class_and_the_verdict():
    results = {"standard": result(AIRPLANE, SHIP), "adv": result(SHIP, SHIP)}
    rows = rv.verdict_rows(results, CLASSES, 8 / 255, AIRPLANE)
    assert [r["verdict"] for r in rows] == [rv.LOST_TRUE, rv.WRONG_STAYS_WRONG]
    assert {r["true_class"] for r in rows} == {"airplane"}
    assert rows[1]["flipped"] is False  # the old column stays, the verdict says more
    upload = rv.verdict_rows(results, CLASSES, 8 / 255, None)
    assert [r["verdict"] for r in upload] == [rv.CHANGED_OWN, rv.KEPT_OWN] and upload[0]["true_class"] == ""


# ---------------------------------------------------------------- story images
LABELS = [0, 0, 0, 1, 1, 1]
#                 image:  0  1  2  3  4  5
PER_IMAGE = {
    "standard": ([1, 1, 1, 1, 0, 1], [0, 0, 1, 0, 0, 0]),
    "adv": ([1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0]),
    "advc": ([1, 0, 1, 1, 1, 1], [0, 0, 1, 1, 0, 0]),  # keeps image 3 too, not image 1
    "c": ([1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0]),  # loses image 1 and 3, keeps image 0
}


def report(per_image=PER_IMAGE, message=None) -> StoredReport:
    suite = {
        v: {
            "clean_acc": 0.5,
            "pgd_acc": 0.1,
            "n": len(LABELS),
            "eps": 8 / 255,
            "steps": 10,
            "per_image": {"clean_correct": encode_values(c), "pgd_correct": encode_values(p)},
        }
        for v, (c, p) in per_image.items()
    }
    body = {"status": {"robustness": {"state": "complete"}}, "suites": {"robustness": suite}}
    return StoredReport(body, message)


def test_story_images_are_where_adv_keeps_and_standard_loses_the_true_class():
    story = rv.story_images(report(), LABELS)
    # 0, 1 and 3: both right before, adv right after, standard wrong after; not 2 (standard
    # keeps it), 4 (standard wrong before), 5 (adv wrong)
    assert story.all == {0, 1, 3}
    # per class, those where advc keeps and c loses too come first
    assert story.by_class == {0: [1, 0], 1: [3]}
    assert story.first(0) == 1 and story.first(1) == 3 and story.first(7) is None
    assert story.count == 3 and story.n == 6
    assert "adv keeps" in story.caption() and "standard loses" in story.caption()
    assert "PGD-10 (eps 8/255)" in story.caption() and "3 of 6" in story.caption()


def test_no_story_without_usable_per_image_results():
    assert rv.story_images(StoredReport(None, "no report"), LABELS) is None
    assert rv.story_images(report(message="made from other weights"), LABELS) is None  # stale
    assert rv.story_images(report(), LABELS + [1]) is None  # another test split
    assert rv.story_images(report({"adv": PER_IMAGE["adv"]}), LABELS) is None  # no standard
    only_two = {v: PER_IMAGE[v] for v in ("adv", "standard")}
    assert rv.story_images(report(only_two), LABELS).by_class == {0: [0, 1], 1: [3]}  # by index
