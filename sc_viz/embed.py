"""Semantic discontinuity evidence (paper Sec. 3.2, Fig. 1-2).

For an image x: its four photometric perturbations at one Table-1 level and M other
images of its class; each variant's logits f(.) for all of them; the distance score
DS = ||f(x) - f(.)||_2 of every point to x; the "continuity violations" (for each
perturbation, how many same-class images are closer to x than x's own perturbed copy);
and 2-D projections (PCA, t-SNE, UMAP; seeded), per variant or joint (one fit on every
variant's logits, so all plots share axes - logits share their axes, one per class).

Point order everywhere: row 0 = x, rows 1..P = the perturbations, then the same-class set.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
import torch.nn as nn

from sc_viz.losses import distance_score
from sc_viz.model_run import model_device, using_model
from sc_viz.perturb import LEVELS, photometric
from sc_viz.registry import Registry

X_KIND, SAME_CLASS_KIND = "x", "same_class"


@dataclass
class EmbeddingPoints:
    images: torch.Tensor  # (N, 3, H, W) in [0, 1]
    kinds: list[str]  # "x", a perturbation name, or "same_class"
    indices: list[int]  # data-set index of each point (-1 when unknown or synthetic)


def build_points(
    x: torch.Tensor,
    same_class_images: torch.Tensor,
    *,
    level: int = 1,
    perturbations: Sequence[str] = tuple(LEVELS),
    x_index: int = -1,
    same_class_indices: Optional[Sequence[int]] = None,
) -> EmbeddingPoints:
    """x (3, H, W), same-class images (M, 3, H, W) -> the N = 1 + P + M points."""
    x = x[None] if x.dim() == 3 else x  # (1, 3, H, W)
    perturbed = [photometric(x, name, level) for name in perturbations]  # P x (1, 3, H, W)
    images = torch.cat([x, *perturbed, same_class_images.to(x)])  # (N, 3, H, W)
    m = len(same_class_images)
    idx = list(same_class_indices) if same_class_indices is not None else [-1] * m
    if len(idx) != m:
        raise ValueError(f"{len(idx)} same-class indices for {m} images")
    return EmbeddingPoints(
        images,
        [X_KIND, *perturbations] + [SAME_CLASS_KIND] * m,
        [x_index] + [-1] * len(perturbations) + [int(i) for i in idx],
    )


def same_class_set(
    split: Any, label: int, *, count: int = 200, exclude: Optional[int] = None, seed: int = 0
) -> tuple[torch.Tensor, list[int]]:
    """A seeded random `count` of the split's images of class `label` (all if fewer),
    leaving out index `exclude` (x itself): (images (M, 3, H, W), their indices)."""
    pool = torch.nonzero(split.labels == int(label)).flatten()
    if exclude is not None:
        pool = pool[pool != int(exclude)]
    g = torch.Generator().manual_seed(seed)
    chosen = pool[torch.randperm(len(pool), generator=g)[:count]].sort().values
    if len(chosen) == 0:  # no other image of the class: an empty set of the right shape
        shape = split.get(0).shape if len(split) else (3, 1, 1)
        return torch.zeros(0, *shape), []
    return torch.stack([split.get(int(i)) for i in chosen]), chosen.tolist()


@torch.no_grad()
def logits_by_variant(
    models: dict[str, nn.Module], images: torch.Tensor, *, batch_size: int = 256
) -> dict[str, torch.Tensor]:
    """variant -> logits (N, C) on CPU, batched on each model's device."""
    out = {}
    for v, model in models.items():
        dev = model_device(model)
        with using_model(model):
            out[v] = torch.cat(
                [
                    model(images[i : i + batch_size].to(dev)).float().cpu()
                    for i in range(0, len(images), batch_size)
                ]
            )
    return out


def distances_to_x(logits: torch.Tensor) -> torch.Tensor:
    """DS of every point to point 0 (x): (N, C) -> (N,)."""
    return distance_score(logits[:1].expand_as(logits), logits)


def violations(logits: torch.Tensor, kinds: Sequence[str]) -> dict[str, int]:
    """For each perturbation p: #{same-class j : DS(x, j) < DS(x, T_p(x))} (strictly closer)."""
    ds = distances_to_x(logits)  # (N,)
    same = torch.tensor([k == SAME_CLASS_KIND for k in kinds])
    return {
        k: int((ds[same] < ds[i]).sum()) for i, k in enumerate(kinds) if k not in (X_KIND, SAME_CLASS_KIND)
    }


# ---------------------------------------------------------------- projections
@dataclass(frozen=True)
class Projection:
    make: Callable[..., Any]  # (seed, **options) -> an estimator with fit_transform
    min_points: Callable[[dict], int]  # options -> the fewest points it can project
    description: str


def _pca(seed: int, **opts):
    from sklearn.decomposition import PCA

    return PCA(n_components=2, svd_solver="full", random_state=seed, **opts)


def _tsne(seed: int, perplexity: float = 30.0, **opts):
    from sklearn.manifold import TSNE

    # n_jobs=1: no joblib worker pool (the app calls this inside its threaded server)
    opts = {"n_jobs": 1, **opts}
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, **opts)


def _umap(seed: int, n_neighbors: int = 15, min_dist: float = 0.1, **opts):
    import umap

    # a fixed random_state makes UMAP deterministic (it then runs single-threaded); n_jobs=1
    # says so, and no joblib pool is started inside the app's threaded server
    opts = {"n_jobs": 1, **opts}
    return umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed, **opts)


