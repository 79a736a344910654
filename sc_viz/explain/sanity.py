"""Model parameter randomisation (Adebayo et al., "Sanity Checks for Saliency Maps",
NeurIPS 2018): does a method's map depend on the model's learned weights at all?

The model's blocks are re-initialised from the logits down (`"cascading"`: step k has the
top k blocks random) or one at a time (`"independent"`: step k has only block k random),
always in a deep copy, never in the cached model. After each step every method explains
the same class on the same image, and its map is compared with the trained model's map by
Spearman rank correlation (of absolute values and signed), SSIM and HOG similarity.

Our reading (settings, not the paper's fixed choices):
- Blocks: the backbone's children in the order a forward pass calls them, a Sequential
  or ModuleList child opened one level (a ResNet stage becomes its residual blocks, a
  ViT's `blocks` its transformer blocks); children without parameters are skipped.
  `granularity="layer"` randomises one parameterised layer at a time instead, as quantus's
  MPRT does.
- Re-initialisation: each layer's own `reset_parameters()` (its default init; BatchNorm
  also resets its running statistics), seeded `seed + 1` before every layer as quantus
  does, so both give identical random weights; parameters owned by no such layer (a layer
  scale inside a block; outside every block, a ViT's class token: a last step
  "(loose parameters)") are redrawn from N(0, std of their trained values, or 0.02).
- Similarities: each map is first scaled by its largest |value| (quantus's
  normalise_by_max). Spearman on |map| and on the signed map; SSIM and HOG on |map|
  (in [0, 1]); HOG similarity = Pearson correlation of the two maps' HOG features
  (the paper's "HOG similarity").
- Flag: a method whose |map| Spearman after the whole cascade is still >= 0.5 (setting
  `flag_threshold`) barely depends on the weights and is flagged; below it, it passes.
- Cannot judge: where that similarity cannot be computed (a map that is constant, e.g. all
  zero, or not finite) the method is neither flagged nor passed: its verdict says after
  which step the map is flat (`verdict`). A Grad-CAM map is ReLU(weighted sum of the
  layer's channels); with random weights that sum can be negative at every pixel, and the
  map is then all zero. Where a flat map is exactly that (the method's map without its
  ReLU, `Method.relu_option`, is <= 0 everywhere), the verdict says so (`RELU_CAUSE`).

Speed (the maps are the same): each model's private copy is kept between calls
(`borrowed_twin`), and a randomised copy's map skips the work only an Explanation's extras
need (the target-check pass, IG's convergence delta).
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from sc_viz.explain.base import METHODS, as_batch, model_device, using_model
from sc_viz.hooks import hooked

ORDERS = ("cascading", "independent")
GRANULARITIES = ("block", "layer")
SIMILARITIES = ("spearman_abs", "spearman", "ssim", "hog")
SIMILARITY_TITLES = {
    "spearman_abs": "Spearman |map|",
    "spearman": "Spearman (signed)",
    "ssim": "SSIM",
    "hog": "HOG similarity",
}
ORIGINAL = "original"  # the name of step 0: the trained model
DEFAULT_FLAG_THRESHOLD = 0.5
FLAG_SIMILARITY = "spearman_abs"
PASSES, FLAGGED, CANNOT_JUDGE = "passes", "flagged", "cannot judge"  # the verdict's states
RELU_CAUSE = (
    "Grad-CAM keeps only the positive part (ReLU) of the weighted sum of the layer's "
    "channels; with these random weights that sum is negative at every pixel, so the map is "
    "all zero."
)

Progress = Optional[Callable[[int, int, str], None]]  # (done, total, what)


# ---------------------------------------------------------------- blocks
def _backbone(model: nn.Module) -> tuple[nn.Module, str]:
    """The module whose children are the blocks, and its dotted prefix in `model`."""
    net = getattr(model, "net", None)  # sc_viz Classifier: Normalize -> net
    return (net, "net.") if isinstance(net, nn.Module) else (model, "")


def _candidates(model: nn.Module) -> list[tuple[str, nn.Module]]:
    backbone, prefix = _backbone(model)
    out = []
    for name, child in backbone.named_children():
        if isinstance(child, (nn.Sequential, nn.ModuleList)):
            out += [(f"{prefix}{name}.{sub}", m) for sub, m in child.named_children()]
        else:
            out.append((f"{prefix}{name}", child))
    return [(n, m) for n, m in out if any(True for _ in m.parameters())]


def _forward_order(model: nn.Module, blocks: list[tuple[str, nn.Module]], x: torch.Tensor) -> list[str]:
    """Names of `blocks` in the order a forward pass of x first calls them (hooks on the
    caller's private copy, removed also on error)."""
    called: list[str] = []

    def note(name):
        return lambda _m, _inp: called.append(name) if name not in called else None

    with hooked((module, "forward_pre", note(name)) for name, module in blocks), torch.no_grad():
        model(x)
    return called


def _blocks_of(twin: nn.Module, x: torch.Tensor, granularity: str) -> list[tuple[str, list[str]]]:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    x = as_batch(x).to(model_device(twin))  # (1, 3, H, W)
    if granularity == "layer":
        layers = [(n, m) for n, m in twin.named_modules() if hasattr(m, "reset_parameters")]
        return [(n, [n]) for n in reversed(_forward_order(twin, layers, x))]
    blocks = _candidates(twin)
    modules = dict(blocks)
    out = []
    for name in reversed(_forward_order(twin, blocks, x)):
        block = modules[name]
        inner = [
            f"{name}.{n}" if n else name for n, m in block.named_modules() if hasattr(m, "reset_parameters")
        ][::-1]  # within a block, top layer first too
        covered = {id(p) for n in inner for p in twin.get_submodule(n).parameters()}
        # parameters of the block that no layer of it resets (a layer scale): redrawn too
        inner += [f"{name}.{n}" for n, p in block.named_parameters() if id(p) not in covered]
        out.append((name, inner))
    params = dict(twin.named_parameters())
    done = {id(params[n]) if n in params else None for _, names in out for n in names}
    done |= {
        id(p)
        for _, names in out
        for n in names
        if n not in params
        for p in twin.get_submodule(n).parameters()
    }
    loose = [n for n, p in params.items() if id(p) not in done]
    if loose:  # parameters outside every block (class token, position embedding): input end
        out.append(("(loose parameters)", loose))
    return out


def randomisation_blocks(
    model: nn.Module, x: torch.Tensor, granularity: str = "block"
) -> list[tuple[str, list[str]]]:
    """[(block name, [names of the parameterised modules it re-initialises])], from the
    logits down. x (1, 3, H, W) fixes the forward order (found on a private copy)."""
    return RandomisedTwin(model, x, granularity).blocks


def private_copy(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode, taken under the model's shared lock (so no other thread's
    Grad-CAM hook is copied along); the cached model is never changed."""
    with using_model(model):
        twin = copy.deepcopy(model)
    return twin.eval()


def _seed_generator(device: torch.device, seed: int) -> None:
    """Seed the global generator that draws on `device`. On the CPU only the CPU one: the
    same draws as torch.manual_seed (which quantus calls), without its lazy seeding of
    every accelerator (a stack trace per call: most of the cost of a reset at 32 px)."""
    if device.type == "cpu":
        torch.default_generator.manual_seed(seed)
    elif device.type == "cuda":
        torch.cuda.manual_seed(seed)  # the current device's, which the twin is on
    else:
        torch.manual_seed(seed)


@torch.no_grad()
def _reinitialise(model: nn.Module, names: list[str], seed: int) -> None:
    device = model_device(model)
    cuda = [device.index or 0] if device.type == "cuda" else []
    params = dict(model.named_parameters())
    for name in names:
        # reset_parameters draws from torch's global generator: seed it (quantus's rule:
        # seed + 1 before each layer) and restore it afterwards
        with torch.random.fork_rng(devices=cuda), torch.cuda.device(device) if cuda else nullcontext():
            _seed_generator(device, seed + 1)
            if name in params:  # a loose parameter
                p = params[name]
                spread = float(p.std()) if p.numel() > 1 else 0.0
                p.normal_(0.0, spread or 0.02)  # 0.02: a constant (e.g. all-zero) parameter
            else:
                model.get_submodule(name).reset_parameters()


class RandomisedTwin:
    """A private deep copy of `model` (taken once; the cached model is never touched) and
    its blocks. `steps()` re-randomises it from the trained weights, so one twin serves
    many images (a deep copy costs more than a map at 32 px). A block's random weights
    depend on the seed only, so they are drawn once and copied in on later runs."""

    def __init__(self, model: nn.Module, x: torch.Tensor, granularity: str = "block"):
        self.twin = private_copy(model)
        self.live = self.twin.state_dict()  # shares storage with the twin's tensors
        self.trained = {k: v.clone() for k, v in self.live.items()}
        self.blocks = _blocks_of(self.twin, x, granularity)
        self._random: dict[tuple[str, int], dict[str, torch.Tensor]] = {}

    @property
    def names(self) -> list[str]:
        return [b for b, _ in self.blocks]

    @torch.no_grad()
    def _randomise(self, block: str, modules: list[str], seed: int) -> None:
        drawn = self._random.get((block, seed))
        if drawn is None:
            _reinitialise(self.twin, modules, seed)
            keys = [k for k in self.live if any(k == m or k.startswith(m + ".") for m in modules)]
            self._random[(block, seed)] = {k: self.live[k].clone() for k in keys}
        else:
            for k, v in drawn.items():
                self.live[k].copy_(v)

    @torch.no_grad()
    def _restore(self) -> None:
        for k, v in self.trained.items():
            self.live[k].copy_(v)

    def steps(self, order: str = "cascading", seed: int = 0) -> Iterator[tuple[str, nn.Module]]:
        """Yield (block name, randomised twin) per step, from the logits down. Cascading:
        one more block random per step (use the twin before asking for the next step);
        independent: the trained weights are restored before each block."""
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        self._restore()
        for name, modules in self.blocks:
            if order == "independent":
                self._restore()
            self._randomise(name, modules, seed)
            yield name, self.twin


# ---------------------------------------------------------------- twins kept between calls
TWIN_POOL_BYTES = 2**30  # idle twins kept at most (their trained, live and random weights)
_pool: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> key -> [idle twins]
_pool_lock = threading.Lock()


def _versions(model: nn.Module) -> tuple[int, ...]:
    """The in-place write counters of the model's tensors: any change of its weights
    (an optimiser step, load_state_dict) bumps one."""
    return tuple(t._version for t in (*model.parameters(), *model.buffers()))


def _twin_bytes(twin: RandomisedTwin) -> int:
    tensors = [*twin.live.values(), *twin.trained.values()]
    tensors += [t for drawn in twin._random.values() for t in drawn.values()]
    return sum(t.numel() * t.element_size() for t in tensors)


@contextmanager
def borrowed_twin(model: nn.Module, x: torch.Tensor, granularity: str = "block") -> Iterator[RandomisedTwin]:
    """A `RandomisedTwin` of `model` lent to this caller alone: an idle one kept from an
    earlier call (the app's next method, variant or image) when the model's weights have not
    changed since, else a new one; kept afterwards while all idle twins fit TWIN_POOL_BYTES
    and the model lives. Saves the deep copy and the random draws per call."""
    key = (granularity, tuple(as_batch(x).shape[-2:]))
    versions = _versions(model)
    twin = None
    with _pool_lock:
        idle = _pool.setdefault(model, {}).setdefault(key, [])
        while idle and twin is None:
            kept, kept_versions = idle.pop()
            twin = kept if kept_versions == versions else None
    twin = twin or RandomisedTwin(model, x, granularity)
    try:
        yield twin
    finally:
        with _pool_lock:
            held = sum(_twin_bytes(t) for per_key in _pool.values() for ts in per_key.values() for t, _ in ts)
            if held + _twin_bytes(twin) <= TWIN_POOL_BYTES and model in _pool:
                _pool[model].setdefault(key, []).append((twin, versions))


# options that skip work a method does for its extras only: of a copy only the map is kept
MAP_ONLY_OPTIONS = {"ig": {"convergence_delta": False}}


def _explain_copies(
    method: str, copies: dict[str, nn.Module], x: torch.Tensor, targets: dict[str, int], options: dict
) -> dict[str, torch.Tensor]:
    """variant -> map (H, W) of `method` on each randomised copy. Methods that explain one
    model at a time skip `Method.explain`'s forward pass that checks the target (the targets
    were checked on the trained models, whose heads the copies share) and work for extras
    only (MAP_ONLY_OPTIONS). The map is what `Method.explain` returns."""
    m = METHODS[method]
    if m.shares_work:  # LIME: one set of samples for all variants
        return {v: e.map for v, e in m.explain_many(copies, x, targets, **options).items()}
    options = {**options, **MAP_ONLY_OPTIONS.get(method, {})}
    out = {}
    for v, twin in copies.items():
        xv = x.to(model_device(twin))
        with using_model(twin, exclusive=m.uses_hooks), torch.enable_grad():
            heat, _ = m.attribute(twin, xv, targets[v], **options)
        out[v] = heat.detach().float().cpu()
    return out


def is_flat(heat: torch.Tensor) -> bool:
    """A map no similarity can be computed with: |map| constant (e.g. all zero) or a value
    that is not finite."""
    a = torch.as_tensor(heat).detach().double()
    if not bool(torch.isfinite(a).all()):
        return True
    return a.numel() == 0 or float(a.abs().max() - a.abs().min()) == 0.0


def relu_zeroed(
    method: str, model: nn.Module, x: torch.Tensor, target: int, heat: torch.Tensor, options
) -> bool:
    """Whether `heat` (the model's map of `method`) is all zero because of the method's
    final ReLU: the same map without it (`Method.relu_option`) is <= 0 at every pixel and
    below 0 somewhere. False for a method without such an option or a map that is not all
    zero. One more map, only for a flat one."""
    m = METHODS[method]
    if not m.relu_option or bool(torch.as_tensor(heat).detach().abs().max() > 0):
        return False
    xv = as_batch(x).to(model_device(model))
    opts = {**options, **MAP_ONLY_OPTIONS.get(method, {}), m.relu_option: False}
    with using_model(model, exclusive=m.uses_hooks), torch.enable_grad():
        raw, _ = m.attribute(model, xv, int(target), **opts)
    return bool(raw.max() <= 0 and raw.min() < 0)


# ---------------------------------------------------------------- similarities
class MapFeatures:
    """What the similarities need of one map (H, W), computed once: the map scaled by its
    largest |value|, the ranks of it and of its absolute value, its HOG features."""

    def __init__(self, heat: torch.Tensor):
        from scipy.stats import rankdata

        a = torch.as_tensor(heat).detach().double().cpu().numpy()
        top = np.abs(a).max()
        self.signed = a / top if top > 0 else a
        self.absolute = np.abs(self.signed)  # in [0, 1]
        self.ranks = {
            "spearman": rankdata(self.signed.ravel()),
            "spearman_abs": rankdata(self.absolute.ravel()),
        }
        self._hog: Optional[np.ndarray] = None

    @property
    def hog(self) -> np.ndarray:
        if self._hog is None:
            self._hog = hog_features(self.absolute)
        return self._hog


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant (Spearman = Pearson of ranks)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    win = min(7, *a.shape)
    win = win if win % 2 else win - 1  # odd, no larger than the map
    return float(structural_similarity(a, b, data_range=1.0, win_size=max(win, 3)))


def hog_features(a: np.ndarray) -> np.ndarray:
    """HOG of a map in [0, 1]: 9 orientations, cells of side/8 px (>= 2), 2x2 blocks."""
    from skimage.feature import hog

    cell = max(2, min(a.shape) // 8)
    return hog(a, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2), feature_vector=True)


def map_similarity(a, b, which=SIMILARITIES) -> dict[str, float]:
    """Similarity of two maps (H, W tensors, or their `MapFeatures`) by each measure in
    `which` (see the module docstring); NaN where a map is constant (a correlation is then
    undefined)."""
    unknown = set(which) - set(SIMILARITIES)
    if unknown:
        raise ValueError(f"unknown similarities {sorted(unknown)}; choose from {SIMILARITIES}")
    fa = a if isinstance(a, MapFeatures) else MapFeatures(a)
    fb = b if isinstance(b, MapFeatures) else MapFeatures(b)
    fns = {
        "spearman_abs": lambda: _pearson(fa.ranks["spearman_abs"], fb.ranks["spearman_abs"]),
        "spearman": lambda: _pearson(fa.ranks["spearman"], fb.ranks["spearman"]),
        "ssim": lambda: _ssim(fa.absolute, fb.absolute),
        "hog": lambda: _pearson(fa.hog, fb.hog),
    }
    return {k: fns[k]() for k in which}


# ---------------------------------------------------------------- the test
@dataclass
class RandomisationResult:
    """One image, several variants and methods, one order. Lists run over `steps`
    (step 0 is the trained model, whose similarity to itself is 1)."""

    order: str
    steps: list[str]  # [ORIGINAL, top block, ...]
    targets: dict[str, int]  # variant -> explained class
    # method -> variant -> similarity name -> [float per step]
    similarity: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    # method -> variant -> [map (H, W) per step]; only step 0 when keep_maps=False
    maps: dict[str, dict[str, list[torch.Tensor]]] = field(default_factory=dict)
    # method -> variant -> the trained model's Explanation (step 0)
    originals: dict[str, dict] = field(default_factory=dict)
    signed: dict[str, bool] = field(default_factory=dict)  # method -> signed maps
    # method -> variant -> [per step: the map is flat (`is_flat`)]
    flat: dict[str, dict[str, list[bool]]] = field(default_factory=dict)
    # method -> variant -> [per step: a flat map is all zero because of the method's ReLU]
    relu_zero: dict[str, dict[str, list[bool]]] = field(default_factory=dict)

    def final(self, method: str, variant: str, measure: str = FLAG_SIMILARITY) -> float:
        return self.similarity[method][variant][measure][-1]

    def verdict(
        self, method: str, variant: str, threshold: float = DEFAULT_FLAG_THRESHOLD
    ) -> Optional[Verdict]:
        """The cascade's verdict on the variant's `method` maps (None for the independent
        order, which has none): see `verdict`."""
        if self.order != "cascading":
            return None
        return verdict(
            self.final(method, variant),
            threshold,
            self.steps,
            self.flat.get(method, {}).get(variant),
            self.relu_zero.get(method, {}).get(variant),
        )

    def summary(self, threshold: float = DEFAULT_FLAG_THRESHOLD) -> dict:
        """JSON-ready: order, steps, targets, similarities and (cascading) the flags; no maps
        (an export bundle stores those as images)."""
        out = {
            "order": self.order,
            "steps": self.steps,
            "targets": self.targets,
            "similarity": {
                m: {
                    v: {s: [None if not np.isfinite(x) else float(x) for x in xs] for s, xs in per.items()}
                    for v, per in vs.items()
                }
                for m, vs in self.similarity.items()
            },
        }
        if self.flat:
            out["flat"] = self.flat
        if self.order == "cascading":
            verdicts = {
                m: {v: self.verdict(m, v, threshold) for v in vs} for m, vs in self.similarity.items()
            }
            out["flag_threshold"] = threshold
            # True / False, or None where the maps cannot be judged (never a pass)
            out["flagged"] = {
                m: {v: None if d.state == CANNOT_JUDGE else d.state == FLAGGED for v, d in vs.items()}
                for m, vs in verdicts.items()
            }
            out["verdict"] = {m: {v: d.text for v, d in vs.items()} for m, vs in verdicts.items()}
        return out


@dataclass(frozen=True)
class Verdict:
    """The cascade's verdict on one variant's maps of one method: `state` (PASSES, FLAGGED
    or CANNOT_JUDGE), `text` (the state in words; "cannot judge: the map is flat after step
    12 (conv1)"), `flat_step` (cannot judge: the step from which the map is flat to the end,
    0 for the trained model's own map; None where no flat map explains it), `cause`
    (RELU_CAUSE where the method's ReLU made it all zero, else "")."""

    state: str
    text: str
    flat_step: Optional[int] = None
    cause: str = ""


def _short(step: str) -> str:
    return step.removeprefix("net.")


def verdict(
    final: float,
    threshold: float,
    steps: list[str],
    flat: Optional[list[bool]] = None,
    relu_zero: Optional[list[bool]] = None,
) -> Verdict:
    """Flagged when the final |map| Spearman `final` is >= `threshold`, passes when below,
    and cannot judge when it is not a number (a flat map; `flat`/`relu_zero` per step, as
    `RandomisationResult` keeps them, say from which step and why)."""
    if final is not None and np.isfinite(final):
        return Verdict(FLAGGED, FLAGGED) if final >= threshold else Verdict(PASSES, PASSES)
    if not flat or not flat[-1]:
        return Verdict(CANNOT_JUDGE, f"{CANNOT_JUDGE}: the similarity is undefined after the whole cascade")
    if flat[0]:
        k, text = 0, f"{CANNOT_JUDGE}: the trained model's map is flat"
    else:
        k = len(flat)
        while k > 1 and flat[k - 1]:
            k -= 1
        text = f"{CANNOT_JUDGE}: the map is flat after step {k} ({_short(steps[k])})"
    cause = RELU_CAUSE if relu_zero and relu_zero[-1] and (k == 0 or all(relu_zero[k:])) else ""
    return Verdict(CANNOT_JUDGE, text, k, cause)


def randomisation_test(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    *,
    methods: list[str],
    targets: dict[str, int],
    order: str = "cascading",
    granularity: str = "block",
    seed: int = 0,
    options: Optional[dict[str, dict]] = None,
    similarities=SIMILARITIES,
    keep_maps: bool = True,
    originals: Optional[dict[str, dict]] = None,
    twins: Optional[dict[str, RandomisedTwin]] = None,
    progress: Progress = None,
) -> RandomisationResult:
    """Each method's map of x (3, H, W) for each variant's `targets` class, on the trained
    model and after each randomisation step; see the module docstring. All variants must
    share an architecture (the steps are compared side by side). `options`: keyword
    options per method, as `explain_grid` takes them. Explanations go through the method
    registry (`Method.explain_many`, so LIME shares its samples across variants).
    `originals` (method -> variant -> Explanation, e.g. an earlier result's) saves
    recomputing the trained model's maps; `twins` (variant -> RandomisedTwin, made with
    this granularity) are used as given, else each model's twin is borrowed from the pool
    (`borrowed_twin`)."""
    for m in methods:
        METHODS[m]
    options = options or {}
    x = as_batch(x)  # (1, 3, H, W)
    if twins is None:
        with ExitStack() as lent:
            twins = {
                v: lent.enter_context(borrowed_twin(model, x, granularity)) for v, model in models.items()
            }
            return randomisation_test(
                models,
                x,
                methods=methods,
                targets=targets,
                order=order,
                granularity=granularity,
                seed=seed,
                options=options,
                similarities=similarities,
                keep_maps=keep_maps,
                originals=originals,
                twins=twins,
                progress=progress,
            )
    steps = [ORIGINAL] + _shared_blocks(models, twins)
    tick = _ticker(progress, len(steps) * len(methods))
    result = RandomisationResult(order, steps, dict(targets), signed={m: METHODS[m].signed for m in methods})
    originals = dict(originals or {})
    reference = {}
    for m in methods:
        if m not in originals:
            originals[m] = METHODS[m].explain_many(models, x, targets, **options.get(m, {}))
        reference[m] = _record_trained(result, m, models, x, originals[m], options.get(m, {}), similarities)
        tick(f"{m}: {ORIGINAL}")
    streams = {v: twins[v].steps(order, seed) for v in models}
    for step in steps[1:]:
        copies = {v: next(stream)[1] for v, stream in streams.items()}  # (name, model)
        for m in methods:
            _record_step(result, m, copies, x, reference[m], options.get(m, {}), similarities, keep_maps)
            tick(f"{m}: {step}")
    return result


def _shared_blocks(models: dict[str, nn.Module], twins: dict[str, RandomisedTwin]) -> list[str]:
    """The randomisation steps' block names, the same for every variant (else ValueError)."""
    first = next(iter(models))
    for v in models:
        if twins[v].names != twins[first].names:
            raise ValueError(
                f"variant {v} has other blocks than {first}; "
                "test variants of different architectures one at a time"
            )
    return twins[first].names


def _ticker(progress: Progress, total: int) -> Callable[[str], None]:
    """A function that counts one more of `total` done and tells `progress` (if any)."""
    done = 0

    def tick(what: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total, what)

    return tick


def _record_trained(
    result: RandomisationResult,
    m: str,
    models: dict[str, nn.Module],
    x: torch.Tensor,
    explained: dict,
    options: dict,
    similarities,
) -> dict[str, MapFeatures]:
    """Step 0 of method `m` into `result`: the trained models' explanations (`explained`:
    variant -> Explanation), similarity 1, whether each map is flat (and why). Returns each
    variant's MapFeatures of it, what every later step is compared with."""
    result.originals[m] = explained
    reference = {v: MapFeatures(explained[v].map) for v in models}
    result.similarity[m] = {v: {s: [1.0] for s in similarities} for v in models}
    result.maps[m] = {v: [explained[v].map] for v in models}
    for v, model in models.items():
        flat, heat = is_flat(explained[v].map), explained[v].map
        result.flat.setdefault(m, {})[v] = [flat]
        result.relu_zero.setdefault(m, {})[v] = [
            flat and relu_zeroed(m, model, x, explained[v].target, heat, options)
        ]
    return reference


def _record_step(
    result: RandomisationResult,
    m: str,
    copies: dict[str, nn.Module],
    x: torch.Tensor,
    reference: dict[str, MapFeatures],
    options: dict,
    similarities,
    keep_maps: bool,
) -> None:
    """One randomisation step of method `m` into `result`: its map of each variant's
    randomised copy (`copies`), compared with the trained model's (`reference`)."""
    checked = {v: result.originals[m][v].target for v in copies}
    moved = _explain_copies(m, copies, x, checked, options)
    for v in copies:
        sims = map_similarity(reference[v], moved[v], similarities)
        for s, val in sims.items():
            result.similarity[m][v][s].append(val)
        flat = is_flat(moved[v])
        result.flat[m][v].append(flat)
        result.relu_zero[m][v].append(flat and relu_zeroed(m, copies[v], x, checked[v], moved[v], options))
        if keep_maps:
            result.maps[m][v].append(moved[v])


def flagged(final_similarity: float, threshold: float = DEFAULT_FLAG_THRESHOLD) -> bool:
    """Whether a map that still has this |map| Spearman to the trained model's map after the
    whole cascade 'barely changes'. NaN (a flat map) is not flagged, nor is it a pass: its
    `verdict` is CANNOT_JUDGE."""
    return bool(np.isfinite(final_similarity) and final_similarity >= threshold)
