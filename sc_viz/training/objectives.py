"""The training objective as named terms (docs/related_methods.md): a variant is a list of
terms from OBJECTIVES plus the generator of its "adv" view (sc_viz.training.generators).

One training step: build the views the terms need, in a fixed order ("clean" x, "adv" x'
from the variant's generator, "photo" a random photometric T(x), "pseudo" GSCT's x_p); one
concatenated forward pass over them (hooks only where a term asks); then each term's value.
The loss is the sum of the unweighted terms plus, per weight (a setting's stored config key
such as `lam` or `sns_lambda`: TrainConfig.setting), weight * the sum of the terms it weights:
`loss = ce + lam * sc` for the paper's variants, as before the terms existed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F

from sc_viz.inside.sensitivity import (
    channel_sensitivity,
    recorded_features,
    sensitivity_layers,
    top_fraction_mean,
)
from sc_viz.losses import continuity_loss
from sc_viz.perturb import random_photometric
from sc_viz.precision import autocast
from sc_viz.registry import Registry
from sc_viz.training.generators import generate
from sc_viz.training.related import GSCT_SALIENCY_MODES
from sc_viz.variants import VARIANTS

VIEW_ORDER = ("clean", "adv", "photo", "pseudo")


@dataclass
class StepState:
    """What one step's terms read: the batch, each view's input and logits, the recorded
    layer features, and what is computed once per step for several terms (GSCT's target)."""

    x: torch.Tensor  # (B, 3, H, W) in [0, 1]
    y: torch.Tensor  # (B,)
    cfg: object  # TrainConfig
    raw_model: torch.nn.Module
    amp: Optional[torch.dtype]
    views: tuple = ()
    inputs: dict = field(default_factory=dict)  # view -> (B, 3, H, W)
    logits: dict = field(default_factory=dict)  # view -> (B, C), float
    features: dict = field(default_factory=dict)  # layer -> (V * B, C, h, w)
    shared: dict = field(default_factory=dict)
    progress: float = 0.0  # epochs done so far, fractional (for warm-ups)

    def view_part(self, t: torch.Tensor, view: str) -> torch.Tensor:
        """The rows of a (V * B, ...) tensor of the concatenated pass that belong to `view`."""
        return t.chunk(len(self.views))[self.views.index(view)]


@dataclass(frozen=True)
class ObjectiveTerm:
    compute: Callable[[StepState], torch.Tensor]  # -> scalar
    views: tuple  # views the term reads from the concatenated pass
    description: str
    # the stored config key of the setting that weights it ("lam", "sns_lambda"; the models
    # page reads the manifest's config by it); None: weight 1
    weight: Optional[str] = None
    needs_features: bool = False  # records the sensitivity layers' outputs in the pass


# ---------------------------------------------------------------- the terms
def _clean_ce(s: StepState) -> torch.Tensor:
    return F.cross_entropy(s.logits["clean"], s.y)


def _adv_ce(s: StepState) -> torch.Tensor:
    return F.cross_entropy(s.logits["adv"], s.y)


def _photometric_continuity(s: StepState) -> torch.Tensor:
    return continuity_loss(s.logits["clean"], s.logits["photo"])


def _adversarial_continuity(s: StepState) -> torch.Tensor:
    return continuity_loss(s.logits["clean"], s.logits["adv"])


def _sensitivity(s: StepState) -> torch.Tensor:
    """SNS *(our reading)*: sum over the hooked layers of the mean sigma of the layer's top
    `sns_top_fraction` channels (selection detached), sigma over the batch's (x, x') pairs."""
    total = torch.zeros((), device=s.x.device)
    for feats in s.features.values():
        sigma = channel_sensitivity(s.view_part(feats, "clean"), s.view_part(feats, "adv"))  # (C,)
        total = total + top_fraction_mean(sigma, s.cfg.sns.top_fraction)
    return total


class frozen_batchnorm_statistics:
    """Within the block, train-mode BatchNorm layers normalise with the batch's own
    statistics but leave their running statistics unchanged (momentum 0)."""

    def __init__(self, model: torch.nn.Module):
        self.layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]

    def __enter__(self):
        self.saved = [m.momentum for m in self.layers]
        for m in self.layers:
            m.momentum = 0.0
        return self

    def __exit__(self, *exc):
        for m, momentum in zip(self.layers, self.saved):
            m.momentum = momentum
        return False


def _full(t: torch.Tensor) -> torch.Tensor:
    """Autocast's half-precision results back to float32; float32/float64 kept as they are."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def input_saliency(x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """GSCT's saliency S = sum_channels |x * grad|, divided by its per-image max:
    (B, 3, H, W) x 2 -> (B, H * W)."""
    sal = (x * grad).abs().sum(dim=1).flatten(1)
    return sal / sal.detach().amax(dim=1, keepdim=True).clamp_min(1e-12)


def keep_top_fraction(maps: torch.Tensor, fraction: float) -> torch.Tensor:
    """Zero all but each row's top `fraction` of entries (at least one): (B, P) -> (B, P)."""
    k = max(1, int(round(fraction * maps.shape[1])))
    threshold = maps.topk(k, dim=1).values[:, -1:]
    return maps * (maps >= threshold)