PROJECTIONS: Registry[Projection] = Registry("projection")
PROJECTIONS.add("pca", Projection(_pca, lambda o: 3, "PCA, linear, deterministic"))
PROJECTIONS.add(
    "tsne",
    Projection(_tsne, lambda o: int(o.get("perplexity", 30.0)) + 1, "t-SNE (scikit-learn), PCA init, seeded"),
)
PROJECTIONS.add(
    "umap", Projection(_umap, lambda o: int(o.get("n_neighbors", 15)) + 2, "UMAP (umap-learn), seeded")
)


def check_size(method: str, n_points: int, options: Optional[dict] = None) -> None:
    """ValueError, in words a user can act on, when there are too few points."""
    need = PROJECTIONS[method].min_points(options or {})
    if n_points < need:
        hint = {"tsne": " or lower perplexity", "umap": " or lower n_neighbors"}.get(method, "")
        raise ValueError(
            f"{method} needs at least {need} points, got {n_points}: take more same-class images{hint}"
        )


def project(
    points: torch.Tensor, *, method: str = "pca", seed: int = 0, options: Optional[dict] = None
) -> torch.Tensor:
    """(N, D) -> (N, 2), reproducible for a given seed."""
    options = dict(options or {})
    check_size(method, len(points), options)
    est = PROJECTIONS[method].make(seed, **options)
    with warnings.catch_warnings():  # UMAP warns that a seed makes it single-threaded
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        coords = est.fit_transform(np.asarray(points, dtype=np.float32))
    return torch.from_numpy(np.asarray(coords, dtype=np.float32))  # (N, 2)


def project_joint(
    logits: dict[str, torch.Tensor], *, method: str = "pca", seed: int = 0, options: Optional[dict] = None
) -> dict[str, torch.Tensor]:
    """One fit on every variant's points stacked: the same axes for every variant."""
    variants = list(logits)
    stacked = torch.cat([logits[v] for v in variants])  # (V * N, C)
    coords = project(stacked, method=method, seed=seed, options=options)
    return dict(zip(variants, coords.split([len(logits[v]) for v in variants])))


@dataclass
class Embedding:
    method: str
    joint: bool
    level: int
    kinds: list[str]
    indices: list[int]
    logits: dict[str, torch.Tensor]  # variant -> (N, C)
    distances: dict[str, torch.Tensor]  # variant -> DS to x, (N,)
    violations: dict[str, dict[str, int]]  # variant -> perturbation -> count
    coords: dict[str, torch.Tensor] = field(default_factory=dict)  # variant -> (N, 2)


def point_label(embedding: Embedding, row: int) -> str:
    """What point `row` is, in words for a hover: "x: test image #5", "brightness, level 2",
    "same class: test image #123" (never the internal kind names or index -1)."""
    kind, index = embedding.kinds[row], embedding.indices[row]
    if kind == X_KIND:
        return f"x: test image #{index}" if index >= 0 else "x: your image"
    if kind == SAME_CLASS_KIND:
        return f"same class: test image #{index}" if index >= 0 else "same-class image"
    return f"{kind}, level {embedding.level}"


def point_image(embedding: Embedding, row: int, x: torch.Tensor, split: Any = None) -> Optional[torch.Tensor]:
    """The image of point `row` (3, H, W), e.g. the thumbnail of a clicked point: x itself,
    x's perturbed copy, or the same-class image from `split` (the pack's test split); None
    for a same-class image without a known index or split."""
    kind, index = embedding.kinds[row], embedding.indices[row]
    x = x.reshape(-1, *x.shape[-3:])[0]  # (3, H, W)
    if kind == X_KIND:
        return x
    if kind == SAME_CLASS_KIND:
        return split.get(index) if split is not None and index >= 0 else None
    return photometric(x[None], kind, embedding.level)[0]


def embed(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    same_class_images: torch.Tensor,
    *,
    level: int = 1,
    method: str = "pca",
    joint: bool = False,
    seed: int = 0,
    options: Optional[dict] = None,
    x_index: int = -1,
    same_class_indices: Optional[Sequence[int]] = None,
) -> Embedding:
    """The whole embedding view for one image (see the module docstring)."""
    pts = build_points(
        x, same_class_images, level=level, x_index=x_index, same_class_indices=same_class_indices
    )
    # before any model runs; a joint fit projects every variant's points at once
    check_size(method, len(pts.kinds) * (len(models) if joint else 1), options)
    logits = logits_by_variant(models, pts.images)
    if joint:
        coords = project_joint(logits, method=method, seed=seed, options=options)
    else:
        coords = {v: project(z, method=method, seed=seed, options=options) for v, z in logits.items()}
    return Embedding(
        method,
        joint,
        level,
        pts.kinds,
        pts.indices,
        logits,
        {v: distances_to_x(z) for v, z in logits.items()},
        {v: violations(z, pts.kinds) for v, z in logits.items()},
        coords,
    )


def warm_up() -> float:
    """Pay UMAP's numba compilation (tens of seconds the first time in a process) and
    import t-SNE now; returns the seconds it took. The app calls this at start-up."""
    start = time.perf_counter()
    points = torch.from_numpy(np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32))
    project(points, method="umap", seed=0)
    project(points, method="tsne", seed=0, options={"perplexity": 5.0, "max_iter": 250})
    return time.perf_counter() - start
