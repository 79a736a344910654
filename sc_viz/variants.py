"""The model variants as data: which loss terms each training step has, and how the app,
the CLI and the report name, order, colour and group them. This registry is the one source
of variant names: every list of variants in the code is derived from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sc_viz.registry import Registry


@dataclass(frozen=True)
class VariantSpec:
    """A variant: the objective terms of its training step (names in
    sc_viz.training.objectives.OBJECTIVES, summed as described there) and the generator of
    its "adv" view (sc_viz.training.generators.GENERATORS), plus how it is shown."""

    terms: tuple[str, ...]
    description: str
    colour: str = "#7f7f7f"  # one colour per variant in every figure (app and report)
    group: str = "paper"  # "paper" (the four of the project's paper) or "related"
    generator: Optional[str] = None  # makes the "adv" view x'; None: the variant has none

    @property
    def adversarial(self) -> bool:
        """Trains on generated examples (its PGD accuracy is watched after every epoch)."""
        return self.generator is not None


VARIANTS: Registry[VariantSpec] = Registry("variant")
VARIANTS.add("standard", VariantSpec(("clean_ce",), "cross-entropy on clean images", colour="#636efa"))
VARIANTS.add(
    "c",
    VariantSpec(
        ("clean_ce", "photometric_continuity"),
        "clean cross-entropy + continuity on (x, photometric T(x))",
        colour="#00cc96",
    ),
)
VARIANTS.add(
    "adv",
    VariantSpec(("adv_ce",), "Madry adversarial training (CE on PGD(x))", colour="#ef553b", generator="pgd"),
)
VARIANTS.add(
    "advc",
    VariantSpec(
        ("adv_ce", "photometric_continuity", "adversarial_continuity"),
        "adversarial CE + continuity on (x, PGD(x)) and (x, T(x))",
        colour="#ab63fa",
        generator="pgd",
    ),
)
# The related methods (docs/related_methods.md): only their abstracts are available, so
# the details are the project's reading of them.
VARIANTS.add(
    "spat",
    VariantSpec(
        ("adv_ce",),
        "SPAT: CE on shared-pixel PGD-3(x), steps scaled by a mask of pixels shared "
        "among the classes; compared with adv at the same PGD-3 budget (our reading)",
        colour="#ffa15a",
        group="related",
        generator="shared_pixel_pgd",
    ),
)
VARIANTS.add(
    "sns",
    VariantSpec(
        ("adv_ce", "sensitivity"),
        "SNS: adversarial CE + lambda_s * sensitivity of each layer's top-10% "
        "channels between x and PGD(x) (our reading)",
        colour="#19d3f3",
        group="related",
        generator="pgd",
    ),
)
VARIANTS.add(
    "gsct",
    VariantSpec(
        ("clean_ce", "adv_ce", "saliency_consensus", "pseudo_ce"),
        "Adv-GSCT: CE on x, a one-step offending x_o and a pseudo-input + lambda_g * saliency consensus "
        "with x_o, the saliency through train-mode BatchNorm (double backprop; our reading)",
        colour="#8c564b",  # brown: apart from adv red (was pink #ff6692)
        group="related",
        generator="offending",
    ),
)

UNKNOWN_COLOUR = "#7f7f7f"


def variant_colour(name: str) -> str:
    """The registry's colour of a variant; grey for a name the registry does not know
    (an imported model's variant, e.g. "robust")."""
    return VARIANTS[name].colour if name in VARIANTS else UNKNOWN_COLOUR


def variant_order(names) -> list[str]:
    """`names` in the registry's order (paper group first, then related), unknown names
    after them alphabetically."""
    known = VARIANTS.names()
    ranked = sorted(known, key=lambda v: (VARIANTS[v].group != "paper", known.index(v)))
    return sorted(names, key=lambda v: (ranked.index(v) if v in ranked else len(ranked), v))
