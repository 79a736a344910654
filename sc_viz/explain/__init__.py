"""Attribution maps: one entry point (`explain`), one registry (`METHODS`), and the
variants x methods grid (`explain_grid`, `iter_grid`)."""

# Registered cheapest first, the order the app lists them in.
from sc_viz.explain import saliency, gradcam, smoothgrad, ig, lime  # noqa: F401,I001  (registration)
from sc_viz.explain.base import METHODS, Explanation, Method, explain, model_lock, using_model
from sc_viz.explain.grid import Grid, explain_grid, iter_grid, predict_top
from sc_viz.explain.settings import ExplainSettings

__all__ = [
    "METHODS",
    "Explanation",
    "Method",
    "explain",
    "explain_grid",
    "iter_grid",
    "Grid",
    "predict_top",
    "model_lock",
    "using_model",
    "ExplainSettings",
]
