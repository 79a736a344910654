"""The Neurons page's computation: per-layer neuron sensitivity of the chosen
variants (the stored report's `neurons` suite when it is current, else `sc_viz.evaluate.
neurons.run` on a test sample), one image's most sensitive channels per variant, and its
saliency consensus (map of x vs map of x') placed among the stored test sample's.

The page only lays these out (its sections on screen: `neurons_screen`); what cannot be
shown becomes a one-line message."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Optional

import torch
import torch.nn as nn

from sc_viz.app.export import bundle_zip, rows_to_csv
from sc_viz.app.report_view import StoredReport
from sc_viz.attacks import PGDConfig
from sc_viz.deck.work import Fetch, Work, compute_now, result_type
from sc_viz.evaluate import neurons
from sc_viz.evaluate.common import EvalContext
from sc_viz.evaluate.consensus import DEFAULT_LEVEL, KINDS
from sc_viz.evaluate.robustness import eval_attack
from sc_viz.evaluate.saliency import method_options as eval_options
from sc_viz.evaluate.saliency import predicted
from sc_viz.figures import figures_page
from sc_viz.inside.consensus import MapPair, method_consensus, perturbed_views
from sc_viz.inside.probe import TOP_FRACTION, ImageProbe, probe_image, resolve_layers
from sc_viz.packs import Pack

OWN = "own"  # x' of each variant is its own PGD (else: one variant's PGD shared by all)
SAMPLE_CHOICES = [50, 100, 200, 500, 1000]  # test images for a live sensitivity run


# ---------------------------------------------------------------- per-layer sensitivity
@dataclass
class LayerSensitivity:
    """variant -> layer -> {mean, top, relative, channels}, the layers in order, how many
    test images, and where the numbers come from (for the figure's caption)."""

    per_variant: dict[str, dict[str, dict[str, float]]]
    layers: list[str]
    n: int
    source: str


@dataclass
class StoredNeurons:
    """The stored report's `neurons` suite when it can be used (current weights, complete):
    variant -> layer -> {mean, top, ...} of the variants it has, its layers and sample size;
    else empty, with why."""

    per_variant: dict[str, dict[str, dict[str, float]]]
    layers: list[str]
    n: int
    message: str = ""


def stored_neurons(stored: StoredReport) -> StoredNeurons:
    if stored.report is None or stored.message:  # none, or made from other weights
        return StoredNeurons({}, [], 0, stored.message or "No stored evaluation report.")
    suite = stored.suite("neurons")
    if not suite or "layers" not in suite:
        return StoredNeurons({}, [], 0, "The stored report has no complete neuron-sensitivity suite.")
    return StoredNeurons(
        {v: r["layers"] for v, r in suite.get("variants", {}).items()}, list(suite["layers"]), int(suite["n"])
    )


def combine(
    found: StoredNeurons, live: Mapping[str, dict], variants: Sequence[str], n: int
) -> Optional[LayerSensitivity]:
    """One table of `variants` from the stored suite and from `live_sensitivity` results
    (the live ones on the same seeded sample when the stored suite exists: the same n and
    seed over the whole test split pick the same images). None when a variant has neither."""
    per_variant = {
        v: found.per_variant[v] if v in found.per_variant else live[v]["layers"]
        for v in variants
        if v in found.per_variant or v in live
    }
    if len(per_variant) != len(variants):
        return None
    computed = [v for v in variants if v not in found.per_variant]
    layers = found.layers if found.per_variant else list(next(iter(live.values()))["layers"])
    if not computed:
        source = f"stored report, n = {n:,} test images"
    elif len(computed) == len(variants):
        source = f"computed here on a seeded sample of n = {n:,} test images"
    else:
        source = (
            f"stored report, n = {n:,} test images; {', '.join(computed)} computed here on "
            "the same seeded sample"
        )
    return LayerSensitivity(per_variant, layers, n, source)


def one_variant_pack(pack: Pack, variant: str) -> Pack:
    """The pack with only `variant` loaded (an evaluation suite runs every loaded model)."""
    return replace(pack, models={variant: pack.models[variant]})


def live_sensitivity(
    pack: Pack, test, variant: str, n: int, on_variant: Optional[Callable[[dict], None]] = None
) -> dict:
    """The neurons suite's result for one variant over a seeded sample of n test images of
    `test` (the same seed, layers and attack as `sc-viz eval`): {layers: {layer: {mean, top,
    ...}}, sigma, clean_acc, pgd_acc, eps, step_size, steps}."""

    ctx = EvalContext(
        one_variant_pack(pack, variant),
        test,
        options={"neurons_limit": n},
        progress=False,
        checkpoint=on_variant or (lambda partial: None),
    )
    return neurons.run(ctx)["variants"][variant]


def sensitivity_rows(table: LayerSensitivity) -> list[dict]:
    return [
        {
            "part": "layer sensitivity",
            "source": table.source,
            "variant": v,
            "layer": layer,
            **{m: s[m] for m in ("mean", "top", "relative") if m in s},
        }
        for v, per in table.per_variant.items()
        for layer, s in per.items()
    ]


# ---------------------------------------------------------------- one image's channels
def attack_of(pack: Pack, variant: str) -> PGDConfig:
    """The pack's evaluation attack for `variant` (as the robustness and neurons suites)."""

    return eval_attack(EvalContext(pack, None), variant)


def layer_choices(model: nn.Module) -> list[str]:
    """The layers whose channels count as neurons (the stem conv and every residual block)."""

    return resolve_layers(model)


def probe_variants(
    models: Mapping[str, nn.Module],
    x: torch.Tensor,
    layer: str,
    attacks: Mapping[str, PGDConfig],
    *,
    top_k: int = 6,
    follow: str = OWN,
    adversary: str = OWN,
    label: Optional[int] = None,
    seed: int = 0,
) -> dict:
    """variant -> ImageProbe of image x (1, 3, H, W) at `layer`.

    follow: OWN (each variant's own `top_k` most sensitive channels) or a variant whose
    top-k channels every variant shows (the same index is the same neuron position across
    variants of one pack). adversary: OWN (each variant's own PGD of x, as the suite) or a
    variant whose PGD x' every variant is probed with (one x', a transfer attack for the
    others). PGD pushes away from `label` (a gallery image's class), else the prediction."""

    def probe(v, channels=None, x_adv=None):
        return probe_image(
            models[v],
            x,
            layer,
            attacks[v],
            label=label,
            top_k=top_k,
            channels=channels,
            x_adv=x_adv,
            generator=torch.Generator().manual_seed(seed),
        )

    out = {}
    if adversary in models:
        out[adversary] = probe(adversary)
    shared = out[adversary].x_adv if adversary in out else None
    if follow in models and follow not in out:
        out[follow] = probe(follow, None, shared)
    channels = out[follow].channels if follow in out else None
    if adversary in out and follow in out and follow != adversary:  # show the followed channels
        out[adversary] = probe(adversary, channels, shared)
    for v in models:
        if v not in out:
            out[v] = probe(v, channels, shared)
    return {v: out[v] for v in models}


def channel_rows(probes: Mapping, image_key: str) -> list[dict]:
    return [
        {
            "part": "image channels",
            "image": image_key,
            "variant": v,
            "layer": p.layer,
            "channel": c,
            "distance": d,
            "prediction": p.prediction,
            "adversarial_prediction": p.adversarial_prediction,
        }
        for v, p in probes.items()
        for c, d in zip(p.channels, p.channel_distances())
    ]


# ---------------------------------------------------------------- saliency consensus
@dataclass
class StoredConsensus:
    """The stored `consensus` suite's settings (so one image's numbers are made alike) and
    per-image values, or why there are none."""

    level: int
    fraction: float
    method_options: dict
    values: Optional[dict]  # variant -> method -> kind -> measure -> [per image]
    n: int
    message: str = ""

    def distribution(self, variants, method: str, kind: str, measure: str) -> dict[str, list]:
        """variant -> the sample's values of one number (only variants the suite has)."""
        if not self.values:
            return {}
        return {
            v: self.values[v][method][kind][measure] for v in variants if method in self.values.get(v, {})
        }


def stored_consensus(stored: StoredReport) -> StoredConsensus:

    report = stored.report or {}
    suite = stored.suite("consensus")
    if not suite or stored.message:
        why = stored.message or "The stored report has no complete saliency-consensus suite."
        return StoredConsensus(DEFAULT_LEVEL, TOP_FRACTION, {}, None, 0, why)
    settings = report.get("settings", {}).get("consensus", {})
    return StoredConsensus(
        int(suite["level"]),
        float(suite["top_fraction"]),
        settings.get("method_options") or {},
        suite["values"],
        int(suite["n"]),
    )


def method_options(pack: Pack, method: str, stored: StoredConsensus) -> dict:
    """The options the stored suite used for `method` (so the numbers compare), else the
    evaluation's defaults."""

    if method in stored.method_options:
        return dict(stored.method_options[method])
    return eval_options(EvalContext(pack, None), method)


def image_consensus(
    models: Mapping[str, nn.Module],
    x: torch.Tensor,
    method: str,
    attacks: Mapping[str, PGDConfig],
    *,
    level: int,
    fraction: float,
    options: Optional[dict] = None,
    label: Optional[int] = None,
    seed: int = 0,
) -> dict[str, dict[str, MapPair]]:
    """variant -> kind -> MapPair for image x (1, 3, H, W), as the consensus suite makes
    them: x' = each variant's own PGD (against `label`, else its prediction) and each
    photometric perturbation at `level`; both maps explain the class predicted on x."""

    models = dict(models)
    targets = predicted(models, x)
    labels = {v: label if label is not None else targets[v] for v in models}
    views = perturbed_views(
        models,
        x,
        kinds=KINDS,
        level=level,
        attacks=dict(attacks),
        labels=labels,
        generator=torch.Generator().manual_seed(seed),
    )
    return method_consensus(method, models, x, views, targets, fraction=fraction, options=options)


def consensus_rows(pairs: Mapping[str, Mapping[str, MapPair]], method: str, image_key: str) -> list[dict]:
    return [
        {
            "part": "image consensus",
            "image": image_key,
            "variant": v,
            "method": method,
            "kind": k,
            **{m: (value if math.isfinite(value) else None) for m, value in pair.measures.items()},
        }
        for v, per_kind in pairs.items()
        for k, pair in per_kind.items()
    ]


def fmt(value: float) -> str:
    """An agreement number for a caption; 'undefined' for NaN (a constant map)."""
    return f"{value:.3f}" if math.isfinite(value) else "undefined"


# ---------------------------------------------------------------- export
def bundle(figures: Mapping[str, object], rows: Sequence[Mapping], settings: Mapping, title: str) -> bytes:
    """The page's export bundle: the figures (one interactive HTML page), the numbers (CSV)
    and settings.json."""

    return bundle_zip(
        {"figures.html": figures_page(figures, title), "numbers.csv": rows_to_csv(rows)}, dict(settings)
    )


def bundle_settings(
    pack: Pack,
    image_key: str,
    variants: Sequence[str],
    controls: Mapping[str, object],
    stored: StoredConsensus,
    source: str,
) -> dict:
    """The bundle's settings.json: the page, pack, image and variants; the page's controls
    (`controls`: layer, top_k, follow, x_adv, method, kind, measure, in the page's order);
    the consensus level and the method's options the numbers were made with (`stored`, as
    `consensus_of`); where the image is from (`source`: the gallery's caption or "upload")."""
    return {
        "page": "neurons",
        "pack": str(pack.path),
        "image": image_key,
        "variants": variants,
        **controls,
        "level": stored.level,
        "method_options": method_options(pack, str(controls["method"]), stored),
        "source": source,
    }


# ---------------------------------------------------------------- the page's work
for _stored in (ImageProbe, MapPair):  # what a deck holds for this page
    result_type(_stored)


def probes_of(
    pack: Pack,
    x: torch.Tensor,
    label: Optional[int],
    variants: Sequence[str],
    layer: str,
    *,
    top_k: int,
    follow: str,
    adversary: str,
    fetch: Fetch = compute_now,
) -> dict:
    """`probe_variants` of the chosen variants with the pack's evaluation attacks."""
    attacks = {v: attack_of(pack, v) for v in variants}
    params = {
        "layer": layer,
        "top_k": int(top_k),
        "follow": follow,
        "adversary": adversary,
        "label": label,
        "attacks": {v: asdict(a) for v, a in attacks.items()},
    }
    models = {v: pack.models[v] for v in variants}

    def compute():
        return probe_variants(
            models, x, layer, attacks, top_k=top_k, follow=follow, adversary=adversary, label=label
        )

    return fetch(Work("neurons.probes", params, tuple(variants)), compute)


def consensus_of(
    pack: Pack,
    x: torch.Tensor,
    label: Optional[int],
    variants: Sequence[str],
    method: str,
    stored: StoredConsensus,
    fetch: Fetch = compute_now,
) -> dict[str, dict[str, MapPair]]:
    """`image_consensus` of the chosen variants, made as the stored consensus suite (its
    level, top fraction and method options)."""
    attacks = {v: attack_of(pack, v) for v in variants}
    options = method_options(pack, method, stored)
    params = {
        "method": method,
        "level": stored.level,
        "fraction": stored.fraction,
        "options": options,
        "label": label,
        "attacks": {v: asdict(a) for v, a in attacks.items()},
    }
    models = {v: pack.models[v] for v in variants}

    def compute():
        return image_consensus(
            models,
            x,
            method,
            attacks,
            level=stored.level,
            fraction=stored.fraction,
            options=options,
            label=label,
        )

    return fetch(Work("neurons.consensus", params, tuple(variants)), compute)
