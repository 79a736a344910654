"""Flags generated from a settings dataclass (sc_viz.training.settings): one flag per field,
`--<group>-<setting>` with the field's help, type and choices, and back from the parsed
arguments to the fields given."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing

from sc_viz.training.settings import setting_key


def _without_none(annotation):
    """Optional[X] -> X; anything else as it is."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _type_options(annotation, converter) -> dict:
    """add_argument's options for a field's annotation: a list takes one or more values
    (of list[X]'s X, else strings), a bool is --x / --no-x, anything else one value
    converted by `converter` or the annotation's type."""
    annotation = _without_none(annotation)
    origin = typing.get_origin(annotation) or annotation
    if origin is list:
        (item,) = typing.get_args(annotation) or (str,)
        return {"nargs": "+", "type": converter or item}
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}
    return {"type": converter or annotation}


def add_dataclass_arguments(parser, settings_cls, group: str) -> None:
    """One flag per field of `settings_cls` on `parser` (a parser or an argument group):
    `--spat-gamma` for field `gamma` of group "spat", destination "spat_gamma". Every flag
    defaults to None (not given), so a preset's value or the field's default applies."""
    hints = typing.get_type_hints(settings_cls)
    for f in dataclasses.fields(settings_cls):
        key = setting_key(group, f)
        help_text = f.metadata.get("help", "").format(default=f.default).replace("%", "%%")
        options = _type_options(hints[f.name], f.metadata.get("type"))
        if f.metadata.get("choices"):
            options["choices"] = list(f.metadata["choices"])
        parser.add_argument("--" + key.replace("_", "-"), dest=key, default=None, help=help_text, **options)


def dataclass_values(args: argparse.Namespace, settings_cls, group: str) -> dict:
    """{field name: value} of the flags of `settings_cls` that were given."""
    values = {f.name: getattr(args, setting_key(group, f), None) for f in dataclasses.fields(settings_cls)}
    return {name: value for name, value in values.items() if value is not None}
