"""Talk -> deck: every unit of every Saliency slide computed once, exactly as the app's
Saliency page computes it (`sc_viz.explain.grid.explain_unit`), and stored by its key.
The app's page and the build both find a unit through `slide_units`, so a slide the
deck holds is shown without computing anything."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import torch

from sc_viz.deck.store import Deck, DeckWriter, image_sha256, unit_key
from sc_viz.deck.talk import SALIENCY, Slide, read_talk, talk_dict
from sc_viz.explain.grid import explain_unit, method_units, ordered_methods
from sc_viz.explain.settings import ExplainSettings, grid_target, load_image
from sc_viz.packs import Pack, load_pack

Progress = Optional[Callable[[int, int, str], None]]


@dataclass
class Unit:
    method: str
    variants: tuple[str, ...]
    key: str


def slide_units(
    pack: Pack, x: torch.Tensor, settings: ExplainSettings, label: Optional[int], keyed: bool = True
) -> Iterator[Unit]:
    """The units of one grid, in the order they are computed (cheapest method first, then
    variant by variant where the method allows). `keyed=False` leaves each key "" (no deck
    to look in: the weights files are not hashed)."""
    variants = settings.variants or list(pack.models)
    options, target = settings.method_options(), grid_target(settings, label)
    image = image_sha256(x) if keyed else ""
    for m in ordered_methods(settings.methods):
        for unit in method_units(variants, m):
            weights = [(v, pack.weights_sha256(v)) for v in unit] if keyed else []
            yield Unit(m, unit, unit_key(m, options.get(m, {}), target, weights, image) if keyed else "")


def build_deck(
    talk: Union[str, Path],
    out: Union[str, Path],
    *,
    device=None,
    data_root=None,
    progress: Progress = None,
) -> tuple[Deck, int, int]:
    """Compute every unit the talk's Saliency slides need into the deck folder `out`.
    Returns (deck, units computed, units kept from an earlier build)."""
    slides = read_talk(talk)
    packs: dict[str, Pack] = {}
    writer = DeckWriter(out, talk_dict(slides))
    kept = writer.start()
    plans = []
    for number, slide in enumerate(slides, 1):
        plans.append(_plan(slide, number, packs, device, data_root))
    total = sum(len(plan.units) for plan in plans)
    done = computed = 0
    manifest_slides = []
    for slide, plan in zip(slides, plans):
        for u in plan.units:
            done += 1
            if not writer.has(u.key):
                models = {v: plan.pack.models[v] for v in u.variants}
                options = slide.settings.method_options().get(u.method, {})
                writer.put(u.key, explain_unit(models, plan.x, u.method, plan.target, options))
                computed += 1
            if progress:
                progress(done, total, f"{u.method} / {', '.join(u.variants)}")
        manifest_slides.append(
            {
                "page": slide.page,
                "pack": slide.pack,
                "units": [u.key for u in plan.units],
                "weights": plan.weights,
            }
        )
    return writer.finish(manifest_slides), computed, kept


@dataclass
class Plan:
    pack: Optional[Pack] = None
    x: Optional[torch.Tensor] = None  # (1, 3, S, S)
    target: Optional[int] = None  # explain_grid's target (None: each model's prediction)
    units: list[Unit] = field(default_factory=list)
    weights: dict[str, str] = field(default_factory=dict)  # variant -> sha256 of its weights


def _plan(slide: Slide, number: int, packs: dict, device, data_root) -> Plan:
    """What a Saliency slide needs computed; an empty plan for another page."""
    if slide.page != SALIENCY:
        return Plan()
    where = f"slide {number}"
    if slide.pack not in packs:
        packs[slide.pack] = load_pack(slide.pack, device=device)
    pack = packs[slide.pack]
    missing = [v for v in slide.settings.variants or [] if v not in pack.models]
    if missing:
        raise ValueError(f"{where}: variants not in {slide.pack}: {', '.join(missing)}")
    x, label = load_image(slide.settings, pack, data_root)
    x = x.reshape(1, *x.shape[-3:])  # (1, 3, S, S), as the app holds it
    variants = slide.settings.variants or list(pack.models)
    return Plan(
        pack,
        x,
        grid_target(slide.settings, label),
        list(slide_units(pack, x, slide.settings, label)),
        {v: pack.weights_sha256(v) for v in variants},
    )
