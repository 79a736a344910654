"""The view of every page, declared once: each widget's key, default and query parameter.

`sc_viz.app.state` keeps these values for the whole visit (whatever page is shown, however
a run ends) and writes all of them into the URL, so a copied URL reopens the exact view
on any page. A new widget on a page gets one line here; query names are unique across
pages because one URL carries them all."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from sc_viz.app import links, sanity_view
from sc_viz.app.links import Field, flag, integer, names, number, text
from sc_viz.app.saliency_view import DEFAULT_METHODS, TARGET_CLASS, TARGET_LABEL
from sc_viz.explain import METHODS
from sc_viz.explain.base import budgeted
from sc_viz.explain.grid import ordered_methods
from sc_viz.explain.sanity import DEFAULT_FLAG_THRESHOLD, FLAG_SIMILARITY
from sc_viz.explain.settings import upgrade_budgets
from sc_viz.perturb import LEVELS
from sc_viz.variants import VARIANTS

BUDGETS = budgeted()  # method -> Budget: one slider per method with a cost knob, on two pages


def budget_fields(page: str) -> list[Field]:
    """The fields of every method's budget slider (explain.base.Budget) on the Saliency
    page (None = the pack's default, PACK_DEFAULTS) or the Sanity page ("san_" keys)."""
    if page == "saliency":
        return [Field(b.key, None, b.url, integer(*b.slider[:2])) for b in budgeted().values()]
    return [
        Field(sanity_view.budget_key(m), b.defaults["sanity"], f"s{b.url}", integer(*b.sanity_slider[:2]))
        for m, b in budgeted().items()
    ]


PROJECTIONS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
EPS_CHOICES = [0, 1, 2, 4, 8, 16]  # PGD budgets offered on the Robustness page, in 1/255
GALLERY, UPLOAD = "Gallery", "Upload"


def _gallery(values: Mapping) -> bool:
    return values.get("img_source") != UPLOAD


# The sidebar, drawn on every page (app.py).
SIDEBAR = [
    Field("present", False, "present", flag()),
    Field("pack_folder", "", "packs", text()),
    Field("pack", None, "pack", text()),  # the pack's label in the picker (its folder name)
    Field("img_source", GALLERY, "src", text()),
    Field("img_class", 0, None, integer()),  # follows the linked image (img)
    Field("img_index", None, "img", integer(), when=_gallery),
    # The chosen variants, shared by every page: None = all of the pack's variants.
    Field("variants", None, "v", names()),
    # Prepared decks (sc_viz.app.deck_view): where "Add to the talk" writes, the deck shown.
    Field("talk", "talk.json", "talk", text()),
    Field("deck", "", "deck", text()),
]

SALIENCY = [
    Field("methods", tuple(ordered_methods(DEFAULT_METHODS)), "m", names()),
    Field("target_mode", TARGET_LABEL, "mode", text()),
    Field(
        "target_class",
        0,
        "target",
        integer(0, 100_000),
        when=lambda values: values.get("target_mode") == TARGET_CLASS,
    ),
    # Each method's budget (IG steps, LIME samples ...: explain.base.Budget). None = the
    # pack's default (PACK_DEFAULTS): fewer at 224 px, so a grid stays under a minute.
    *budget_fields("saliency"),
    Field("opacity", 0.5, "opacity", number(0.0, 1.0)),
    Field("with_measures", True, "measures", flag()),
]

EMBEDDINGS = [
    Field("projection", "pca", "proj", text()),
    Field("level", 1, "level", integer(1, 4)),
    Field("same_count", 200, "n", integer(5, 500)),
    Field("joint", False, "shared", flag()),
    Field("shown_perturbations", tuple(LEVELS), "pert", names()),
    # Where the same-class images come from: the test set, a folder (its path) or uploads.
    Field("same_source", "test", "same", text()),
    Field("same_folder", "", "samedir", text(), when=lambda values: values.get("same_source") == "folder"),
    # The class an upload is compared with; None = the first variant's prediction.
    Field(
        "upload_class",
        None,
        "cls",
        integer(0, 100_000),
        when=lambda values: values.get("img_source") == UPLOAD,
    ),
]

CONTINUITY: list[Field] = []  # the sidebar's fields and the shared variants only

ROBUSTNESS = [
    Field("eps", 8, "eps", integer(0, 255)),
    Field("pgd_steps", 10, "steps", integer(1, 20)),
    Field("adv_method", METHODS.names()[0], "adv", text()),
    Field("spat", False, "spat", flag()),  # SPAT's shared-pixel attack beside PGD's
]

# Neurons: None/"own" = fitted on the page (the pack's layers and variants are not known here).
NEURONS = [
    Field("neuron_layer", None, "layer", text()),
    Field("neuron_k", 6, "k", integer(1, 16)),
    Field("neuron_follow", "own", "follow", text()),  # "own" or the variant whose channels all show
    Field("neuron_adv", "own", "xadv", text()),  # "own" or the variant whose PGD x' all get
    Field("neuron_sample", 200, "sample", integer(10, 10_000)),
    Field("cons_method", METHODS.names()[0], "cm", text()),
    Field("cons_kind", "pgd", "ck", text()),
    Field("cons_measure", "spearman", "cs", text()),
]

# Sanity: the cheap methods by default; LIME only when chosen (slow through the cascade).
SANITY = [
    Field("san_methods", sanity_view.default_methods(), "sm", names()),
    Field("san_target", sanity_view.TARGET_PREDICTED, "st", text()),
    Field("san_order", "cascading", "so", text()),
    Field("san_measure", FLAG_SIMILARITY, "smeas", text()),
    Field("san_threshold", DEFAULT_FLAG_THRESHOLD, "sflag", number(0.0, 1.0)),
    *budget_fields("sanity"),
]

# Fields whose default depends on the pack: {key: input size (None: no pack) -> the value a
# widget shows while the view holds None}. The URL leaves them out while they are None, so
# a link without them opens every pack with its own default (state.bind's `default`).
PACK_DEFAULTS = {b.key: partial(b.default, "interactive") for b in BUDGETS.values()}

ALL = [*SIDEBAR, *SALIENCY, *EMBEDDINGS, *CONTINUITY, *ROBUSTNESS, *NEURONS, *SANITY]
BY_KEY = {f.key: f for f in ALL}
assert len(BY_KEY) == len(ALL), "a widget key is declared twice"
assert len({f.url for f in ALL if f.url}) == len([f for f in ALL if f.url]), "a query name is used twice"


def upgrade_link(values: dict) -> dict:
    """Links written before the target mode had its own parameter: `target=N` alone meant
    'explain class N'."""
    if "target_class" in values and "target_mode" not in values:
        values["target_mode"] = TARGET_CLASS
    return values


def query_of(values: Mapping) -> dict[str, str]:
    """The URL parameters of a whole view."""
    return links.to_query(values, ALL)


def fitted(key: str, current, options, fallback=None):
    """The value the widget of `key` shows for the stored `current`, given its `options`
    (state.bind's rule): a list keeps its offered items (None = `fallback`'s offered ones;
    none offered = the fallback, else the field's default); a single value not offered
    becomes `fallback`, else the field's default if offered, else the first option."""
    field, options = BY_KEY[key], list(options)
    if isinstance(current, (list, tuple)) or (current is None and isinstance(fallback, list)):
        if current is None:  # "all" (the variants' default)
            return [o for o in options if o in fallback]
        kept, _ = links.keep_known(current, options)
        if not kept and current:  # none of them is offered here (e.g. another pack)
            default = fallback if fallback is not None else field.default or ()
            return [o for o in default if o in options]
        return kept
    if current in options:
        return current
    for candidate in (fallback, field.default):
        if candidate in options:
            return candidate
    return options[0] if options else None


KEPT = ("present", "pack_folder", "talk", "deck")  # a deck slide leaves these as they are


def slide_values(raw: Mapping) -> tuple[dict, list[str]]:
    """({view key: value}, [what was ignored]) a talk slide (sc_viz.deck.talk) sets, as a
    link would: every other value back to its default, then the slide's view and its pack,
    image and (Saliency) grid settings, each checked by its field's codec (a value no
    widget offers, e.g. LIME samples below the slider's minimum, is ignored and named,
    never set)."""
    settings = upgrade_budgets(raw["settings"]) if raw.get("settings") else None
    pack = settings["pack"] if settings else raw.get("pack")
    image = settings["image"] if settings else raw.get("image")
    wanted = {"pack": str(pack)}
    if isinstance(image, dict):
        wanted.update(img_source=GALLERY, img_index=int(image["index"]))
    elif isinstance(image, str):
        wanted["img_source"] = UPLOAD
    if settings:
        wanted.update(
            variants=list(settings["variants"]) if settings.get("variants") else None,
            methods=list(settings["methods"]),
            target_mode=settings["target_mode"],
            target_class=settings.get("target_class"),
            **{BUDGETS[m].key: int(n) for m, n in settings["budgets"].items() if m in BUDGETS},
            opacity=float(settings["opacity"]),
        )
    query = {**(raw.get("view") or {}), **links.to_query(wanted, ALL)}
    linked, ignored = links.parse_query(query, ALL)
    values = {f.key: f.fresh_default() for f in ALL if f.key not in KEPT}
    values.update(upgrade_link(linked), present=True)
    return values, ignored


def default_variants(pack) -> list[str]:
    """The variants picker's default: the paper's four (the registry's "paper" group) when
    the pack has them, else all (an imported pack's names are the user's, e.g. "standard"
    and "robust": all of them)."""
    available = list(pack.models)
    if pack.manifest.get("source") == "import":
        return available
    paper = [v for v in available if v in VARIANTS and VARIANTS[v].group == "paper"]
    return paper or available


def chosen_variants(values: Mapping, pack) -> list[str]:
    """The variants a view shows (state.bind's fit of its "variants"), in the pack's order."""
    chosen = fitted("variants", values.get("variants"), list(pack.models), default_variants(pack))
    return [v for v in pack.models if v in chosen]
