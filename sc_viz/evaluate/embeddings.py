"""Semantic discontinuity evidence (Sec. 3.2, Fig. 1-2), per image: for a few seeded
test images x (each of another class), x's four level-k photometric perturbations and
`count` other test images of its class, every variant's logits, the number of same-class
images closer to x than each perturbed copy (violations), and 2-D projections of all the
points with PCA, t-SNE and UMAP.

Projections are joint (one fit on every variant's logits, which share their axes, one
per class), so the four plots of a method share their axes and can be compared directly.
The continuity suite gives the same violation counts as rates over the whole test sample;
this suite keeps the pictures.
"""

from __future__ import annotations

import torch

from sc_viz.embed import Embedding, embed, same_class_set
from sc_viz.evaluate.common import SUITES, EvalContext, Suite
from sc_viz.evaluate.render import Figure, num, table
from sc_viz.paper import SUMMARY_LEVEL

DEFAULT_IMAGES = 3
DEFAULT_COUNT = 200
DEFAULT_LEVEL = SUMMARY_LEVEL
METHODS = ("pca", "tsne", "umap")


def pick_images(ctx: EvalContext, n: int) -> list[int]:
    """n seeded positions in the test sample, each of a class not picked before."""
    order = torch.randperm(len(ctx.test), generator=torch.Generator().manual_seed(ctx.seed))
    chosen, classes = [], set()
    for i in order.tolist():
        label = int(ctx.test.labels[i])
        if label not in classes:
            chosen.append(i)
            classes.add(label)
            if len(chosen) == n:
                break
    return chosen


def fit_options(method: str, n_points: int) -> dict:
    """The projection's defaults, shrunk for the few points of a small --limit run (t-SNE
    needs perplexity < points, UMAP n_neighbors < points)."""
    if method == "tsne":
        return {"perplexity": float(min(30.0, max(2.0, (n_points - 1) / 3)))}
    if method == "umap":
        return {"n_neighbors": int(min(15, max(2, n_points - 2)))}
    return {}


def run(ctx: EvalContext) -> dict:
    level = int(ctx.options.get("embed_level", DEFAULT_LEVEL))
    count = int(ctx.options.get("embed_count", DEFAULT_COUNT))
    positions = pick_images(ctx, int(ctx.options.get("embed_images", DEFAULT_IMAGES)))
    images = []
    bar = ctx.bar(len(positions) * len(METHODS), "embeddings (PCA, t-SNE, UMAP)", unit="fit")
    for pos in positions:
        label = int(ctx.test.labels[pos])
        x = ctx.test.get(pos)  # (3, H, W)
        others, other_idx = same_class_set(ctx.test, label, count=count, exclude=pos, seed=ctx.seed)
        entry = {
            "position": pos,
            "label": label,
            "class": ctx.test.classes[label],
            "same_class": len(other_idx),
            "coords": {},
        }
        n_joint = len(ctx.models) * (1 + 4 + len(other_idx))  # x, 4 perturbations, the class
        for method in METHODS:
            e = embed(
                ctx.models,
                x,
                others,
                level=level,
                method=method,
                joint=True,
                seed=ctx.seed,
                options=fit_options(method, n_joint),
                x_index=pos,
                same_class_indices=other_idx,
            )
            entry["kinds"], entry["indices"] = e.kinds, e.indices
            entry["violations"] = e.violations
            entry["distances"] = {
                v: [round(float(d), 4) for d in ds.tolist()] for v, ds in e.distances.items()
            }
            entry["coords"][method] = {
                v: [[round(float(a), 4), round(float(b), 4)] for a, b in c.tolist()]
                for v, c in e.coords.items()
            }
            bar.update(1)
        images.append(entry)
    bar.close()
    return {"images": images, "level": level, "count": count, "methods": list(METHODS), "joint": True}


def stored_embeddings(entry: dict, level: int) -> dict[str, Embedding]:
    """One image of this suite's results -> {method: Embedding} (no logits), for figures."""
    distances = {v: torch.tensor(d) for v, d in entry["distances"].items()}
    return {
        method: Embedding(
            method,
            True,
            level,
            entry["kinds"],
            entry["indices"],
            {},
            distances,
            entry["violations"],
            {v: torch.tensor(c) for v, c in coords.items()},
        )
        for method, coords in entry["coords"].items()
    }


# ---------------------------------------------------------------- report section and figures
def figure_name(i: int) -> str:
    """figures/<name>.png of the suite's i-th image."""
    return f"fig2_embeddings_{i + 1}"


def markdown(e: dict, settings: dict) -> str:
    md = [
        f"## Semantic discontinuity evidence (Sec. 3.2, Fig. 1-2)\n\nFor each image x: its "
        f"four level-{e['level']} perturbations and up to {e['count']} other test images of "
        "its class, projected with PCA, t-SNE and UMAP (one joint fit over the variants, so "
        "a row's plots share axes). Cells: same-class images closer to x than the "
        "perturbed copy (violations) / the copy's DS to x.\n"
    ]
    where = (
        "test image"
        if settings.get("limit") is None
        else f"image of the seeded {settings['n']}-image test sample, position"
    )
    for i, entry in enumerate(e["images"]):
        perturbed = [(j, k) for j, k in enumerate(entry["kinds"]) if k not in ("x", "same_class")]
        md.append(
            f"### {entry['class']}: {where} {entry['position']}, {entry['same_class']} same-class images\n"
        )
        rows = [
            [v] + [f"{entry['violations'][v][k]} / {num(entry['distances'][v][j])}" for j, k in perturbed]
            for v in entry["violations"]
        ]
        md.append(table(["variant"] + [k for _, k in perturbed], rows))
        md.append(f"\n![embeddings {i + 1}](figures/{figure_name(i)}.png)\n")
    return "\n".join(md)


def figures(e: dict) -> list[Figure]:
    """Per image: one PNG of every method's plot and variant, and one plotly figure per method."""
    if not e:
        return []
    return [
        image_figure(figure_name(i), list(stored_embeddings(entry, e["level"]).values()))
        for i, entry in enumerate(e["images"])
    ]


def image_figure(name: str, embeddings: list[Embedding]) -> Figure:
    from sc_viz.figures import embedding_figure, embedding_png  # lazy: plotly, only with figures

    def plotly() -> list:
        out = []
        for emb in embeddings:
            fig = embedding_figure(emb, cell_px=300)
            fig.update_layout(title=f"{name}: {emb.method.upper()} (joint)")
            out.append((f"fig-{name}-{emb.method}", fig))
        return out

    return Figure(name, lambda: embedding_png(embeddings), plotly)


SUITES.add(
    "embeddings",
    Suite(
        run,
        "per-image PCA / t-SNE / UMAP of x, its perturbations and its class, with "
        "violation counts (Fig. 1-2)",
        settings=lambda ctx: {
            "embed_images": int(ctx.options.get("embed_images", DEFAULT_IMAGES)),
            "embed_count": int(ctx.options.get("embed_count", DEFAULT_COUNT)),
            "embed_level": int(ctx.options.get("embed_level", DEFAULT_LEVEL)),
        },
        markdown=markdown,
        figures=figures,
    ),
)
