"""What the Models (home) page shows first: the headline table (each variant's clean and
PGD accuracy as percentages, the attack budget as k/255, the continuity weight lambda
only where the variant has a continuity term) and the training curves without lines for
variants that logged nothing. Reads the manifest's dict only, like `catalog`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from sc_viz.figures import curves_figure
from sc_viz.packs import ordered_variants
from sc_viz.training.objectives import OBJECTIVES
from sc_viz.variants import VARIANTS

NOT_AVAILABLE = "—"
CURVE_TITLES = {
    "loss": "Training loss",
    "train_acc": "Training accuracy",
    "test_acc": "Test accuracy",
    "test_pgd_acc": "Test PGD accuracy",
}


def _number(x: Any) -> Optional[float]:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def percent(x: Any) -> str:
    """0.8661 -> "86.6%"; anything not a number -> "—"."""
    x = _number(x)
    return NOT_AVAILABLE if x is None else f"{x:.1%}"


def eps_text(eps: Any) -> str:
    """An L-inf budget as a reader knows it: 0.0313725 -> "8/255" (else 3 significant digits)."""
    eps = _number(eps)
    if eps is None:
        return NOT_AVAILABLE
    steps = eps * 255
    if abs(steps - round(steps)) < 1e-6:
        return f"{round(steps)}/255"
    return f"{eps:.3g}"


def weight_fields(variant: str) -> list[str]:
    """The config fields that weight the variant's objective terms (["lam"] for the paper's
    continuity terms); [] for a variant without weighted terms or unknown to the registry."""

    if variant not in VARIANTS:
        return []
    weights = (OBJECTIVES[t].weight for t in VARIANTS[variant].terms if t in OBJECTIVES)
    return list(dict.fromkeys(w for w in weights if w))


def weight_text(variant: str, config: Mapping) -> str:
    """lambda as the variant uses it: "0.1" for the continuity weight, "name = v" for the
    related methods' own weights; "—" when the variant has no weighted term."""
    parts = []
    for field in weight_fields(variant):
        value = _number(config.get(field))
        shown = NOT_AVAILABLE if value is None else f"{value:g}"
        parts.append(shown if field == "lam" else f"{field} = {shown}")
    return ", ".join(parts) or NOT_AVAILABLE


def headline_rows(manifest: Mapping) -> list[dict]:
    """One row per variant, in the registry's order, key columns first: "Variant",
    "Clean accuracy", "PGD accuracy" (percent strings), "PGD ε" (k/255, the evaluation
    attack's budget), "λ" (only for variants with a weighted term such as continuity,
    else "—") and
    "Training" (the registry's one-line description)."""
    rows = []
    variants = manifest.get("variants", {}) if isinstance(manifest, Mapping) else {}
    for variant in ordered_variants(variants):
        entry = variants[variant] if isinstance(variants[variant], Mapping) else {}
        cfg = entry.get("config") if isinstance(entry.get("config"), Mapping) else {}
        metrics = entry.get("metrics") if isinstance(entry.get("metrics"), Mapping) else {}
        pgd = metrics.get("pgd") if isinstance(metrics.get("pgd"), Mapping) else {}
        rows.append(
            {
                "Variant": variant,
                "Clean accuracy": percent(metrics.get("clean_acc")),
                "PGD accuracy": percent(metrics.get("pgd_acc")),
                "PGD ε": eps_text(pgd.get("eps", cfg.get("eval_eps"))),
                "λ": weight_text(variant, cfg),
                "Training": VARIANTS[variant].description if variant in VARIANTS else NOT_AVAILABLE,
            }
        )
    return rows


PGD_CURVE = "test_pgd_acc"
FINAL_PGD_NOTE = (
    "A lone point on the PGD-accuracy chart: the pack's final PGD evaluation of a variant "
    "that was not attacked during training ({names})."
)


def _last_epoch(table: Mapping[str, list], variant: str) -> Optional[int]:
    ys = table.get(variant) or []
    at = [i for i, y in enumerate(ys) if y is not None]
    return at[-1] if at else None


def present_curves(
    curves: Mapping[str, Mapping[str, list]], manifest: Optional[Mapping] = None
) -> dict[str, dict[str, list]]:
    """`catalog.training_curves` without the variants that logged no value of a metric, so a
    legend lists only the lines drawn; a metric left with no line is dropped. With the
    pack's `manifest`, a variant never attacked during training (standard, c) still gets
    its final PGD accuracy (the pack's evaluation) on the PGD chart, as one point at its
    last logged epoch (`final_pgd_points` names them)."""
    out = {}
    for metric, table in curves.items():
        kept = {v: ys for v, ys in table.items() if v != "epoch" and any(y is not None for y in ys)}
        if metric == PGD_CURVE and manifest is not None:
            for v, value in final_pgd_points(curves, manifest).items():
                ys = [None] * len(table["epoch"])
                ys[value[0]] = value[1]
                kept[v] = ys
            kept = {v: kept[v] for v in ordered_variants(kept)}
        if kept:
            out[metric] = {"epoch": list(table["epoch"]), **kept}
    return out


