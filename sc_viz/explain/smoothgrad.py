"""SmoothGrad (Smilkov et al. 2017) through captum's `NoiseTunnel` around `Saliency`:
the mean of |gradient| over `n_samples` copies of x with Gaussian noise of standard
deviation `noise_level` (pixel units; x spans [0, 1], so 0.15 is the paper's 15 %)."""

from __future__ import annotations

import threading

import torch
import torch.nn as nn
from captum.attr import NoiseTunnel, Saliency

from sc_viz.explain.base import METHODS, Budget, Method

# NoiseTunnel draws its noise from torch's global generator. Seeding it is a global
# change, so seeded SmoothGrad calls run one at a time (fork_rng restores the state).
_GLOBAL_RNG_LOCK = threading.Lock()


class SmoothGradMethod(Method):
    name = "smoothgrad"
    signed = False
    cost_rank = 2
    description = "mean |gradient| over noisy copies of x (NoiseTunnel), max over channels"
    title = "SmoothGrad"
    help = "The gradient saliency averaged over noisy copies of the image: less speckle."
    budget = Budget(
        option="n_samples",
        key="smoothgrad_samples",
        url="sg",
        title="SmoothGrad samples",
        help="SmoothGrad noisy copies",
        defaults={"explain": 25, "interactive": 25, "interactive_large": 25, "evaluation": 25, "sanity": 25},
        slider=(5, 100, 5),
        sanity_slider=(5, 100, 5),
    )
    cheap = False  # 25 noisy passes per map: not offered by default through a sanity cascade
    settings_options = ("seed",)

    def attribute(
        self,
        model: nn.Module,
        x: torch.Tensor,
        target: int,
        *,
        n_samples: int = 25,
        noise_level: float = 0.15,
        batch_size: int = 25,
        seed: int = 0,
    ) -> tuple[torch.Tensor, dict]:
        if n_samples < 1:
            raise ValueError(f"smoothgrad n_samples must be >= 1, got {n_samples}")
        tunnel = NoiseTunnel(Saliency(model))
        cuda = [x.device.index or 0] if x.device.type == "cuda" else []
        with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)
            grads = tunnel.attribute(
                x.clone().requires_grad_(),
                nt_type="smoothgrad",
                nt_samples=n_samples,
                nt_samples_batch_size=min(batch_size, n_samples),
                stdevs=float(noise_level),
                target=target,
                abs=True,
            )
        return grads[0].amax(dim=0), {"n_samples": n_samples, "noise_level": noise_level}  # (H, W)


METHODS.add("smoothgrad", SmoothGradMethod())
