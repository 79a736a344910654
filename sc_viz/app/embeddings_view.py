"""What the Embeddings page shows beside the plots: the continuity violations as rows."""
from __future__ import annotations

from collections.abc import Sequence

from sc_viz.embed import SAME_CLASS_KIND, Embedding


def violation_rows(emb: Embedding, variants: Sequence[str]) -> list[dict]:
    """One row per variant: how many same-class images are closer to x than each perturbed
    copy, and how many same-class images there are."""
    same = emb.kinds.count(SAME_CLASS_KIND)
    return [{"variant": v, **emb.violations[v], "same_class_images": same} for v in variants]
