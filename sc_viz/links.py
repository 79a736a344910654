"""Deep links: the query parameters that reopen a view (pack, gallery image, variants,
methods, target, perturbation, level, eps, presentation mode).

Parsing is lenient: a value that does not parse, or names something the pack lacks, is
dropped (the page falls back to its default) rather than failing; a link is a convenience,
never a way to break the page."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, Optional, Sequence
from urllib.parse import urlencode

LIST_SEP = ","


@dataclass(frozen=True)
class View:
    pack: Optional[str] = None
    image: Optional[int] = None  # index into the pack's test split (gallery images only)
    variants: Optional[tuple[str, ...]] = None
    methods: Optional[tuple[str, ...]] = None
    target: Optional[int] = None  # class index explained; None = each model's top class
    perturbation: Optional[str] = None
    level: Optional[int] = None
    eps: Optional[float] = None  # PGD budget in 1/255 units
    present: bool = False


def _one(value) -> Optional[str]:
    """st.query_params gives str; AppTest and urllib may give lists: take the last."""
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    return None if value is None else str(value).strip()


def _int(value, lo: int = 0, hi: int = 10**9) -> Optional[int]:
    try:
        n = int(_one(value))
    except (TypeError, ValueError):
        return None
    return n if lo <= n <= hi else None


def _float(value, lo: float = 0.0, hi: float = 255.0) -> Optional[float]:
    try:
        f = float(_one(value))
    except (TypeError, ValueError):
        return None
    return f if lo <= f <= hi else None  # NaN fails both comparisons


def _names(value) -> Optional[tuple[str, ...]]:
    text = _one(value)
    if text is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(LIST_SEP) if n.strip()))
    return names or None


def parse_query(params: Mapping) -> View:
    get = params.get
    return View(
        pack=_one(get("pack")) or None,
        image=_int(get("img")),
        variants=_names(get("v")),
        methods=_names(get("m")),
        target=_int(get("target"), 0, 100_000),
        perturbation=_one(get("pert")) or None,
        level=_int(get("level"), 1, 4),
        eps=_float(get("eps")),
        present=(_one(get("present")) or "").lower() in ("1", "true", "yes", "on"),
    )


def to_query(view: View) -> dict[str, str]:
    """The parameters of `view`, defaults omitted, so that parse_query(to_query(v)) == v."""
    q = {}
    for key, name in (("pack", "pack"), ("image", "img"), ("target", "target"),
                      ("perturbation", "pert"), ("level", "level")):
        value = getattr(view, key)
        if value is not None:
            q[name] = str(value)
    if view.variants:
        q["v"] = LIST_SEP.join(view.variants)
    if view.methods:
        q["m"] = LIST_SEP.join(view.methods)
    if view.eps is not None:
        q["eps"] = f"{view.eps:g}"
    if view.present:
        q["present"] = "1"
    return q


def to_url(base: str, view: View) -> str:
    q = to_query(view)
    return f"{base}?{urlencode(q)}" if q else base


def keep_known(wanted: Optional[Sequence[str]], allowed: Iterable[str],
               default: Sequence[str]) -> list[str]:
    """The names of `wanted` that are in `allowed` (in `allowed`'s order); `default`
    (restricted the same way) when none is left."""
    allowed = list(allowed)
    chosen = [a for a in allowed if wanted and a in wanted]
    return chosen or [a for a in allowed if a in default]


def as_dict(view: View) -> dict:
    return asdict(view)
