"""ROAD: RemOve And Debias (Rong et al., "A Consistent and Efficient Evaluation Strategy
for Attribution Methods", ICML 2022).

The most (MoRF) or least (LeRF) relevant pixels by a map are removed, a share at a time,
and filled by noisy linear imputation: every removed pixel becomes the weighted mean of its
8 neighbours (weight 1/6 for the 4 direct ones, 1/12 for the diagonals; a neighbour that is
itself removed is an unknown of the same sparse linear system), plus Gaussian noise. Unlike
a constant fill, the filled region carries no outline of the mask for the model to read.
The curve is the model's softmax probability of the target class after each step (and
whether the class is still the top-1 one, the ROAD paper's accuracy). A faithful map drops
the MoRF curve fast and keeps the LeRF curve high: the area gap LeRF - MoRF is large.

Our reading (settings): imputation in pixel space ([0, 1], before the model's own
normalisation; the ROAD code imputes normalised tensors, which for linear imputation
differs only in the noise scale); noise std 0.01 (`noise`, the ROAD and quantus default);
pixels ranked by the signed map value (`absolute=False`, as quantus); the removed count at
fraction f is floor(f * H * W) (as quantus); areas by the trapezoid rule over the
fractions, divided by their span (so an area is a mean probability).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from sc_viz.explain.base import as_batch, check_target, model_device, using_model

DEFAULT_FRACTIONS = tuple(round(0.1 * k, 1) for k in range(10))  # 0.0, 0.1, ..., 0.9
DEFAULT_NOISE = 0.01
ORDERS = ("morf", "lerf")
ORDER_TITLES = {"morf": "MoRF (most relevant removed first)", "lerf": "LeRF (least relevant removed first)"}

# (row offset, column offset, weight): the 8-neighbourhood of the ROAD paper
NEIGHBOURS = (
    (-1, 0, 1 / 6),
    (1, 0, 1 / 6),
    (0, -1, 1 / 6),
    (0, 1, 1 / 6),
    (-1, -1, 1 / 12),
    (-1, 1, 1 / 12),
    (1, -1, 1 / 12),
    (1, 1, 1 / 12),
)


@functools.lru_cache(maxsize=8)
def _neighbourhood(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of an (h, w) grid, its neighbours in NEIGHBOURS order: pixel ids (HW, 8),
    -1 outside the image, and their weights (HW, 8), 0 outside. Built once per size."""
    rows, cols = np.divmod(np.arange(h * w), w)
    ids = np.full((h * w, len(NEIGHBOURS)), -1)
    weights = np.zeros((h * w, len(NEIGHBOURS)))
    for j, (dr, dc, weight) in enumerate(NEIGHBOURS):
        r, q = rows + dr, cols + dc
        inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
        ids[inside, j] = r[inside] * w + q[inside]
        weights[inside, j] = weight
    ids.flags.writeable = weights.flags.writeable = False  # shared by every call
    return ids, weights