def final_pgd_points(
    curves: Mapping[str, Mapping[str, list]], manifest: Mapping
) -> dict[str, tuple[int, float]]:
    """{variant: (index of its last logged epoch, final PGD accuracy)} for the variants with a
    final PGD accuracy in the manifest but no PGD accuracy logged during training."""
    logged = curves.get(PGD_CURVE, {})
    variants = manifest.get("variants", {}) if isinstance(manifest, Mapping) else {}
    out = {}
    for v, entry in variants.items():
        metrics = entry.get("metrics") if isinstance(entry, Mapping) else None
        value = _number(metrics.get("pgd_acc")) if isinstance(metrics, Mapping) else None
        if value is None or any(y is not None for y in logged.get(v, [])):
            continue
        last = max(
            (i for t in curves.values() if (i := _last_epoch(t, v)) is not None),
            default=None,
        )
        if last is not None:
            out[v] = (last, value)
    return out


def curve_figure(table: Mapping[str, list], metric: str):
    """A training curve as the page shows it: the legend in rows under the plot, so every
    variant's entry shows (a legend beside a short plot scrolls and hides the last ones)."""
    fig = curves_figure(table, curve_title(metric))
    lines = sum(1 for v in table if v != "epoch")
    fig.update_layout(
        legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0),
        height=280 + 22 * ((lines + 3) // 4),
        margin_b=40,
    )
    return fig


def curve_title(metric: str) -> str:
    return CURVE_TITLES.get(metric, metric.replace("_", " ").capitalize())


# ---------------------------------------------------------------- imported packs (`sc-viz import`)
def is_imported(manifest: Mapping) -> bool:
    return isinstance(manifest, Mapping) and manifest.get("source") == "import"


def _source(entry: Any) -> Mapping:
    source = entry.get("source") if isinstance(entry, Mapping) else None
    return source if isinstance(source, Mapping) else {}


def _keys(source: Mapping, which: str) -> list[str]:
    keys = source.get(which)
    return [str(k) for k in keys] if isinstance(keys, list) else []


def import_rows(manifest: Mapping) -> list[dict]:
    """One row per imported variant: where its weights came from and how they fitted
    ("all keys fit", or the counts of missing and unexpected keys of a --non-strict
    import)."""
    rows = []
    variants = manifest.get("variants", {}) if isinstance(manifest, Mapping) else {}
    for variant in ordered_variants(variants):
        entry = variants[variant] if isinstance(variants[variant], Mapping) else {}
        source = _source(entry)
        missing, unexpected = _keys(source, "missing"), _keys(source, "unexpected")
        fit = (
            "all keys fit"
            if not (missing or unexpected)
            else f"{len(missing)} missing (random init), {len(unexpected)} unexpected (ignored)"
        )
        prefixes = source.get("prefixes_stripped") or []
        rows.append(
            {
                "Variant": variant,
                "Status": entry.get("status", "?"),
                "Imported from": str(source.get("file", NOT_AVAILABLE)),
                "Read": str(source.get("read", NOT_AVAILABLE)),
                "State dict": str(source.get("layout", NOT_AVAILABLE)),
                "Prefixes stripped": " + ".join(map(str, prefixes)) if prefixes else "none",
                "EMA": "used" if source.get("ema") else "no",
                "Keys": fit,
            }
        )
    return rows


def key_misfits(manifest: Mapping) -> dict[str, dict[str, list[str]]]:
    """{variant: {"missing": [...], "unexpected": [...]}} for the variants of a --non-strict
    import whose keys did not all fit (the others are left out)."""
    out = {}
    variants = manifest.get("variants", {}) if isinstance(manifest, Mapping) else {}
    for variant in ordered_variants(variants):
        source = _source(variants[variant])
        missing, unexpected = _keys(source, "missing"), _keys(source, "unexpected")
        if missing or unexpected:
            out[variant] = {"missing": missing, "unexpected": unexpected}
    return out


def model_facts_text(manifest: Mapping) -> str:
    """The facts of an imported pack's models in one line: Grad-CAM layer, how an image is
    brought to the input, the normalisation."""
    parts = []
    if manifest.get("gradcam_layer"):
        parts.append(f"Grad-CAM layer `{manifest['gradcam_layer']}`")
    prep = manifest.get("preprocessing")
    if isinstance(prep, Mapping) and "resize" in prep:
        parts.append(
            f"images resized to {prep['resize']} px (short side, {prep.get('interpolation', 'bilinear')}), "
            f"centre {prep.get('crop', manifest.get('input_size'))} px cropped"
        )
    mean, std = manifest.get("mean"), manifest.get("std")
    if isinstance(mean, list) and isinstance(std, list):
        parts.append(
            f"mean ({', '.join(f'{v:.4g}' for v in mean)}), std ({', '.join(f'{v:.4g}' for v in std)})"
        )
    options = manifest.get("arch_options")
    if isinstance(options, Mapping) and options:
        parts.append("options " + ", ".join(f"{k}={v}" for k, v in options.items()))
    return "; ".join(parts)
