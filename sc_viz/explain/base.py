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


# Where a budget is spent: `sc-viz explain` and Python (the method's own keyword default),
# the app's Saliency grid (packs up to SMALL_INPUT_MAX px; above it, "interactive_large"),
# the evaluation suites, and the randomisation cascades (the Sanity page and eval suite).
CONTEXTS = ("explain", "interactive", "interactive_large", "evaluation", "sanity")
SMALL_INPUT_MAX = 64  # CIFAR-size packs: up to this side


@dataclass(frozen=True)
class Budget:
    """A method's one cost knob: its keyword `option` ("n_steps"), more of which is slower
    and smoother, with its default in each of CONTEXTS and the app's slider ranges. The
    app's widget and URL names and the CLI flag come from `key` ("ig_steps": the Saliency
    slider `ig_steps`, URL `ig`, `--ig-steps`; the Sanity page's `san_ig_steps`, URL `sig`)."""

    option: str
    key: str
    url: str
    title: str  # the slider's label ("IG steps")
    help: str  # what one unit is, for a flag's help ("Integrated Gradients steps")
    defaults: dict[str, int]  # context -> value; every one of CONTEXTS
    slider: tuple[int, int, int]  # the Saliency page's (low, high, step)
    sanity_slider: tuple[int, int, int]  # the Sanity page's

    def __post_init__(self) -> None:
        missing = set(CONTEXTS) - set(self.defaults)
        if missing:
            raise ValueError(f"budget {self.key}: no default for {', '.join(sorted(missing))}")

    def default(self, context: str, input_size: int | None = None) -> int:
        """The value in `context`; the interactive one by the pack's input size (None: none)."""
        if context == "interactive" and input_size is not None and input_size > SMALL_INPUT_MAX:
            context = "interactive_large"
        return self.defaults[context]


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
    budget: Budget | None = None  # the cost knob, if the method has one
    cheap: bool = True  # False: too slow to be offered by default where maps are made in bulk
    # Which of the explanation settings' common options the method takes ("seed", "precision")
    settings_options: tuple[str, ...] = ()

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


def budgeted() -> dict[str, Budget]:
    """method -> its Budget, for the registered methods that have one (registry order)."""
    return {m: METHODS[m].budget for m in METHODS.names() if METHODS[m].budget is not None}


def budget_flag(budget: Budget) -> str:
    """The command-line flag of a budget: "--ig-steps"."""
    return "--" + budget.key.replace("_", "-")


def budget_options(method: str, context: str, input_size: int | None = None) -> dict:
    """The method's budget option in `context` ({} without a budget, or where the context's
    value is the method's own default: a report records only what differs)."""
    b = METHODS[method].budget
    if b is None or b.default(context, input_size) == b.defaults["explain"]:
        return {}
    return {b.option: b.default(context, input_size)}
