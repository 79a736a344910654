"""The one guarded path by which the app, the explanation engine and the evaluation run a
shared model: `using_model(model)`.

Why a guard at all. The app serves several users from one cached model per variant (and
per process), so several threads may run the same model at once. Forward and input-gradient
passes share nothing mutable as long as nobody changes the model: parameters are only read
(gradients are taken w.r.t. the input, never accumulated into `.grad`), and a pack's models
are already in eval mode. What *is* shared is forward hooks: captum's LayerGradCam (and the
neuron-sensitivity probes) register a hook on a module for the duration of a call, and that
hook records the activation of *every* pass through the module, another thread's included,
so one user's Grad-CAM could read another user's image or fail with "the differentiated
Tensor appears to not have been used in the graph". So each model has a reader/writer
lock: hook-free passes share it, hook-using ones (and a model that must leave training
mode) take it exclusively, and hooks added inside an exclusive block are removed on exit
even when the body raises.

A lock rather than a per-user copy of the model: benchmarks/model_run.py runs a mixed
workload (Grad-CAM, the DS strip, PGD) both ways; on the demo pack and this 2-core CPU the
copy was no faster (copy/lock 1.07x in one run, identical results), and a copy costs a deep
copy per request and a model's memory per concurrent user, which grows with the model.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn


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


_LOCKS: weakref.WeakKeyDictionary[nn.Module, _SharedExclusiveLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> _SharedExclusiveLock:
    """The one lock of `model` (created on first use, dropped with the model)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = _SharedExclusiveLock()
        return lock


def _hook_counts(model: nn.Module) -> dict[int, tuple[int, int, int]]:
    return {
        id(m): (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
        for m in model.modules()
    }


def _remove_new_hooks(model: nn.Module, before: dict[int, tuple[int, int, int]]) -> None:
    """Drop hooks added since `before` (captum removes its own in a finally; this is the
    backstop for a library that does not)."""
    for m in model.modules():
        n_fwd, n_pre, n_bwd = before.get(id(m), (0, 0, 0))
        for hooks, keep in (
            (m._forward_hooks, n_fwd),
            (m._forward_pre_hooks, n_pre),
            (m._backward_hooks, n_bwd),
        ):
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
    with lock.exclusive() if exclusive or was_training else lock.shared():
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
