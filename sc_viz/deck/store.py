"""A deck on disk: a folder with `manifest.json` and one safetensors file per computed unit
of a Saliency slide (one method's maps for one variant, or for all of a slide's variants
where the method shares its work: LIME), and one file per piece of another page's work
(sc_viz.deck.work: a variant's PGD, a sanity unit ...).

Each unit is found by `unit_key`, a hash of everything its maps depend on: the method and
its options, the class explained, the image's pixels and the sha256 of each variant's
weights. So the deck is a cache, not a screenshot: a view changed in the middle of a talk
misses it and is computed live, and a deck built for other weights can never show their
maps (the app also says so: `weights_note`).

A build writes `"state": "building"` first and `"complete"` last, every file and every
manifest atomically; a deck left half-written (Ctrl-C, a crash) is refused by
`open_deck` and finished by the next build, which keeps the units whose files verify."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from sc_viz.deck.work import decode_result, encode_result
from sc_viz.explain.base import Explanation
from sc_viz.packs import atomic_write_bytes, atomic_write_json

FORMAT = "sc-viz-deck/1"
MANIFEST = "manifest.json"
CELLS = "cells"  # Saliency units (safetensors)
RESULTS = "results"  # other pages' work (sc_viz.deck.work), torch.save files
BUILDING, COMPLETE = "building", "complete"


class DeckError(ValueError):
    """A deck that cannot be shown; the message says why and how to rebuild it."""


def image_sha256(x: torch.Tensor) -> str:
    """The image's identity for the deck: its float32 pixels (1, 3, S, S), whatever file or
    test index they came from."""
    x = x.detach().reshape(1, *x.shape[-3:]).to("cpu", torch.float32).contiguous()
    h = hashlib.sha256(str(tuple(x.shape)).encode())
    h.update(x.numpy().tobytes())
    return h.hexdigest()


def unit_key(
    method: str, options: dict, target: Optional[int], weights: list[tuple[str, str]], image_sha: str
) -> str:
    """The key of one unit: `weights` is [(variant, sha256 of its weights file)] in order."""
    spec = {
        "format": FORMAT,
        "method": method,
        "options": options,
        "target": target,
        "weights": [list(w) for w in weights],
        "image": image_sha,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def encode_unit(cells: dict[str, Explanation]) -> bytes:
    """variant -> Explanation as safetensors bytes: maps and tensor extras as tensors, the
    rest (method, target, signed, scalar extras) in the metadata."""
    tensors, meta = {}, {}
    for v, exp in cells.items():
        tensors[f"{v}/map"] = exp.map.detach().cpu().clone()  # clone: no shared storage
        extras = {}
        for k, val in exp.extras.items():
            if isinstance(val, torch.Tensor):
                tensors[f"{v}/extra/{k}"] = val.detach().cpu().clone()  # LIME shares segments
            elif _plain(val):
                extras[k] = val
        meta[v] = {
            "method": exp.method,
            "target": int(exp.target),
            "signed": bool(exp.signed),
            "extras": extras,
        }
    return st_save(tensors, metadata={"cells": json.dumps(meta)})


def decode_unit(data: bytes) -> dict[str, Explanation]:
    tensors = st_load(data)
    meta = json.loads(_metadata(data)["cells"])
    out = {}
    for v, m in meta.items():
        extras = dict(m["extras"])
        prefix = f"{v}/extra/"
        extras.update({k[len(prefix) :]: t for k, t in tensors.items() if k.startswith(prefix)})
        out[v] = Explanation(m["method"], m["target"], tensors[f"{v}/map"], extras, m["signed"])
    return out


def _metadata(data: bytes) -> dict:
    """The safetensors header's __metadata__ (its first 8 bytes give the header's length;
    safetensors.torch.load returns the tensors only, and safe_open needs a file)."""
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + n]).get("__metadata__", {})


@dataclass
class Deck:
    path: Path
    manifest: dict
    misses: list[str] = field(default_factory=list)  # units that failed their check when read

    @property
    def slides(self) -> list[dict]:
        return self.manifest["slides"]

    @property
    def talk(self) -> list[dict]:
        return self.manifest["talk"]["slides"]

    def _verified(self, key: str) -> Optional[bytes]:
        entry = self.manifest["entries"].get(key)
        if entry is None:
            return None
        try:
            data = (self.path / entry["file"]).read_bytes()
        except (OSError, KeyError):
            data = None
        if data is None or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            self.misses.append(key)
            return None
        return data

    def get(self, key: str) -> Optional[dict[str, Explanation]]:
        """The unit's maps, or None when the deck does not hold it (or its file fails its
        check: then computed live, never shown wrong)."""
        data = self._verified(key)
        if data is None:
            return None
        try:
            return decode_unit(data)
        except (SafetensorError, KeyError, ValueError):
            self.misses.append(key)
            return None

    def get_result(self, key: str) -> Optional[Any]:
        """Another page's piece of work (sc_viz.deck.work), or None as `get`. Anything the
        restricted unpickler refuses counts as missing too."""
        data = self._verified(key)
        if data is None:
            return None
        try:
            return decode_result(data)
        except Exception:  # noqa: BLE001 - any refusal or damage: computed live instead
            self.misses.append(key)
            return None

    def weights_note(self, pack_path: Union[str, Path], current: dict[str, str]) -> Optional[str]:
        """None when every slide on this pack was built for these weights ({variant: sha256});
        else one line naming the variants whose weights changed."""
        pack_path = str(Path(pack_path).resolve())
        changed = set()
        for slide in self.slides:
            if str(Path(slide["pack"]).resolve()) != pack_path:
                continue
            changed |= {v for v, sha in slide["weights"].items() if current.get(v, sha) != sha}
        if not changed:
            return None
        return (
            f"This deck was built for other weights of {', '.join(sorted(changed))} "
            f"({Path(pack_path).name}): its results for them are not shown, they are computed live. "
            f"Rebuild it: sc-viz deck build TALK --out {self.path}"
        )


def read_manifest(path: Path) -> Optional[dict]:
    try:
        data = json.loads((Path(path) / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def open_deck(path: Union[str, Path]) -> Deck:
    """A finished deck; DeckError (one line, with the rebuild command) for a folder that is
    not a deck, or one whose build did not finish or whose files are missing."""
    path = Path(path).expanduser()
    rebuild = f"run `sc-viz deck build TALK --out {path}` to finish it"
    if not (path / MANIFEST).is_file():
        raise DeckError(f"{path}: no deck here (no {MANIFEST})")
    manifest = read_manifest(path)
    if manifest is None:
        raise DeckError(f"{path}: {MANIFEST} is not a deck manifest ({FORMAT}); {rebuild}")
    if manifest.get("state") != COMPLETE:
        raise DeckError(f"{path}: this deck is half-written (its build was interrupted); {rebuild}")
    missing = [e["file"] for e in manifest["entries"].values() if not (path / e["file"]).is_file()]
    if missing:
        raise DeckError(f"{path}: {len(missing)} of its files are missing ({missing[0]}); {rebuild}")
    return Deck(path, manifest)


class DeckWriter:
    """Writes a deck: `start` (state building, keeps the verified units of an earlier or
    interrupted build), `put` per unit, `finish` (drops units no slide uses, state complete)."""

    def __init__(self, path: Union[str, Path], talk: dict) -> None:
        self.path = Path(path).expanduser()
        self.manifest = {"format": FORMAT, "state": BUILDING, "talk": talk, "slides": [], "entries": {}}

    def start(self) -> int:
        """Returns how many units of an earlier build are kept."""
        old = read_manifest(self.path)
        for key, entry in (old or {}).get("entries", {}).items():
            f = self.path / str(entry.get("file", ""))
            try:
                if f.is_file() and hashlib.sha256(f.read_bytes()).hexdigest() == entry.get("sha256"):
                    self.manifest["entries"][key] = entry
            except OSError:
                continue
        atomic_write_json(self.path / MANIFEST, self.manifest)
        return len(self.manifest["entries"])

    def has(self, key: str) -> bool:
        return key in self.manifest["entries"]

    def get_result(self, key: str) -> Optional[Any]:
        """A piece of work this build (or the earlier one it continues) stored; None when
        missing or unreadable (then computed again)."""
        return Deck(self.path, self.manifest).get_result(key)

    def put(self, key: str, cells: dict[str, Explanation]) -> None:
        self._write(key, encode_unit(cells), f"{CELLS}/{key}.safetensors")

    def put_result(self, key: str, value: Any) -> None:
        self._write(key, encode_result(value), f"{RESULTS}/{key}.pt")

    def _write(self, key: str, data: bytes, name: str) -> None:
        atomic_write_bytes(self.path / name, data)
        self.manifest["entries"][key] = {"file": name, "sha256": hashlib.sha256(data).hexdigest()}
        atomic_write_json(self.path / MANIFEST, self.manifest)  # an interrupted build keeps it

    def finish(self, slides: list[dict]) -> Deck:
        used = {k for s in slides for k in s["units"]}
        for key in set(self.manifest["entries"]) - used:
            (self.path / self.manifest["entries"].pop(key)["file"]).unlink(missing_ok=True)
        self.manifest.update(slides=slides, state=COMPLETE)
        atomic_write_json(self.path / MANIFEST, self.manifest)
        return Deck(self.path, self.manifest)
