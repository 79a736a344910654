"""Clean and PGD accuracy on models whose predictions are known."""

import pytest
import torch

from sc_viz.evaluate import robustness

from .helpers import AlwaysZero, LabelReader, context, label_images

LABELS = torch.arange(30) % 10  # 3 images per class


def test_accuracy_of_known_models():
    ctx = context({"standard": LabelReader(), "c": AlwaysZero()}, label_images(LABELS), batch_size=8)
    r = robustness.run(ctx)
    assert r["standard"]["clean_acc"] == 1.0  # reads every label
    assert r["c"]["clean_acc"] == pytest.approx(0.1)  # class 0 is a tenth of the sample
    # eps 8/255 moves the red mean by at most 8/255, 0.4 of a class step: still right
    assert r["standard"]["pgd_acc"] == 1.0
    assert r["c"]["pgd_acc"] == pytest.approx(0.1)  # zero gradient: PGD cannot move it
    assert r["standard"]["eps"] == pytest.approx(8 / 255)  # the paper's budget for 32 px (docs/method.md#pgd)
    assert r["standard"]["steps"] == 10 and r["standard"]["n"] == 30


def test_the_attack_comes_from_the_manifest():
    # eps 24/255 lets PGD move the red mean 1.2 class steps: every image can be pushed
    # to a neighbouring class, and 10 steps of 4/255 reach it
    configs = {"standard": {"eval_eps": 24 / 255, "eval_step": 4 / 255, "eval_steps": 10}}
    ctx = context({"standard": LabelReader()}, label_images(LABELS), configs=configs)
    r = robustness.run(ctx)["standard"]
    assert (r["eps"], r["step_size"], r["steps"]) == (pytest.approx(24 / 255), pytest.approx(4 / 255), 10)
    assert r["clean_acc"] == 1.0 and r["pgd_acc"] == 0.0


def test_results_are_checkpointed_per_variant_and_resumed():
    saved = []
    models = {"standard": LabelReader(), "c": AlwaysZero()}
    ctx = context(models, label_images(LABELS))
    ctx.checkpoint = lambda partial: saved.append(dict(partial))
    full = robustness.run(ctx)
    assert [list(s) for s in saved] == [["standard"], ["standard", "c"]]
    # resume from the first checkpoint: 'standard' is kept as saved, only 'c' runs
    marker = dict(saved[0]["standard"], note="from the interrupted run")
    ctx2 = context(models, label_images(LABELS), previous={"standard": marker})
    ctx2.checkpoint = lambda partial: None
    resumed = robustness.run(ctx2)
    assert resumed["standard"]["note"] == "from the interrupted run"
    assert resumed["c"] == full["c"]


def test_per_image_correctness_gives_the_accuracies():
    from sc_viz.evaluate.stats import decode_values

    ctx = context({"standard": LabelReader(), "c": AlwaysZero()}, label_images(LABELS), batch_size=8)
    r = robustness.run(ctx)
    clean = decode_values(r["c"]["per_image"]["clean_correct"])
    assert clean == [1.0 if label == 0 else 0.0 for label in LABELS.tolist()]  # class 0 only
    assert sum(clean) / len(clean) == pytest.approx(r["c"]["clean_acc"])
    assert decode_values(r["standard"]["per_image"]["pgd_correct"]) == [1.0] * len(LABELS)
