"""The common pipeline every explanation method runs through.

`Method` subclasses only turn (model, x, target) into a map; this module owns the rest:
input checks, device, eval mode, target resolution, and leaving the model as it was.

Thread safety. The app serves several users from one cached model per variant, so
several threads may explain with the same model at once. Nothing here toggles
`requires_grad` (captum takes gradients w.r.t. the input only, so parameters are never
touched) and models from a pack are already in eval mode. What remains shared is
forward hooks: captum's LayerGradCam registers a forward hook on the model's layer for
the duration of its call, and that hook records the activation of *every* forward pass
through the module - including another thread's - into the call's buffer. So each
model has a reader/writer lock: hook-free methods share it, hook-using methods (and a
model that has to be switched out of training mode) take it exclusively.
"""
from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
import torch.nn as nn

from ..registry import Registry


@dataclass
class Explanation:
    method: str
    target: int
    map: torch.Tensor  # (H, W) float32 on CPU; signed where the method is signed
    extras: dict[str, Any] = field(default_factory=dict)
    signed: bool = False  # whether negative values mean something (IG, LIME)


class _SharedExclusiveLock:
    """Many shared holders or one exclusive holder (writer-preferring, re-entrant for
    nothing: do not nest acquisitions of the same model's lock)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


_LOCKS: "weakref.WeakKeyDictionary[nn.Module, _SharedExclusiveLock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> _SharedExclusiveLock:
    """The one lock of `model` (created on first use, dropped with the model)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = _SharedExclusiveLock()
        return lock


def _hook_counts(model: nn.Module) -> dict[int, tuple[int, int, int]]:
    return {id(m): (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
            for m in model.modules()}


def _remove_new_hooks(model: nn.Module, before: dict[int, tuple[int, int, int]]) -> None:
    """Drop hooks added since `before` (captum removes its own in a finally; this is the
    backstop for a library that does not)."""
    for m in model.modules():
        n_fwd, n_pre, n_bwd = before.get(id(m), (0, 0, 0))
        for hooks, keep in ((m._forward_hooks, n_fwd), (m._forward_pre_hooks, n_pre),
                            (m._backward_hooks, n_bwd)):
            for key in list(hooks.keys())[keep:]:
                del hooks[key]


@contextmanager
def using_model(model: nn.Module, *, exclusive: bool = False) -> Iterator[nn.Module]:
    """Run `model` in eval mode and leave it exactly as found (mode, hooks), even when
    the body raises. Exclusive when asked, or when the model must leave training mode
    (switching modes is a shared-state change). Other code that runs forward passes on a
    model concurrently with explanations should wrap them in `using_model(model)` too."""
    lock = model_lock(model)
    was_training = model.training
    with (lock.exclusive() if exclusive or was_training else lock.shared()):
        before = _hook_counts(model) if exclusive else None
        if was_training:
            model.eval()
        try:
            yield model
        finally:
            if before is not None:
                _remove_new_hooks(model, before)
            if was_training:
                model.train(True)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's parameters (never a global default)."""
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def as_batch(x: torch.Tensor) -> torch.Tensor:
    """(3, H, W) or (1, 3, H, W) float in [0, 1] -> (1, 3, H, W) float32; ValueError else."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"x must be (3, H, W) or (1, 3, H, W) RGB, got shape {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        raise ValueError(f"x must be float in [0, 1], got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or infinite values")
    if x.min() < -1e-4 or x.max() > 1 + 1e-4:
        raise ValueError(f"x must lie in [0, 1], got [{x.min():.3g}, {x.max():.3g}]")
    return x.detach().float().clamp(0.0, 1.0)  # (1, 3, H, W)


def check_target(target: Any, num_classes: int) -> int:
    if isinstance(target, torch.Tensor):
        target = target.item()
    if isinstance(target, bool) or not isinstance(target, int) and not hasattr(target, "__index__"):
        raise ValueError(f"target must be a class index, got {target!r}")
    target = int(target)
    if not 0 <= target < num_classes:
        raise ValueError(f"target {target} is outside the model's {num_classes} classes")
    return target


class Method:
    """One attribution method. Subclasses set the class attributes and `attribute`."""

    name: str = ""
    signed: bool = False  # map values can be negative and the sign means something
    uses_hooks: bool = False  # registers hooks on the model -> exclusive model lock
    cost_rank: int = 0  # order of the progressive grid: cheap methods first
    shares_work: bool = False  # explain_many does one job for all variants (LIME)
    description: str = ""

    def attribute(self, model: nn.Module, x: torch.Tensor, target: int, **options
                  ) -> tuple[torch.Tensor, dict]:
        """x (1, 3, H, W) on the model's device -> (map (H, W), extras)."""
        raise NotImplementedError

    def explain(self, model: nn.Module, x: torch.Tensor, target: int, **options) -> Explanation:
        x = as_batch(x).to(model_device(model))  # (1, 3, H, W)
        with using_model(model, exclusive=self.uses_hooks):
            with torch.no_grad():
                num_classes = model(x).shape[1]
            target = check_target(target, num_classes)
            with torch.enable_grad():
                heat, extras = self.attribute(model, x, target, **options)
        heat = heat.detach().float().cpu()
        assert heat.shape == x.shape[-2:], (self.name, heat.shape)
        return Explanation(self.name, target, heat, extras, self.signed)

    def explain_many(self, models: dict[str, nn.Module], x: torch.Tensor,
                     targets: dict[str, int], **options) -> dict[str, Explanation]:
        """Every variant on the same image; methods that can share work override this."""
        return {v: self.explain(m, x, targets[v], **options) for v, m in models.items()}


METHODS: Registry[Method] = Registry("explanation method")


def explain(model: nn.Module, x: torch.Tensor, *, method: str, target: int, **options
            ) -> Explanation:
    """Explain `model`'s logit for class `target` on x ((3, H, W) or (1, 3, H, W) in [0, 1]).
    Options are the method's keyword arguments (e.g. n_steps for "ig")."""
    return METHODS[method].explain(model, x, target, **options)
