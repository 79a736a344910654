"""`sc-viz train`'s related-method flags are generated from the settings dataclasses: a
field is a flag, and the flags given land in the nested config."""

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Optional

from sc_viz.cli import add_train_parser, train_config
from sc_viz.cli._dataclass_args import add_dataclass_arguments, dataclass_values
from sc_viz.training.related import GsctSettings, SnsSettings, SpatSettings
from sc_viz.training.settings import setting


@dataclass(frozen=True)
class ToySettings:
    rate: float = setting(0.5, "toy: a rate (default {default})")
    mode: str = setting("a", "toy: a mode", choices=("a", "b"))
    steps: int = setting(1, "toy: 100% of the steps")
    names: Optional[list] = setting(None, "toy: names")
    lambda_: float = setting(1.0, "toy: a weight")
    on: bool = setting(False, "toy: a switch")


def toy_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, ToySettings, "toy")
    return parser


def test_each_field_of_a_settings_dataclass_is_a_flag():
    parser = toy_parser()
    args = parser.parse_args(
        "--toy-rate 0.25 --toy-mode b --toy-steps 3 --toy-names x y --toy-lambda 2 --toy-on".split()
    )
    given = dataclass_values(args, ToySettings, "toy")
    assert given == {"rate": 0.25, "mode": "b", "steps": 3, "names": ["x", "y"], "lambda_": 2.0, "on": True}
    assert ToySettings(**given).names == ["x", "y"]
    assert dataclass_values(parser.parse_args([]), ToySettings, "toy") == {}  # none given
    assert dataclass_values(parser.parse_args(["--no-toy-on"]), ToySettings, "toy") == {"on": False}
    help_text = parser.format_help()
    assert "toy: a rate (default 0.5)" in help_text and "100% of the steps" in help_text
    assert "{a,b}" in help_text


def test_a_field_added_to_a_method_s_settings_is_a_flag():
    @dataclass(frozen=True)
    class MoreGsct(GsctSettings):
        new_knob: int = setting(3, "GSCT: a new knob (default {default})")

    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, MoreGsct, "gsct")
    args = parser.parse_args(["--gsct-new-knob", "5", "--gsct-lambda", "0.5"])
    assert dataclass_values(args, MoreGsct, "gsct") == {"new_knob": 5, "lambda_": 0.5}


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sc-viz")
    add_train_parser(parser.add_subparsers(dest="command"))
    return parser._subparsers._group_actions[0].choices["train"]


def train_args(*flags):
    return train_parser().parse_args(["--out", "unused", *flags])


def test_train_flags_of_the_related_methods_fill_the_nested_config():
    cfg = train_config(
        train_args(
            "--variant",
            "gsct",
            "--spat-gamma",
            "0.3",
            "--sns-lambda",
            "0.2",
            "--sns-layers",
            "layer1",
            "layer2",
            "--gsct-lambda",
            "2",
            "--gsct-pseudo-batch",
            "separate",
            "--gsct-warmup-epochs",
            "1.5",
            "--gsct-saliency-mode",
            "eval",
        )
    )
    assert cfg.spat == SpatSettings(gamma=0.3)
    assert cfg.sns == SnsSettings(lambda_=0.2, layers=["layer1", "layer2"])
    assert cfg.gsct == GsctSettings(
        lambda_=2.0, pseudo_batch="separate", warmup_epochs=1.5, saliency_mode="eval"
    )
    assert train_config(train_args("--variant", "sns")).sns == SnsSettings()  # no flag: the defaults


def test_train_flags_override_single_settings_of_the_preset():
    preset = train_config(train_args("--preset", "demo", "--variant", "spat"))
    assert preset.spat == SpatSettings(step_norm="budget") and preset.train_limit == 5000
    cfg = train_config(train_args("--preset", "demo", "--variant", "spat", "--spat-gamma", "0.3"))
    assert cfg.spat == SpatSettings(gamma=0.3, step_norm="budget")
    assert dataclasses.replace(cfg, spat=preset.spat) == preset


def test_train_has_every_related_flag_it_had_by_hand():
    flags = {s for a in train_parser()._actions for s in a.option_strings}
    assert {
        "--spat-gamma",
        "--spat-top-k",
        "--spat-step-norm",
        "--sns-lambda",
        "--sns-top-fraction",
        "--sns-layers",
        "--gsct-lambda",
        "--gsct-top-fraction",
        "--gsct-consensus-fraction",
        "--gsct-offending-steps",
        "--gsct-pseudo-batch",
        "--gsct-warmup-epochs",
        "--gsct-saliency-mode",
    } <= flags
