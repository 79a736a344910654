"""What `sc-viz deck build` computes for a slide of the pages other than Saliency: the
page's own per-image pieces of work (`robustness_view.pgd_of`, `neurons_view.probes_of`,
`sanity_view.compute_checks`, `single_image.ds_of`, `embeddings_view.projection_of`),
asked with the values the slide sets, fitted to the widgets' options as the page fits
them (`views.fitted`). The page calls the same pieces with the same values, so it finds
each in the deck (sc_viz.deck.work).

`PAGES` maps a page's title to its `slide_work(pack, x, label, slide, fetch, data_root)`:
`slide` is the talk's slide as a dict, `x` the image (1, 3, S, S), `label` its true class
(None for an upload), `data_root` where the test images are (None: $SC_VIZ_DATA). The
Models page reads the manifests only: its slides are kept as views."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Optional

import torch

from sc_viz.app import embeddings_view, neurons_view, robustness_view, single_image, views
from sc_viz.app import sanity_view as san
from sc_viz.app.gallery import load_gallery
from sc_viz.app.report_view import stored_report
from sc_viz.deck.work import Fetch
from sc_viz.explain import METHODS
from sc_viz.explain.grid import ordered_methods
from sc_viz.packs import Pack

SlideWork = Callable[..., None]  # (pack, x, label, slide, fetch, data_root) -> None


def robustness(
    pack: Pack, x: torch.Tensor, label: Optional[int], slide: Mapping, fetch: Fetch, data_root=None
) -> None:
    """Each variant's PGD, its clean and adversarial maps (a method chosen) and SPAT's
    attack (shown)."""
    values, _ = views.slide_values(slide)
    eps255 = views.fitted("eps", values["eps"], views.EPS_CHOICES)
    steps = int(values["pgd_steps"])
    method = views.fitted("adv_method", values["adv_method"], [robustness_view.NO_METHOD, *METHODS.names()])
    for v in views.chosen_variants(values, pack):
        attack = robustness_view.pgd_of(pack, x, label, v, eps255, steps, fetch)
        if method != robustness_view.NO_METHOD:
            robustness_view.maps_of(pack, x, v, attack, eps255, steps, method, fetch)
        if values["spat"]:
            robustness_view.spat_of(pack, x, v, attack, eps255, steps, fetch)


def neurons(
    pack: Pack, x: torch.Tensor, label: Optional[int], slide: Mapping, fetch: Fetch, data_root=None
) -> None:
    """The image's channel probes and its saliency consensus (the per-layer sensitivity
    is the stored report's: a live one is a test-set run, not a slide's)."""
    values, _ = views.slide_values(slide)
    variants = views.chosen_variants(values, pack)
    if not variants:
        return
    layers = neurons_view.layer_choices(pack.models[variants[0]])
    own = [neurons_view.OWN, *variants]
    neurons_view.probes_of(
        pack,
        x,
        label,
        variants,
        views.fitted("neuron_layer", values["neuron_layer"], layers, layers[len(layers) // 2]),
        top_k=int(values["neuron_k"]),
        follow=views.fitted("neuron_follow", values["neuron_follow"], own, neurons_view.OWN),
        adversary=views.fitted("neuron_adv", values["neuron_adv"], own, neurons_view.OWN),
        fetch=fetch,
    )
    method = views.fitted("cons_method", values["cons_method"], METHODS.names())
    stored = neurons_view.stored_consensus(stored_report(pack))
    neurons_view.consensus_of(pack, x, label, variants, method, stored, fetch)


def sanity(
    pack: Pack, x: torch.Tensor, label: Optional[int], slide: Mapping, fetch: Fetch, data_root=None
) -> None:
    """Every (method, variant) unit of the randomisation checks and ROAD curves."""
    values, _ = views.slide_values(slide)
    variants = views.chosen_variants(values, pack)
    every = ordered_methods(METHODS.names())
    methods = ordered_methods(views.fitted("san_methods", values["san_methods"], every))
    if not variants or not methods:
        return
    san.compute_checks(
        {v: pack.models[v] for v in variants},
        "",
        "",
        x,
        label,
        methods,
        order=views.fitted("san_order", values["san_order"], list(san.ORDERS)),
        mode=views.fitted("san_target", values["san_target"], list(san.TARGET_MODES)),
        budgets={m: int(values[san.budget_key(m)]) for m in views.BUDGETS},
        fetch=fetch,
        cache=False,
    )


def continuity(
    pack: Pack, x: torch.Tensor, label: Optional[int], slide: Mapping, fetch: Fetch, data_root=None
) -> None:
    """Each variant's DS under the four perturbations at every level (the test-set means
    are the stored report's)."""
    values, _ = views.slide_values(slide)
    for v in views.chosen_variants(values, pack):
        single_image.ds_of(pack, x, v, fetch)


def embeddings(
    pack: Pack, x: torch.Tensor, label: Optional[int], slide: Mapping, fetch: Fetch, data_root=None
) -> None:
    """The projection with the test set's images of the image's class (an upload: the
    class the slide names, else the first variant's prediction). A folder's or files' set
    is the user's, chosen on the day: not precomputed."""
    values, _ = views.slide_values(slide)
    sources = [embeddings_view.TEST_SET, embeddings_view.FOLDER, embeddings_view.FILES]
    variants = views.chosen_variants(values, pack)
    if (
        not variants
        or views.fitted("same_source", values["same_source"], sources) != embeddings_view.TEST_SET
    ):
        return
    if label is None:
        label = values["upload_class"]
    if label is None:
        label = single_image.top_k(pack.models[variants[0]], x)[0][0]
    image = slide.get("image")
    index = image["index"] if isinstance(image, dict) else None  # x's own place in the test set
    embeddings_view.projection_of(
        pack,
        x,
        int(label),
        variants,
        load_gallery(pack.dataset, pack.input_size, data_root),
        int(index) if index is not None else None,
        count=int(values["same_count"]),
        level=views.fitted("level", values["level"], [1, 2, 3, 4]),
        method=views.fitted("projection", values["projection"], list(views.PROJECTIONS)),
        joint=bool(values["joint"]),
        fetch=fetch,
    )


PAGES: dict[str, SlideWork] = {
    "Robustness": robustness,
    "Neurons": neurons,
    "Sanity": sanity,
    "Continuity": continuity,
    "Embeddings": embeddings,
}
