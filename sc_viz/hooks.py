"""The one place that registers hooks: every hooked pass in sc_viz (Grad-CAM's grid
probe, neuron sensitivity, layer shapes, the sanity checks' call order, transfer's
features, the BatchNorm probe) goes through `hooked`, which removes its hooks on exit,
also on an error or Ctrl-C. The app shares one model between sessions, so a hook left
behind would change every later pass. tests/test_hooks.py checks that no other module
registers one. (Captum's own hooks, e.g. LayerGradCam's, are captum's to remove.)"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch.nn as nn

KINDS = ("forward", "forward_pre")

# (module, kind, fn): "forward" calls fn(module, inputs, output) after the module runs (a
# return value other than None replaces its output); "forward_pre" calls fn(module, inputs)
# before it runs.
Hook = tuple[nn.Module, str, Callable]


@contextmanager
def hooked(hooks: Iterable[Hook]) -> Iterator[None]:
    """Register `hooks` for the block's length; all removed on exit, whatever happens."""
    handles = []
    try:
        for module, kind, fn in hooks:
            if kind == "forward":
                handles.append(module.register_forward_hook(fn))
            elif kind == "forward_pre":
                handles.append(module.register_forward_pre_hook(fn))
            else:
                raise ValueError(f"hook kind must be one of {', '.join(KINDS)}, got {kind!r}")
        yield
    finally:
        for handle in reversed(handles):
            handle.remove()