def saliency_with_graph(
    raw_model, x: torch.Tensor, y: torch.Tensor, amp, create_graph: bool, mode: str = "eval"
) -> torch.Tensor:
    """S(x) from g(x) = grad_x CE(f(x), y): (B, 3, H, W) -> (B, H * W). With
    `create_graph` S keeps its graph (double backprop).

    mode "eval": the model as deployed (running BatchNorm statistics; exact per-sample
    gradients). mode "train": the training-mode network the CE terms train (the batch's
    BatchNorm statistics), with the running statistics left unchanged. GSCT's trained
    saliency takes "train" by default: through eval-mode BatchNorm the consensus term trains
    a network the CE terms do not (its gradient moves weight scales that train-mode
    BatchNorm normalises away), and eval mode's running statistics stop describing the
    model, which collapses (docs/related_methods.md#adv-gsct)."""
    if mode not in GSCT_SALIENCY_MODES:
        raise ValueError(f"saliency mode must be one of {GSCT_SALIENCY_MODES}, got {mode!r}")
    x = x.detach().requires_grad_(True)
    was_training = raw_model.training
    raw_model.train(mode == "train")
    try:
        with (
            frozen_batchnorm_statistics(raw_model),
            torch.enable_grad(),
            autocast(x.device, amp),
        ):
            loss = F.cross_entropy(_full(raw_model(x)), y)
        (grad,) = torch.autograd.grad(loss, x, create_graph=create_graph)  # (B, 3, H, W)
    finally:
        raw_model.train(was_training)
    return input_saliency(x.detach(), _full(grad))


def gsct_target(s: StepState) -> torch.Tensor:
    """GSCT's target T = S(x_o), its top `gsct_top_fraction` kept, detached: (B, H * W).
    Computed once per step and shared by the terms that need it."""
    if "target" not in s.shared:
        target = saliency_with_graph(s.raw_model, s.inputs["adv"], s.y, s.amp, create_graph=False)
        s.shared["target"] = keep_top_fraction(target.detach(), s.cfg.gsct.top_fraction)
    return s.shared["target"]