def linear_imputation(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """image (C, H, W), removed bool (H, W) -> image with every removed pixel solved as the
    weighted mean of its in-image neighbours (known ones as constants). At least one pixel
    must be kept (else nothing anchors the system)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    c, h, w = image.shape
    flat = image.reshape(c, h * w).astype(np.float64)  # (C, HW)
    gone = np.flatnonzero(removed.ravel())  # (k,) pixel ids
    if len(gone) == 0:
        return image.copy()
    if len(gone) == h * w:
        raise ValueError("linear imputation needs at least one kept pixel")
    k = len(gone)
    unknown = np.full(h * w + 1, -1)  # pixel id -> its unknown's index; [-1]: outside
    unknown[gone] = np.arange(k)
    ids, weights = _neighbourhood(h, w)
    nb, nw = ids[gone], weights[gone]  # (k, 8): each unknown's neighbours and weights
    nb_unknown = unknown[nb]  # (k, 8): the neighbour's unknown index, -1 if known/outside
    is_unknown = nb_unknown >= 0
    known = (nb >= 0) & ~is_unknown
    # known neighbours are constants: rhs = sum of weight * value, added in NEIGHBOURS order
    contrib = np.where(known[None], nw[None] * flat[:, nb], 0.0)  # (C, k, 8)
    rhs = np.zeros((c, k))
    for j in range(len(NEIGHBOURS)):
        rhs += contrib[:, :, j]
    diag = np.zeros(k)
    for j in range(len(NEIGHBOURS)):
        diag += nw[:, j]  # the same sum order as one neighbour at a time
    rows_i = np.broadcast_to(np.arange(k)[:, None], nb.shape)
    ii = np.concatenate([rows_i[is_unknown], np.arange(k)])
    jj = np.concatenate([nb_unknown[is_unknown], np.arange(k)])
    vv = np.concatenate([-nw[is_unknown], diag])
    system = coo_matrix((vv, (ii, jj)), shape=(k, k)).tocsc()
    solved = spsolve(system, rhs.T)  # (k, C) or (k,) when C == 1
    out = flat.copy()
    out[:, gone] = np.asarray(solved).reshape(k, c).T
    return out.reshape(c, h, w)


def noisy_linear_imputation(
    image: np.ndarray,
    removed: np.ndarray,
    noise: float = DEFAULT_NOISE,
    rng: Optional[np.random.Generator] = None,
) -> np.ndarray:
    """`linear_imputation` plus N(0, noise^2) on the imputed pixels (every channel)."""
    out = linear_imputation(image, removed)
    if noise > 0 and removed.any():
        rng = rng if rng is not None else np.random.default_rng()
        out[:, removed] += noise * rng.standard_normal((image.shape[0], int(removed.sum())))
    return out


def removal_order(heat: torch.Tensor, order: str, absolute: bool = False) -> np.ndarray:
    """Pixel ids (HW,) in removal order: MoRF highest value first, LeRF lowest first
    (stable for ties)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    a = torch.as_tensor(heat).detach().double().cpu().numpy().ravel()
    a = np.abs(a) if absolute else a
    return np.argsort(-a if order == "morf" else a, kind="stable")


def removed_count(fraction: float, pixels: int) -> int:
    return int(fraction * pixels + 1e-9)  # floor, guarded against 0.3 * 10 = 2.9999...


def road_images(
    x: torch.Tensor,
    heat: torch.Tensor,
    order: str,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    noise: float = DEFAULT_NOISE,
    seed: int = 0,
    absolute: bool = False,
) -> torch.Tensor:
    """x (1, 3, H, W) or (3, H, W) in [0, 1] -> (F, 3, H, W): x with the first
    floor(f * HW) pixels of the removal order imputed, one image per fraction f."""
    x = as_batch(x)  # (1, 3, H, W)
    _, _, h, w = x.shape
    if tuple(torch.as_tensor(heat).shape) != (h, w):
        raise ValueError(f"map {tuple(torch.as_tensor(heat).shape)} does not match the image {(h, w)}")
    for f in fractions:
        if not 0 <= f < 1:
            raise ValueError(f"fractions must lie in [0, 1), got {f}")
    ranked = removal_order(heat, order, absolute)
    image = x[0].cpu().double().numpy()  # (3, H, W)
    rng = np.random.default_rng(seed)
    out = []
    for f in fractions:
        removed = np.zeros(h * w, dtype=bool)
        removed[ranked[: removed_count(f, h * w)]] = True
        out.append(noisy_linear_imputation(image, removed.reshape(h, w), noise, rng))
    return torch.from_numpy(np.stack(out)).float()  # (F, 3, H, W)


def area(fractions: Sequence[float], values: Sequence[float]) -> float:
    """Trapezoid area under values over fractions, divided by the fractions' span."""
    f, v = np.asarray(fractions, dtype=float), np.asarray(values, dtype=float)
    if len(f) < 2:
        return float(v.mean())
    return float(np.sum((v[1:] + v[:-1]) / 2 * np.diff(f)) / (f[-1] - f[0]))


def road_curves(
    model: nn.Module,
    x: torch.Tensor,
    heat: torch.Tensor,
    target: int,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    noise: float = DEFAULT_NOISE,
    seed: int = 0,
    absolute: bool = False,
    batch_size: int = 64,
) -> dict:
    """The ROAD curves of one map: {fractions, morf, lerf (probability of `target` per
    fraction), morf_top1, lerf_top1 (1 while `target` is still the top class), morf_area,
    lerf_area, gap (= lerf_area - morf_area; larger = more faithful)}."""
    settings = dict(fractions=fractions, noise=noise, seed=seed, absolute=absolute, batch_size=batch_size)
    return road_curves_of_maps(model, x, {"map": heat}, target, **settings)["map"]


@torch.no_grad()
def road_curves_of_maps(
    model: nn.Module,
    x: torch.Tensor,
    heats: dict[str, torch.Tensor],
    target: int,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    noise: float = DEFAULT_NOISE,
    seed: int = 0,
    absolute: bool = False,
    batch_size: int = 64,
) -> dict[str, dict]:
    """`road_curves` of several maps of one image on one model (name -> map (H, W), e.g.
    one per method), each with the same noise seeds as alone; the model's passes are
    shared: x once, the edited images of all maps in common batches."""
    x = as_batch(x)  # (1, 3, H, W)
    device = model_device(model)
    n, pixels = len(fractions), x.shape[-2] * x.shape[-1]
    names = list(heats)
    images = torch.cat(
        [
            road_images(x, heats[k], o, fractions=fractions, noise=noise, seed=seed + i, absolute=absolute)
            for k in names
            for i, o in enumerate(ORDERS)
        ]
    ).to(device)  # (maps * 2F, 3, H, W)
    # an image with nothing removed is x itself (no noise either): x's own pass serves it
    edited = [i for i in range(len(images)) if removed_count(fractions[i % n], pixels) > 0]
    with using_model(model):
        own = model(x.to(device)).float().softmax(dim=1).cpu()  # (1, C)
        target = check_target(target, own.shape[1])
        probs = own.expand(len(images), -1).clone()  # (maps * 2F, C)
        for i in range(0, len(edited), batch_size):
            rows = edited[i : i + batch_size]
            probs[rows] = model(images[rows]).float().softmax(dim=1).cpu()
    out: dict = {}
    for j, k in enumerate(names):
        curves: dict = {"fractions": [float(f) for f in fractions]}
        for i, o in enumerate(ORDERS):
            start = (2 * j + i) * n
            p = probs[start : start + n]  # (F, C)
            curves[o] = p[:, target].tolist()
            curves[f"{o}_top1"] = (p.argmax(dim=1) == target).int().tolist()
            curves[f"{o}_area"] = area(fractions, curves[o])
        curves["gap"] = curves["lerf_area"] - curves["morf_area"]
        out[k] = curves
    return out


def road_many(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    maps: dict[str, torch.Tensor],
    targets: dict[str, int],
    **settings,
) -> dict[str, dict]:
    """`road_curves` of every variant's map (variant -> map (H, W)); `settings` as there."""
    return {v: road_curves(model, x, maps[v], targets[v], **settings) for v, model in models.items()}
