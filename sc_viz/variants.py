"""The four model variants of METHOD.md, as data: which loss terms each training step has."""
from __future__ import annotations

from dataclasses import dataclass

from .registry import Registry


@dataclass(frozen=True)
class VariantSpec:
    adversarial_ce: bool  # classification loss on PGD(x) instead of x (Madry)
    continuity_photometric: bool  # lambda * ||f(x) - f(T(x))||^2, T photometric
    continuity_adversarial: bool  # lambda * ||f(x) - f(PGD(x))||^2
    description: str


VARIANTS: Registry[VariantSpec] = Registry("variant")
VARIANTS.add("standard", VariantSpec(False, False, False, "cross-entropy on clean images"))
VARIANTS.add("c", VariantSpec(False, True, False,
                              "clean cross-entropy + continuity on (x, photometric T(x))"))
VARIANTS.add("adv", VariantSpec(True, False, False, "Madry adversarial training (CE on PGD(x))"))
VARIANTS.add("advc", VariantSpec(True, True, True,
                                 "adversarial CE + continuity on (x, PGD(x)) and (x, T(x))"))
