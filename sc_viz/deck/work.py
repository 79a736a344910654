"""The computations of the pages other than Saliency, as a deck holds them.

A page's slide computes a few named pieces of work (the Robustness page: each variant's
PGD, each variant's clean and adversarial maps, SPAT's attack). Each is a `Work`: its name,
the parameters that fix its result, and the variants whose weights it reads. The page and
`sc-viz deck build` both ask for a piece through a `Fetch` (`fetch(work, compute)`): the
build computes and stores it, the app takes it from the deck when the deck holds it and
computes it otherwise. Keys add the variants' weights sha256 and the image's pixels
(`work_key`), as the Saliency units' do, so a changed view or other weights miss.

Results are Python objects (dataclasses of tensors, floats and lists). They are stored with
`torch.save` and read with `torch.load(weights_only=True)`: torch's restricted unpickler,
which builds only tensors, plain containers and the classes named in `RESULT_TYPES`, so a
deck from someone else cannot run code when it is opened (a plain pickle could)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

FORMAT = "sc-viz-deck-work/1"

RESULT_TYPES: list[type] = []  # the classes a stored result may contain (`result_type`)


def result_type(cls: type) -> type:
    """Class decorator: instances may be stored in a deck (and read back by the restricted
    unpickler). Only plain data classes: tensors, numbers, strings, lists, dicts."""
    if cls not in RESULT_TYPES:
        RESULT_TYPES.append(cls)
    return cls


@dataclass(frozen=True)
class Work:
    """One piece of a page's computation: `name` (page.piece), `params` (JSON values: what
    fixes the result besides the weights and the image) and `variants` (whose weights)."""

    name: str
    params: dict = field(default_factory=dict)
    variants: tuple[str, ...] = ()

    def params_json(self) -> str:
        return json.dumps(self.params, sort_keys=True, default=str)

    def key(self, weights: list[tuple[str, str]], image_sha: str) -> str:
        """`weights`: [(variant, sha256 of its weights file)] for `variants`, in order."""
        spec = {
            "format": FORMAT,
            "name": self.name,
            "params": self.params,
            "weights": [list(w) for w in weights],
            "image": image_sha,
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def key_in(self, pack, image_sha: str) -> str:
        """The key with the weights of `pack` (anything with `weights_sha256(variant)`)."""
        return self.key([(v, pack.weights_sha256(v)) for v in self.variants], image_sha)


Fetch = Callable[[Work, Callable[[], Any]], Any]  # fetch(work, compute) -> the work's result


def compute_now(work: Work, compute: Callable[[], Any]) -> Any:
    """The Fetch that computes every piece (no deck, no cache)."""
    return compute()


def encode_result(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def decode_result(data: bytes) -> Any:
    """A stored result; raises (pickle.UnpicklingError, RuntimeError ...) on anything that
    is not tensors, plain containers or a class in `RESULT_TYPES`, and ValueError on an
    object written before its class gained a field (a deck older than this code)."""
    with torch.serialization.safe_globals(list(RESULT_TYPES)):
        value = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    _check_complete(value)
    return value


def _check_complete(value: Any) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        missing = [f.name for f in dataclasses.fields(value) if f.name not in vars(value)]
        if missing:
            raise ValueError(f"stored {type(value).__name__} lacks {', '.join(missing)}")
        for f in dataclasses.fields(value):
            _check_complete(getattr(value, f.name))
    elif isinstance(value, dict):
        for item in value.values():
            _check_complete(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_complete(item)
