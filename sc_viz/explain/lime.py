"""LIME (Ribeiro et al. 2016) through the `lime` package (lime_image.LimeImageExplainer).

Superpixels from SLIC (lime's default quickshift setting yields 1-3 segments on 32 px
images); each perturbed sample keeps a random subset of them and fills the rest with
the segment's mean colour (lime's default `hide_color=None`); a weighted ridge fit of
the target's softmax probability on the kept/removed indicators gives one signed weight
per segment, and the map paints each segment with its weight.

The samples are scored under bf16 autocast where the device computes bf16 natively
(`precision="auto"`: GPUs, CPUs with AVX512-BF16/AMX; about 2x faster on this project's
CPU): LIME only needs class probabilities for a ridge fit over randomly masked samples,
and bf16's ~0.4% rounding is far below the sampling noise of the fit. `precision="fp32"`
scores in full precision.

Side by side, all variants are explained from ONE segmentation and ONE set of perturbed
samples: the classifier handed to lime runs every variant on each batch and returns
their probabilities side by side, (B, V * C), and lime fits one ridge per requested
label, i.e. per (variant, target) column. The maps are therefore directly comparable,
and the sampling, segmentation and image building are paid once.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn as nn

from sc_viz.explain.base import (
    METHODS,
    Budget,
    Explanation,
    Method,
    as_batch,
    check_target,
    model_device,
    using_model,
)
from sc_viz.precision import autocast, autocast_dtype, precision_name


@functools.lru_cache(maxsize=1)
def lime_image():
    """The `lime_image` module, imported on first use (lime pulls in scikit-learn: ~2 s
    that `sc-viz --help` and pages without LIME need not pay). lime wraps its sampling
    loop in a tqdm bar that would print to the app's and CLI's stderr on every call; this
    only silences that bar."""
    import tqdm
    from lime import lime_image as module

    module.tqdm = functools.partial(tqdm.tqdm, disable=True)
    return module


# Samples scored per model call. Measured on this project's 2-core CPU under bf16 autocast:
# ResNet-20 at 32 px scores 4 x 1000 LIME samples in 1.86 s at batch 16, 1.22-1.24 s at
# 128-256 and 1.4 s at 512; ResNet-50 at 224 px runs 19 img/s at batch 1, 32 at 4-8, 37 at
# 10. So: 2**19 pixels per batch (10 at 224 px), at most 256 samples (at 32 px). A GPU
# wants large batches.
PIXELS_PER_BATCH = {"cpu": 2**19, "cuda": 2**22}
MAX_CPU_BATCH = 256


def batch_for(x, device) -> int:
    kind = torch.device(device).type
    pixels = PIXELS_PER_BATCH.get(kind, PIXELS_PER_BATCH["cuda"])
    batch = max(1, pixels // (x.shape[-1] * x.shape[-2]))
    return min(batch, MAX_CPU_BATCH) if kind == "cpu" else batch


def segmenter(segmentation: str = "slic", n_segments: int = 50, compactness: float = 10.0, seed: int = 0):
    """lime's SegmentationAlgorithm wrapper around scikit-image SLIC or quickshift."""
    from lime.wrappers.scikit_image import SegmentationAlgorithm

    if segmentation == "slic":
        return SegmentationAlgorithm("slic", n_segments=n_segments, compactness=compactness, start_label=0)
    if segmentation == "quickshift":  # lime's own default
        return SegmentationAlgorithm("quickshift", kernel_size=4, max_dist=200, ratio=0.2, random_seed=seed)
    raise ValueError(f"unknown segmentation {segmentation!r}; choose 'slic' or 'quickshift'")


