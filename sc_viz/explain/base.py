"""The common pipeline every explanation method runs through.

`Method` subclasses only turn (model, x, target) into a map; this module owns the rest:
input checks, device, eval mode, target resolution, and leaving the model as it was.

Thread safety: every model pass goes through `sc_viz.model_run.using_model`; methods
that register hooks (`uses_hooks`) take the model exclusively.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from sc_viz.model_run import model_device, model_lock, using_model  # noqa: F401 (re-exported)
from sc_viz.registry import Registry


@dataclass
class Explanation:
    method: str
    target: int
    map: torch.Tensor  # (H, W) float32 on CPU; signed where the method is signed
    extras: dict[str, Any] = field(default_factory=dict)
    signed: bool = False  # whether negative values mean something (IG, LIME)


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
    title: str = ""  # the plain name the app and figures show ("Integrated Gradients")
    help: str = ""  # one line for a tooltip: what the map shows
    # The option that turns off a final ReLU of the map (Grad-CAM's "relu"), else None: the
    # sanity check uses it to tell why a map is all zero (sc_viz/explain/sanity.py).
    relu_option: str | None = None

    def attribute(
        self, model: nn.Module, x: torch.Tensor, target: int, **options
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

    def explain_many(
        self, models: dict[str, nn.Module], x: torch.Tensor, targets: dict[str, int], **options
    ) -> dict[str, Explanation]:
        """Every variant on the same image; methods that can share work override this."""
        return {v: self.explain(m, x, targets[v], **options) for v, m in models.items()}


METHODS: Registry[Method] = Registry("explanation method")


def explain(model: nn.Module, x: torch.Tensor, *, method: str, target: int, **options) -> Explanation:
    """Explain `model`'s logit for class `target` on x ((3, H, W) or (1, 3, H, W) in [0, 1]).
    Options are the method's keyword arguments (e.g. n_steps for "ig")."""
    return METHODS[method].explain(model, x, target, **options)
