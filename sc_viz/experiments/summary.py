"""One-paragraph summaries of the training experiments' result files, for the report's
"Experiments that train" section and the README's results block. Both the seeded results
(`"format": 2`: spreads over seeds, intervals, verdicts) and the older single-seed files
are read."""

from __future__ import annotations

from typing import Optional


def _pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _range(s: dict, percent: bool) -> str:
    """' (seeds 80.1-82.3%)' from a seeds.summary, '' for one seed."""
    if not s or s.get("n_seeds", 1) <= 1 or s.get("min") is None:
        return ""
    if percent:
        return f" (seeds {100 * s['min']:.2f}-{100 * s['max']:.2f}%)"
    return f" (seeds {s['min']:.2f}-{s['max']:.2f})"


def sweep_summary(result: dict, where: str) -> str:
    rows = result["lambdas"].values()
    s = result["settings"]
    how = f"{'fine-tuned' if s.get('init') else 'trained from scratch'} {s['epochs']} epoch(s)"
    if result.get("format", 1) < 2:  # the wording the single-seed results were published with
        return (
            f"lambda sweep (Fig. 5; `c` fine-tuned {s['epochs']} epoch from `standard`, `{where}`): "
            + "; ".join(
                f"lambda {r['lam']:g}: accuracy {r['accuracy']:.2%}, level-1 DS sum {r['level1_ds_sum']:.2f}"
                for r in rows
            )
            + "."
        )
    seeds = result.get("seeds", [])
    text = (
        f"lambda sweep (Fig. 5; `c` {how}, {len(seeds)} seed(s), mean over seeds, `{where}`): "
        + "; ".join(
            f"lambda {r['lam']:g}: accuracy {_pct(r['accuracy']['mean'])}{_range(r['accuracy'], True)}, "
            f"level-1 DS sum {r['level1_ds_sum']['mean']:.2f}{_range(r['level1_ds_sum'], False)}"
            for r in rows
        )
        + "."
    )
    trend = {m: per for m, per in (result.get("trend") or {}).items() if m != "level1_ds_sum"}
    if trend:
        lo, hi = result["trend_between"]
        parts = []
        for m, per in trend.items():
            c = per.get("total_variation")
            if c and c.get("difference") is not None:
                parts.append(f"{m} {c['difference']:+.3f} ({c['verdict']})")
        text += (
            f" Saliency TV at lambda {hi} minus at lambda {lo} (negative = smoother; paired over "
            f"{next(iter(result['lambdas'].values())).get('saliency_n', '?')} images, all seeds): "
            + "; ".join(parts)
            + "."
        )
    return text


def transfer_summary(result: dict, where: str) -> str:
    src = result["source"]
    if result.get("format", 1) < 2:
        return (
            f"Transfer (Sec. 4.6; {src['dataset']} -> {result['target']}, "
            f"{result['settings']['epochs']} epoch of fine-tuning, `{where}`): "
            + "; ".join(f"`{v}` {r['accuracy']:.2%}" for v, r in result["variants"].items())
            + "."
        )
    from sc_viz.experiments.transfer import METHODS

    parts = []
    for method, part in result["methods"].items():
        accs = "; ".join(
            f"`{v}` {_pct(r['accuracy']['mean'])}{_range(r['accuracy'], True)}"
            for v, r in part["variants"].items()
        )
        order = part["ordering"]
        chain = (
            f" The paper's {' > '.join(order['order'])}: {order['chain']} ("
            + ", ".join(f"{k}: {c['verdict']}" for k, c in order["pairs"].items())
            + ")."
            if order["pairs"]
            else ""
        )
        parts.append(f"{METHODS.get(method, method)}: {accs}.{chain}")
    limit = result["settings"].get("train_limit")
    train = f"{limit:,} training images" if limit else "the whole training split"
    return (
        f"Transfer (Sec. 4.6; {src['dataset']} -> {result['target']}, {len(result['seeds'])} seed(s), "
        f"{train}, all {result['n_test']:,} test images, `{where}`): " + " ".join(parts)
    )


def fairness_summary(result: dict, where: str) -> str:
    return (
        f"Fairness (Sec. 4.7; colour-biased Fashion-MNIST, {result['arch']}, `{where}`): test accuracy "
        "with the backgrounds' colours flipped: "
        + "; ".join(f"`{v}` {r['accuracy']:.2%}" for v, r in result["variants"].items())
        + "."
    )


def timing(result: dict) -> str:
    """'(took 123 s of fine-tuning and probes on NVIDIA H200)' from a format-2 result."""
    t = result.get("timing")
    if not t:
        return ""
    spent = sum(v for k, v in t.items() if k.endswith("_s") and k != "wall_s")
    return f" Compute: {spent / 60:.1f} min in all runs ({t.get('device', '?')})."


def summary(result: dict, where: str) -> str:
    """The paragraph for one result file (any experiment, either format)."""
    kind = result.get("experiment")
    if kind == "sweep-lambda":
        return sweep_summary(result, where) + timing(result)
    if kind == "transfer":
        return transfer_summary(result, where) + timing(result)
    if kind == "fairness":
        return fairness_summary(result, where)
    raise ValueError(f"unknown experiment {kind!r}")
