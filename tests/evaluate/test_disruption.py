"""Disruption accuracies on models with known invariances."""

import torch

from sc_viz.evaluate import disruption

from .helpers import LabelReader, MeanColour, context, label_images

LABELS = torch.arange(40) % 10


def test_known_invariances():
    torch.manual_seed(0)
    # MeanColour's logits depend on the channel means only: a wrapped channel shift and a
    # block shuffle keep every channel's pixels, so its predictions cannot change
    models = {"standard": LabelReader(), "c": MeanColour(torch.randn(10, 3), torch.randn(10))}
    r = disruption.run(context(models, label_images(LABELS), batch_size=16))
    for v in models:
        for t in ("channel_shift", "sliding_puzzle"):
            assert set(r["accuracy"][v][t].values()) == {r["clean_acc"][v]}, (v, t)
    assert r["clean_acc"]["standard"] == 1.0
    # noise over the centre 3/4 of the side (56% of the pixels) wipes out the red level
    assert r["accuracy"]["standard"]["centre_noise"]["0.75"] < 0.5
    assert r["n"] == 40
    assert list(r["accuracy"]["standard"]["channel_shift"]) == ["1", "2", "4", "8"]


def test_same_seed_same_images_other_seed_other_noise():
    models = {"standard": LabelReader()}
    split = label_images(LABELS)
    a = disruption.run(context(models, split, seed=1))
    b = disruption.run(context(models, split, seed=1))
    assert a == b
    strengths = {"centre_noise": [0.5]}
    accs = {
        disruption.run(context(models, split, seed=s, options={"disruption_strengths": strengths}))[
            "accuracy"
        ]["standard"]["centre_noise"]["0.5"]
        for s in range(6)
    }
    assert len(accs) > 1  # the noise really depends on the seed
