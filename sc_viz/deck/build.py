"""Talk -> deck: every unit of every Saliency slide computed once, exactly as the app's
Saliency page computes it (`sc_viz.explain.grid.explain_unit`), and stored by its key.
The app's page and the build both find a unit through `slide_units`, so a slide the
deck holds is shown without computing anything.

Other pages' slides are computed by the page's own `slide_work` (given in `pages`, by the
app's layer: `sc_viz.app.slide_work.PAGES`), each piece stored by its `Work` key; a page
without one keeps its slides as views (computed, quickly, when shown)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import torch

from sc_viz.deck.store import Deck, DeckWriter, image_sha256, unit_key
from sc_viz.deck.talk import SALIENCY, Slide, read_talk, talk_dict
from sc_viz.deck.work import Work
from sc_viz.explain.grid import explain_unit, method_units, ordered_methods
from sc_viz.explain.settings import ExplainSettings, grid_target, load_image
from sc_viz.packs import Pack, load_pack

Progress = Optional[Callable[[int, int, str], None]]
# page title -> slide_work(pack, x (1, 3, S, S), label, the slide as a dict, fetch, data_root)
PageWork = Callable[..., None]


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
    pages: Optional[Mapping[str, PageWork]] = None,
    device=None,
    data_root=None,
    progress: Progress = None,
) -> tuple[Deck, int, int]:
    """Compute every unit the talk's Saliency slides need, and every piece of work the
    slides of `pages` need, into the deck folder `out`. Returns (deck, pieces computed,
    pieces kept from an earlier build)."""
    slides = read_talk(talk)
    packs: dict[str, Pack] = {}
    writer = DeckWriter(out, talk_dict(slides))
    kept = writer.start()
    plans = [_plan(slide, n, packs, device, data_root, pages or {}) for n, slide in enumerate(slides, 1)]
    run = _Run(writer, sum(len(p.units) + (p.work is not None) for p in plans), progress, data_root)
    manifest_slides = []
    for slide, plan in zip(slides, plans):
        keys, note = [run.unit(slide, plan, u) for u in plan.units], None
        if plan.work is not None:
            done, note = run.page_work(slide, plan)
            keys += done
        entry = {"page": slide.page, "pack": slide.pack, "units": keys, "weights": plan.weights}
        manifest_slides.append({**entry, "note": note} if note else entry)
    return writer.finish(manifest_slides), run.computed, kept


class _Run:
    """One build's writing and counting: Saliency units and other pages' pieces of work."""

    def __init__(self, writer: DeckWriter, total: int, progress: Progress, data_root=None) -> None:
        self.writer, self.total, self.progress, self.data_root = writer, total, progress, data_root
        self.done = self.computed = 0

    def _step(self, label: str, advance: bool = True) -> None:
        self.done += advance
        if self.progress:
            self.progress(self.done, self.total, label)

    def unit(self, slide: Slide, plan: Plan, u: Unit) -> str:
        if not self.writer.has(u.key):
            models = {v: plan.pack.models[v] for v in u.variants}
            options = slide.settings.method_options().get(u.method, {})
            self.writer.put(u.key, explain_unit(models, plan.x, u.method, plan.target, options))
            self.computed += 1
        self._step(f"{u.method} / {', '.join(u.variants)}")
        return u.key

    def page_work(self, slide: Slide, plan: Plan) -> tuple[list[str], Optional[str]]:
        """Run the page's slide_work with a fetch that stores each piece (or reads back one
        stored by an earlier build: a later piece may need it, e.g. the maps of a PGD image).
        Returns (the pieces' keys, None) or, for a view the page itself refuses (e.g. too
        few points for t-SNE: the page says so when shown), (the keys done, why)."""
        image, keys = image_sha256(plan.x), []

        def fetch(work: Work, compute):
            key = work.key_in(plan.pack, image)
            found = self.writer.get_result(key) if self.writer.has(key) else None
            if found is None:
                self._step(f"{slide.page}: {work.name} / {', '.join(work.variants)}", advance=False)
                found = compute()
                self.writer.put_result(key, found)
                self.computed += 1
            keys.append(key)
            return found

        note = None
        try:
            plan.work(plan.pack, plan.x, plan.label, slide.to_dict(), fetch, self.data_root)
        except ValueError as err:
            note = "not all precomputed: " + (str(err).splitlines() or [type(err).__name__])[0][:200]
        self._step(f"{slide.page}: done")
        return list(dict.fromkeys(keys)), note


@dataclass
class Plan:
    pack: Optional[Pack] = None
    x: Optional[torch.Tensor] = None  # (1, 3, S, S)
    target: Optional[int] = None  # explain_grid's target (None: each model's prediction)
    units: list[Unit] = field(default_factory=list)
    weights: dict[str, str] = field(default_factory=dict)  # variant -> sha256 of its weights
    label: Optional[int] = None  # the image's true class (None: an upload)
    work: Optional[PageWork] = None  # another page's slide_work


def _pack(slide: Slide, packs: dict, device) -> Pack:
    if slide.pack not in packs:
        packs[slide.pack] = load_pack(slide.pack, device=device)
    return packs[slide.pack]


def _plan(slide: Slide, number: int, packs: dict, device, data_root, pages: Mapping[str, PageWork]) -> Plan:
    """What a slide needs computed: a Saliency slide's units, or another page's slide_work
    and its image; an empty plan for a page without one (or a slide without an image)."""
    if slide.page != SALIENCY:
        if slide.page not in pages or slide.image is None:
            return Plan()
        pack = _pack(slide, packs, device)
        x, label = load_image(ExplainSettings(pack=slide.pack, image=slide.image), pack, data_root)
        weights = {v: pack.weights_sha256(v) for v in pack.models}
        return Plan(pack, x.reshape(1, *x.shape[-3:]), None, [], weights, label, pages[slide.page])
    where = f"slide {number}"
    pack = _pack(slide, packs, device)
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
