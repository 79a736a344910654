"""Deep links: how each view field is written into the URL and read back.

A `Field` names one piece of the view (a widget's key, its default, its query parameter and
its codec); `sc_viz.app.views` declares the fields of every page. `to_query` writes the
values that differ from their defaults; `parse_query` reads them back, and returns what it
had to ignore (a parameter it does not know, or a value that does not parse) so the page can
say so. Checks that need the loaded pack (does variant `zzz` exist? is image 99999 in the
test set?) happen where the widget is drawn (`sc_viz.app.state.bind`). Pure Python, no
Streamlit: tested on its own."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlencode

LIST_SEP = ","
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class BadValue(ValueError):
    """A query value that does not parse; the message says why, in a few words."""


@dataclass(frozen=True)
class Codec:
    """Text <-> value for one kind of field."""

    parse: Callable[[str], Any]
    format: Callable[[Any], str]


def integer(lo: int = 0, hi: int = 10**9) -> Codec:
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise BadValue("not a whole number") from None
        if not lo <= n <= hi:
            raise BadValue(f"outside {lo}..{hi}")
        return n

    return Codec(parse, str)


def number(lo: float, hi: float) -> Codec:
    def parse(text: str) -> float:
        try:
            f = float(text)
        except ValueError:
            raise BadValue("not a number") from None
        if not lo <= f <= hi:  # NaN fails both comparisons
            raise BadValue(f"outside {lo:g}..{hi:g}")
        return f

    return Codec(parse, lambda f: f"{f:g}")


def flag() -> Codec:
    def parse(text: str) -> bool:
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise BadValue("not on/off")

    return Codec(parse, lambda b: "1" if b else "0")


def text() -> Codec:
    def parse(value: str) -> str:
        if not value:
            raise BadValue("empty")
        return value

    return Codec(parse, str)


def names() -> Codec:
    """A comma-separated list of names (variants, methods); duplicates dropped, order kept.
    An empty value is a valid empty choice."""

    def parse(value: str) -> list[str]:
        return list(dict.fromkeys(n.strip() for n in value.split(LIST_SEP) if n.strip()))

    return Codec(parse, lambda items: LIST_SEP.join(items))


@dataclass(frozen=True)
class Field:
    """One piece of the view: the widget `key` that shows it, its `default`, and the query
    parameter `url` that carries it (None: never in the URL, e.g. derived from another).
    `when(values)` False leaves it out of the URL (e.g. a target class while the target
    mode is not "a chosen class")."""

    key: str
    default: Any
    url: Optional[str]
    codec: Codec
    when: Optional[Callable[[Mapping], bool]] = None

    def fresh_default(self):
        """A copy of the default (lists must not be shared between sessions)."""
        return list(self.default) if isinstance(self.default, (list, tuple)) else self.default


def _one(value) -> Optional[str]:
    """st.query_params gives str; AppTest and urllib may give lists: take the last."""
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    return None if value is None else str(value).strip()


def parse_query(params: Mapping, fields: Iterable[Field]) -> tuple[dict[str, Any], list[str]]:
    """({key: value} for the fields the URL sets, [what was ignored and why])."""
    by_url = {f.url: f for f in fields if f.url}
    values, ignored = {}, []
    for name, raw in params.items():
        value = _one(raw)
        field = by_url.get(name)
        if field is None:
            ignored.append(f"{name}={value} (unknown parameter)")
            continue
        try:
            values[field.key] = field.codec.parse(value or "")
        except BadValue as err:
            ignored.append(f"{name}={value} ({err})")
    return values, ignored


def to_query(values: Mapping[str, Any], fields: Iterable[Field]) -> dict[str, str]:
    """The parameters of the values that differ from their field's default, so that
    parse_query(to_query(v)) gives back every non-default value."""
    query = {}
    for field in fields:
        if field.url is None or field.key not in values:
            continue
        if field.when is not None and not field.when(values):
            continue
        value = values[field.key]
        default = field.default
        if isinstance(default, tuple):
            default = list(default)
        if value is None or value == default:
            continue
        query[field.url] = field.codec.format(value)
    return query


def to_url(base: str, query: Mapping[str, str]) -> str:
    return f"{base}?{urlencode(query)}" if query else base


def keep_known(wanted: Optional[Sequence], allowed: Iterable) -> tuple[list, list]:
    """(the items of `wanted` that are in `allowed`, in `wanted`'s order; the others)."""
    allowed = list(allowed)
    wanted = list(wanted or [])
    return [w for w in wanted if w in allowed], [w for w in wanted if w not in allowed]
