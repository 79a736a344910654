"""What the Embeddings page shows beside the plots: the continuity violations as rows, with
column names a reader understands."""

from __future__ import annotations

from collections.abc import Sequence

from sc_viz.embed import SAME_CLASS_KIND, Embedding

VARIANT_COLUMN, SAME_CLASS_COLUMN = "Variant", "Same-class images"


def violation_rows(emb: Embedding, variants: Sequence[str]) -> list[dict]:
    """One row per variant: for each perturbation (its name, capitalised), how many
    same-class images are closer to x than x's perturbed copy; then how many same-class
    images there are."""
    same = emb.kinds.count(SAME_CLASS_KIND)
    return [
        {
            VARIANT_COLUMN: v,
            **{k.capitalize(): n for k, n in emb.violations[v].items()},
            SAME_CLASS_COLUMN: same,
        }
        for v in variants
    ]