class LimeMethod(Method):
    name = "lime"
    signed = True
    cost_rank = 4
    shares_work = True
    description = "LIME superpixel weights (lime_image), one shared sample set for all variants"
    title = "LIME"
    help = "Superpixels whose presence raises or lowers the class probability (a local linear fit)."
    budget = Budget(
        option="n_samples",
        key="lime_samples",
        url="lime",
        title="LIME samples",
        help="LIME perturbed samples",
        defaults={
            "explain": 1000,
            "interactive": 500,
            "interactive_large": 200,
            "evaluation": 300,
            "sanity": 100,
        },
        slider=(100, 2000, 100),
        sanity_slider=(25, 1000, 25),
    )
    cheap = False  # a model pass per sample: about a minute per map through a sanity cascade
    settings_options = ("seed", "precision")

    def explain(self, model: nn.Module, x: torch.Tensor, target: int, **options) -> Explanation:
        return self.explain_many({"model": model}, x, {"model": target}, **options)["model"]

    def explain_many(
        self,
        models: dict[str, nn.Module],
        x: torch.Tensor,
        targets: dict[str, int],
        *,
        n_samples: int = 1000,
        segmentation: str = "slic",
        n_segments: int = 50,
        compactness: float = 10.0,
        kernel_width: float = 0.25,
        seed: int = 0,
        hide_color: float | None = None,
        batch_size: int | None = None,
        precision: str = "auto",
        progress=None,
    ) -> dict[str, Explanation]:
        """hide_color None fills a removed segment with its mean colour (lime's default),
        a number fills it with that grey level; precision "auto" | "bf16" | "fp32" is the
        arithmetic the samples are scored in (module docstring)."""
        if n_samples < 2:
            raise ValueError(f"lime n_samples must be >= 2, got {n_samples}")
        x = as_batch(x)  # (1, 3, H, W) on CPU
        variants = list(models)
        num_classes = {}
        for v in variants:  # one forward each: class count, and a clean target check
            with using_model(models[v]), torch.no_grad():
                num_classes[v] = models[v](x.to(model_device(models[v]))).shape[1]
            targets = {**targets, v: check_target(targets[v], num_classes[v])}
        offsets = np.cumsum([0] + [num_classes[v] for v in variants])
        labels = [int(offsets[i] + targets[v]) for i, v in enumerate(variants)]
        done = [0]
        # autocast is thread-local: safe with several users at once
        amp = {v: autocast_dtype(precision, model_device(models[v])) for v in variants}

        def classify(images: np.ndarray) -> np.ndarray:  # (B, H, W, 3) float64 -> (B, sum C)
            batch = torch.from_numpy(images).permute(0, 3, 1, 2).float()  # (B, 3, H, W)
            probs = []
            for v in variants:
                model = models[v]
                with using_model(model), torch.no_grad(), autocast(model_device(model), amp[v]):
                    logits = model(batch.to(model_device(model)))  # (B, C)
                probs.append(logits.float().softmax(dim=1).cpu().numpy())
            done[0] += len(images)
            if progress:
                progress(done[0], n_samples)
            return np.concatenate(probs, axis=1)

        if batch_size is None:
            batch_size = batch_for(x, model_device(models[variants[0]]))
        image = x[0].permute(1, 2, 0).double().numpy()  # (H, W, 3)
        explainer = lime_image().LimeImageExplainer(kernel_width=kernel_width, random_state=seed)
        result = explainer.explain_instance(
            image,
            classify,
            labels=labels,
            top_labels=None,
            num_samples=n_samples,
            batch_size=min(batch_size, n_samples),
            hide_color=hide_color,
            segmentation_fn=segmenter(segmentation, n_segments, compactness, seed),
        )
        segments = torch.from_numpy(np.asarray(result.segments, dtype=np.int64))  # (H, W)
        n_seg = int(segments.max()) + 1
        out = {}
        for v, label in zip(variants, labels):
            weights = torch.zeros(n_seg, dtype=torch.float32)  # (S,)
            for seg, w in result.local_exp[label]:
                weights[int(seg)] = float(w)
            extras = {
                "segments": segments,
                "weights": weights,
                "intercept": float(result.intercept[label]),
                "n_samples": n_samples,
                "precision": precision_name(amp[v]),
            }
            out[v] = Explanation(self.name, targets[v], weights[segments], extras, self.signed)
        return out


METHODS.add("lime", LimeMethod())
