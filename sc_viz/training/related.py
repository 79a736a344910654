"""The related methods' settings, one dataclass per method, nested in TrainConfig as
`spat`, `sns` and `gsct`; all the project's reading (docs/related_methods.md). Stored in a
checkpoint's config and given on the command line as `spat_gamma` / `--spat-gamma` ...
(sc_viz.training.settings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sc_viz.training.settings import check_choices, setting

# The related methods' weights: the project's choices (docs/related_methods.md).
SNS_LAMBDA = 0.5
GSCT_LAMBDA = 1.0
# How GSCT's trained saliency S(x) sees BatchNorm: "train" (the default reading) or "eval"
# (the first reading, kept to reproduce its collapse; docs/related_methods.md#adv-gsct).
GSCT_SALIENCY_MODES = ("train", "eval")


@dataclass(frozen=True)
class SpatSettings:
    gamma: float = setting(0.1, "SPAT: step scale gamma + (1 - gamma) * shared mask (default {default})")
    top_k: int = setting(10, "SPAT: mask over each image's top-k predicted classes (default {default})")
    step_norm: str = setting(
        "mask",
        "SPAT: the masked step as it is, or rescaled per image to PGD's mean step size "
        "so it spends the whole budget (default {default})",
        choices=("mask", "budget"),
    )

    def __post_init__(self):
        if not 0 <= self.gamma <= 1 or self.top_k < 1:
            raise ValueError("spat_gamma must be in [0, 1] and spat_top_k at least 1")
        check_choices(self, "spat")


@dataclass(frozen=True)
class SnsSettings:
    lambda_: float = setting(SNS_LAMBDA, "SNS: weight lambda_s of the sensitivity term (default {default})")
    top_fraction: float = setting(
        0.1, "SNS: fraction of each layer's channels stabilised (default {default})"
    )
    layers: Optional[list] = setting(
        None, "SNS: module names to hook (default: stem conv + every residual block)"
    )

    def __post_init__(self):
        if not 0 < self.top_fraction <= 1:
            raise ValueError("sns_top_fraction must be in (0, 1]")


@dataclass(frozen=True)
class GsctSettings:
    lambda_: float = setting(
        GSCT_LAMBDA, "GSCT: weight lambda_g of the saliency consensus (default {default})"
    )
    top_fraction: float = setting(0.2, "GSCT: fraction of the target saliency kept (default {default})")
    consensus_fraction: float = setting(
        1.0, "GSCT: fraction of each batch in the double-backprop saliency term (default {default})"
    )
    # The adjustments against catastrophic overfitting (docs/related_methods.md#adv-gsct);
    # their defaults are the first reading the demo pack's gsct was trained with.
    offending_steps: int = setting(
        1,
        "GSCT: PGD steps of the offending example x_o; 2 is the adjusted reading against "
        "catastrophic overfitting (default {default}, the first reading)",
    )
    pseudo_batch: str = setting(
        "shared",
        "GSCT: x_p in the shared BatchNorm batch, or in one of its own that leaves the "
        "running statistics alone (adjusted reading; default {default})",
        choices=("shared", "separate"),
    )
    warmup_epochs: float = setting(
        0.0,
        "GSCT: ramp lambda_g linearly from 0 over this many epochs (adjusted reading; default {default})",
    )
    # "train" (batch statistics, running ones untouched) is the default since the eval-mode
    # reading collapsed; "eval" reproduces it.
    saliency_mode: str = setting(
        "train",
        "GSCT: BatchNorm mode of the trained saliency S(x); eval (the first reading) "
        "reproduces the collapse (docs/related_methods.md#adv-gsct; default {default})",
        choices=GSCT_SALIENCY_MODES,
    )

    def __post_init__(self):
        if not (0 < self.top_fraction <= 1 and 0 < self.consensus_fraction <= 1):
            raise ValueError("gsct_top_fraction and gsct_consensus_fraction must be in (0, 1]")
        if self.offending_steps < 1 or self.warmup_epochs < 0:
            raise ValueError("gsct_offending_steps must be at least 1 and gsct_warmup_epochs not negative")
        check_choices(self, "gsct")