def pseudo_input(x: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """GSCT's pseudo-input x_p = M * x + (1 - M) * (the image's mean pixel) *(our reading)*:
    (B, 3, H, W), (B, 1, H, W) -> (B, 3, H, W)."""
    return importance * x + (1 - importance) * x.mean(dim=(2, 3), keepdim=True)


def gsct_pseudo_input(s: StepState) -> torch.Tensor:
    """x_p with the importance M = T / max T: (B, 3, H, W)."""
    target = gsct_target(s)
    b, _, h, w = s.x.shape
    importance = (target / target.amax(dim=1, keepdim=True).clamp_min(1e-12)).view(b, 1, h, w)
    return pseudo_input(s.x, importance)


def _saliency_consensus(s: StepState) -> torch.Tensor:
    """GSCT *(our reading)*: 1 - cos(S(x), T), S(x) with its graph kept (double backprop),
    over the first `gsct_consensus_fraction` of the (shuffled) batch: the double backward
    pass costs in proportion to it (docs/related_methods.md#adv-gsct)."""
    n = max(1, int(round(s.cfg.gsct.consensus_fraction * len(s.y))))
    saliency = saliency_with_graph(
        s.raw_model, s.x[:n], s.y[:n], s.amp, create_graph=True, mode=s.cfg.gsct.saliency_mode
    )  # (n, H * W)
    return (1 - F.cosine_similarity(saliency, gsct_target(s)[:n], dim=1)).mean()


def _pseudo_ce(s: StepState) -> torch.Tensor:
    """CE(f(x_p), y): the pseudo-input keeps only the target's important pixels and must
    stay classifiable."""
    return F.cross_entropy(s.logits["pseudo"], s.y)


OBJECTIVES: Registry[ObjectiveTerm] = Registry("objective term")
OBJECTIVES.add("clean_ce", ObjectiveTerm(_clean_ce, ("clean",), "CE(f(x), y)"))
OBJECTIVES.add("adv_ce", ObjectiveTerm(_adv_ce, ("adv",), "CE(f(x'), y), x' from the variant's generator"))
OBJECTIVES.add(
    "photometric_continuity",
    ObjectiveTerm(
        _photometric_continuity, ("clean", "photo"), "||f(x) - f(T(x))||^2, T photometric", weight="lam"
    ),
)
OBJECTIVES.add(
    "adversarial_continuity",
    ObjectiveTerm(_adversarial_continuity, ("clean", "adv"), "||f(x) - f(x')||^2", weight="lam"),
)
OBJECTIVES.add(
    "sensitivity",
    ObjectiveTerm(
        _sensitivity,
        ("clean", "adv"),
        "SNS: mean sigma of each layer's top channels (our reading)",
        weight="sns_lambda",
        needs_features=True,
    ),
)
OBJECTIVES.add(
    "saliency_consensus",
    ObjectiveTerm(
        _saliency_consensus,
        ("adv",),
        "GSCT: 1 - cos(S(x), S(x_o) top part), double backprop (our reading)",
        weight="gsct_lambda",
    ),
)
OBJECTIVES.add(
    "pseudo_ce",
    ObjectiveTerm(
        _pseudo_ce, ("adv", "pseudo"), "GSCT: CE(f(x_p), y), x_p from the saliency target (our reading)"
    ),
)


# ---------------------------------------------------------------- one step
@dataclass
class StepResult:
    loss: torch.Tensor  # scalar with graph
    ce: torch.Tensor  # detached: the sum of the unweighted terms
    sc: torch.Tensor  # detached: the sum of the weighted terms, before weighting
    correct: torch.Tensor  # correctly classified training examples of the accuracy view
    terms: dict  # term -> detached value


def objective_step(model, raw_model, x, y, cfg, g: torch.Generator, amp, progress: float = 0.0) -> StepResult:
    """The loss terms of one batch for cfg.variant. x: (B, 3, H, W) in [0, 1]; `model` is
    the (possibly DDP-wrapped) `raw_model`; `progress` the epochs done (fractional)."""

    spec = VARIANTS[cfg.variant]
    terms = [(name, OBJECTIVES[name]) for name in spec.terms]
    state = StepState(x, y, cfg, raw_model, amp, progress=progress)
    state.views = tuple(v for v in VIEW_ORDER if any(v in t.views for _, t in terms))
    build_views(state, spec.generator, g)
    forward_views(state, model, terms)
    values = {name: term.compute(state) for name, term in terms}
    return combine_terms(state, terms, values, "adv" if "adv_ce" in spec.terms else "clean")


def build_views(state: StepState, generator: Optional[str], g: torch.Generator) -> None:
    """Each view's input, drawn in VIEW_ORDER (the generator's random start before the
    photometric draw: resumed runs repeat both)."""
    x = state.x
    for view in state.views:
        if view == "clean":
            state.inputs[view] = x
        elif view == "adv":
            state.inputs[view] = generate(generator, state.raw_model, x, state.y, state.cfg, g, state.amp)
        elif view == "photo":
            state.inputs[view] = random_photometric(x, g, state.cfg.perturbations, state.cfg.levels)
        else:  # "pseudo": needs "adv" (built before it)
            state.inputs[view] = gsct_pseudo_input(state)


def forward_views(state: StepState, model, terms) -> None:
    """One concatenated forward pass over every view (one BatchNorm batch, one DDP pass);
    with `gsct_pseudo_batch="separate"` GSCT's x_p gets a pass of its own (below)."""
    separate = "pseudo" in state.views and state.cfg.gsct.pseudo_batch == "separate"
    joint = tuple(v for v in state.views if not (separate and v == "pseudo"))
    batch = torch.cat([state.inputs[v] for v in joint])  # (V * B, 3, H, W)
    layers = []
    if any(t.needs_features for _, t in terms):
        layers = state.cfg.sns.layers or sensitivity_layers(state.raw_model)
    with recorded_features(state.raw_model, layers) as features, autocast(state.x.device, state.amp):
        logits = model(batch).float()  # (V * B, C)
    state.features = dict(features)
    state.logits = dict(zip(joint, logits.chunk(len(joint))))
    if separate:
        state.logits["pseudo"] = pseudo_logits_own_batch(state)


def pseudo_logits_own_batch(state: StepState) -> torch.Tensor:
    """f(x_p) in a BatchNorm batch of its own whose statistics do not enter the running
    averages *(adjusted reading)*: the mostly flat pseudo-inputs otherwise skew the
    statistics eval mode uses (docs/related_methods.md#adv-gsct). Through the bare module,
    as the consensus term's pass: DDP reduces its parameters' gradients the same way.
    -> (B, C) float."""
    with frozen_batchnorm_statistics(state.raw_model), autocast(state.x.device, state.amp):
        return state.raw_model(state.inputs["pseudo"]).float()


def weight_now(state: StepState, weight: str) -> float:
    """The value of the weight setting `weight` at this step: GSCT's lambda_g ramps linearly from
    0 over `gsct_warmup_epochs` *(adjusted reading)*; every other weight is constant."""
    value = state.cfg.setting(weight)
    warmup = state.cfg.gsct.warmup_epochs
    if weight == "gsct_lambda" and warmup > 0:
        value = value * min(1.0, state.progress / warmup)
    return value


def combine_terms(state: StepState, terms, values: dict, accuracy_view: str) -> StepResult:
    ce = torch.zeros((), device=state.x.device)
    groups: dict[str, torch.Tensor] = {}  # weight setting -> sum of the terms it weights
    for name, term in terms:
        if term.weight is None:
            ce = ce + values[name]
        else:
            start = groups.get(term.weight, torch.zeros((), device=state.x.device))
            groups[term.weight] = start + values[name]
    loss = ce
    for weight, value in groups.items():
        loss = loss + weight_now(state, weight) * value
    sc = sum(groups.values(), torch.zeros((), device=state.x.device))
    correct = (state.logits[accuracy_view].argmax(1) == state.y).sum()
    return StepResult(
        loss, ce.detach(), sc.detach(), correct, {name: v.detach() for name, v in values.items()}
    )
