"""Settings groups: a dataclass of one method's settings, nested in the training config
under the method's name. Its fields carry their help text and choices, so the CLI flag of
a setting is generated from the field (sc_viz/cli/_dataclass_args.py) and a new setting is
one line.

One name per setting everywhere outside the dataclass: `<group>_<setting>` ("spat_gamma")
is the key in a checkpoint's stored config and the flag's destination (`--spat-gamma`).
Configs are stored flat under those keys, as they were before the groups existed, so
every pack on disk and every reader of a manifest's config sees the same keys.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Optional


def setting(
    default: Any,
    help: str,
    *,
    choices: Optional[tuple] = None,
    type: Optional[Callable[[str], Any]] = None,
) -> Any:
    """A settings field: `default` (immutable: a number, a string, None), its `help` for the
    flag ("{default}" is replaced by the default), the allowed values `choices` (checked by
    `check_choices`) and `type`, the flag's converter when the annotation's is not right."""
    metadata = {"help": help, "choices": choices, "type": type}
    return dataclasses.field(default=default, metadata=metadata)


def setting_name(field: dataclasses.Field) -> str:
    """The setting's name outside Python: the field's name without the trailing underscore
    that keeps it off a keyword ("lambda_" -> "lambda")."""
    return field.name.removesuffix("_")


def setting_key(group: str, field: dataclasses.Field) -> str:
    """The stored config key and the flag's destination: "spat" + gamma -> "spat_gamma"."""
    return f"{group}_{setting_name(field)}"


def settings_groups(config_cls) -> dict[str, type]:
    """{field name: settings dataclass} of the config's nested settings groups, in field order."""
    return {
        f.name: f.default_factory
        for f in dataclasses.fields(config_cls)
        if isinstance(f.default_factory, type) and dataclasses.is_dataclass(f.default_factory)
    }


def check_choices(settings, group: str) -> None:
    """ValueError naming the setting's key when a field with choices holds another value."""
    for f in dataclasses.fields(settings):
        choices = f.metadata.get("choices")
        value = getattr(settings, f.name)
        if choices and value not in choices:
            raise ValueError(f"{setting_key(group, f)} must be {' or '.join(choices)}, got {value!r}")


def flatten(settings, group: str) -> dict:
    """The group's settings under their stored keys: {"spat_gamma": 0.1, ...} (values copied)."""
    values = dataclasses.asdict(settings)
    return {setting_key(group, f): values[f.name] for f in dataclasses.fields(settings)}


def unflatten(settings_cls, stored: Mapping, group: str):
    """The group's settings from a stored config: its flat keys ("spat_gamma"), or a nested
    mapping under the group's name ({"spat": {"gamma": ...}}, field or setting names); what
    neither holds keeps its default."""
    values = {}
    nested = stored.get(group)
    nested = nested if isinstance(nested, Mapping) else {}
    for f in dataclasses.fields(settings_cls):
        for key, source in ((setting_key(group, f), stored), (setting_name(f), nested), (f.name, nested)):
            if key in source:
                values[f.name] = source[key]
    return settings_cls(**values)
