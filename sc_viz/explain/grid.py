"""The variants x methods grid for one image, computed cheapest method first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn as nn

from sc_viz.explain.base import METHODS, Explanation, as_batch, model_device, using_model

Progress = Optional[Callable[[int, int, str], None]]


@dataclass
class Grid:
    variants: list[str]  # rows
    methods: list[str]  # columns, in the order the user chose them
    targets: dict[str, int]  # variant -> explained class
    predictions: dict[str, list[tuple[int, float]]]  # variant -> top-3 (class, probability)
    cells: dict[tuple[str, str], Explanation] = field(default_factory=dict)

    def __getitem__(self, key: tuple[str, str]) -> Explanation:
        return self.cells[key]


@torch.no_grad()
def predict_top(
    models: dict[str, nn.Module], x: torch.Tensor, k: int = 3
) -> dict[str, list[tuple[int, float]]]:
    """variant -> the k most probable (class index, softmax probability)."""
    x = as_batch(x)  # (1, 3, H, W)
    out = {}
    for v, model in models.items():
        with using_model(model):
            probs = model(x.to(model_device(model))).float().softmax(dim=1)[0].cpu()  # (C,)
        top = probs.topk(min(k, probs.numel()))
        out[v] = [(int(i), float(p)) for p, i in zip(top.values, top.indices)]
    return out


def chosen_order(methods: list[str]) -> list[str]:
    """The methods as the user listed them (duplicates dropped): the grid's column order."""
    for m in methods:
        METHODS[m]  # unknown names fail with the list of valid ones
    return list(dict.fromkeys(methods))


def ordered_methods(methods: list[str]) -> list[str]:
    """The methods cheapest first: the order they are computed in, never the order they are
    shown in (the grid's columns keep the user's order, `chosen_order`)."""
    return sorted(chosen_order(methods), key=lambda m: METHODS[m].cost_rank)


def method_units(variants: list[str], method: str) -> list[tuple[str, ...]]:
    """How one method's cells are computed: one variant at a time, so a page can show each
    as soon as it is done, or all variants in one job where the method shares its work
    (LIME's one sample set)."""
    if METHODS[method].shares_work:
        return [tuple(variants)]
    return [(v,) for v in variants]


def explain_unit(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    method: str,
    target: int | None = None,
    options: dict | None = None,
) -> dict[str, Explanation]:
    """One method's cells for the variants of one unit (`method_units`), exactly as
    `explain_grid` computes them: variant -> Explanation."""
    return {
        v: exp
        for v, _, exp in iter_grid(
            models, x, methods=[method], target=target, options={method: options or {}}
        )
    }


def resolve_targets(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    target: int | None,
    predictions: dict[str, list[tuple[int, float]]] | None = None,
) -> dict[str, int]:
    """target=None: each model's own top prediction; else the same class for all."""
    if target is not None:
        return {v: int(target) for v in models}
    predictions = predictions or predict_top(models, x, k=1)
    return {v: predictions[v][0][0] for v in models}


def _check(models, x, methods, options) -> tuple[torch.Tensor, list[str], dict[str, dict]]:
    if not models:
        raise ValueError("no models to explain")
    options = options or {}
    unknown = set(options) - set(METHODS.names())
    if unknown:
        raise ValueError(f"options for unknown methods: {', '.join(sorted(unknown))}")
    return as_batch(x), ordered_methods(methods), options


def iter_grid(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    *,
    methods: list[str],
    target: int | None = None,
    options: dict[str, dict] | None = None,
    progress: Progress = None,
) -> Iterator[tuple[str, str, Explanation]]:
    """Yield (variant, method, Explanation) cheapest method first (saliency, gradcam,
    smoothgrad, ig, lime), every variant of a method before the next method, so a page
    can draw cells as they arrive. LIME's variants come together (one shared sample set).
    `progress(done, total, label)` is called after each cell."""
    x, methods, options = _check(models, x, methods, options)
    yield from _cells(models, x, methods, resolve_targets(models, x, target), options, progress)


def _cells(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    methods: list[str],
    targets: dict[str, int],
    options: dict[str, dict],
    progress: Progress,
) -> Iterator[tuple[str, str, Explanation]]:
    total, done = len(models) * len(methods), 0
    for name in methods:
        method, opts = METHODS[name], dict(options.get(name, {}))
        if method.shares_work:  # one job for every variant (LIME's shared samples)
            results = method.explain_many(models, x, targets, **opts)
            cells = ((v, results[v]) for v in models)
        else:
            cells = ((v, method.explain(m, x, targets[v], **opts)) for v, m in models.items())
        for v, exp in cells:
            done += 1
            if progress:
                progress(done, total, f"{name} / {v}")
            yield v, name, exp


def explain_grid(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    *,
    methods: list[str],
    target: int | None = None,
    options: dict[str, dict] | None = None,
    progress: Progress = None,
) -> Grid:
    """Every method for every variant on one image (see `iter_grid`). Computed cheapest
    method first; the grid's `methods` (its columns) keep the order of `methods`."""
    x, compute_order, options = _check(models, x, methods, options)
    predictions = predict_top(models, x, k=3)
    grid = Grid(
        list(models), chosen_order(methods), resolve_targets(models, x, target, predictions), predictions
    )
    for v, m, exp in _cells(models, x, compute_order, grid.targets, options, progress):
        grid.cells[(v, m)] = exp
    return grid
