"""What the home page lists: the packs found, each variant's status/config/metrics from its
manifest, training curves from its train_log.jsonl, and the device in use.

Reads manifests only (no weights), so a broken pack is described, not fatal."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from sc_viz.packs import (
    MANIFEST,
    TRAIN_LOG,
    PackError,
    find_packs,
    ordered_variants,
    read_jsonl,
    read_manifest,
)

PACKS_ENV = "SC_VIZ_PACKS"  # os.pathsep-separated extra folders holding packs
DEMO_PACK_NAME = "cifar10-resnet20"
# The training-config keys worth a column on the home page (the rest stay in the JSON view).
CONFIG_KEYS = ("epochs", "optimizer", "lr", "batch_size", "lam", "attack_eps", "init", "seed")
CURVE_METRICS = ("loss", "train_acc", "test_acc", "test_pgd_acc")


def pack_roots(repo_root: Path, typed: Optional[str] = None) -> list[Path]:
    """checkpoints/ of the repo and of the working directory, $SC_VIZ_PACKS, the typed folder."""
    roots = [Path(repo_root) / "checkpoints", Path.cwd() / "checkpoints"]
    roots += [Path(p).expanduser() for p in os.environ.get(PACKS_ENV, "").split(os.pathsep) if p]
    if typed and typed.strip():
        roots.append(Path(typed.strip()).expanduser())
    return roots


def discover_packs(roots: Iterable[Path]) -> list[Path]:
    """Pack folders under the roots, deduplicated, in root order; unreadable roots skipped."""
    seen, out = set(), []
    for root in roots:
        try:
            found = find_packs(root)
        except OSError:
            continue
        for p in found:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                out.append(p)
    return out


def holds_packs(typed: str, packs: Iterable[Path]) -> bool:
    """Whether the typed folder is one of `packs` or holds one of them."""
    folder = Path(typed.strip()).expanduser().resolve()
    return any(folder in (p.resolve(), p.resolve().parent) for p in packs)


def linked_pack_folder(wanted: Optional[str]) -> Optional[Path]:
    """A `pack=` value that is a path (it holds a '/' or starts with '~'), when that folder
    holds a pack: the folder; else None (a pack's name, or a path without a pack)."""
    if not wanted or not (os.sep in wanted or "/" in wanted or wanted.startswith("~")):
        return None
    folder = Path(wanted.strip()).expanduser()
    try:
        return folder if (folder / MANIFEST).is_file() else None
    except OSError:
        return None


def pack_labels(paths: Iterable[Path], opened: Optional[Mapping[str, Path]] = None) -> dict[str, Path]:
    """{label: pack folder}: the folder's name, or its full path when two packs share a name
    (the label is what the picker shows and the deep link's `pack=` carries). A pack
    opened by a path (`opened`: {the path as given: folder}) keeps that path as its label,
    so a copied link finds it again."""
    paths = list(paths)
    names = [p.name for p in paths]
    by_folder = {folder.resolve(): given for given, folder in (opened or {}).items()}
    labels = {}
    for p in paths:
        label = by_folder.get(p.resolve()) or (p.name if names.count(p.name) == 1 else str(p))
        labels[label] = p
    return labels


def default_pack(paths: list[Path], wanted: Optional[str] = None) -> Optional[Path]:
    """The pack named `wanted` (a deep link), else the demo pack, else the first."""
    for name in (wanted, DEMO_PACK_NAME):
        for p in paths:
            if name and p.name == name:
                return p
    return paths[0] if paths else None


@dataclass
class PackSummary:
    path: Path
    manifest: Optional[dict]
    error: Optional[str] = None  # why the manifest could not be read

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class PackCard:
    """What the Models page shows for one pack."""

    summary: PackSummary
    rows: list[dict]  # one per variant (variant_rows)
    load_errors: list[str]  # the pack's, or each variant's that did not load
    curves: dict  # training_curves


def pack_card(path: Path, load: Callable[[Path], tuple]) -> PackCard:
    """The Models page's view of a pack: manifest summary, variant rows, why the pack or a
    variant does not load (`load(path)` -> (pack, error), the app's cached loader), curves."""
    summary = summarize(path)
    if summary.error:
        return PackCard(summary, [], [], {})
    pack, error = load(path)
    errors = [error] if error else []
    errors += [f"{variant} not loaded: {why}" for variant, why in (pack.errors.items() if pack else [])]
    return PackCard(summary, variant_rows(summary.manifest), errors, training_curves(path))


def summarize(path: Path) -> PackSummary:
    try:
        return PackSummary(path, read_manifest(path))
    except PackError as err:
        return PackSummary(path, None, str(err))
    except OSError as err:
        return PackSummary(path, None, f"{path}: cannot be read ({err})")


def variant_rows(manifest: dict) -> list[dict]:
    """One row per variant: status, epochs, the main config keys and the stored metrics."""
    rows = []
    for variant in ordered_variants(manifest.get("variants", {})):
        entry = manifest["variants"][variant]
        entry = entry if isinstance(entry, dict) else {}
        cfg = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        metrics = entry.get("metrics") if isinstance(entry.get("metrics"), dict) else {}
        row = {
            "variant": variant,
            "status": entry.get("status", "?"),
            "epochs_done": entry.get("epochs_done", cfg.get("epochs")),
        }
        row.update({k: cfg.get(k) for k in CONFIG_KEYS})
        row.update({k: v for k, v in metrics.items() if isinstance(v, (int, float, str))})
        rows.append(row)
    return rows


def training_curves(pack_dir: Path) -> dict[str, dict[str, list]]:
    """{metric: {"epoch": [...], <variant>: [...]}} from train_log.jsonl, aligned by epoch.

    A resumed run may log an epoch twice; the last record of an epoch wins."""
    last: dict[tuple[str, int], dict] = {}
    for rec in read_jsonl(Path(pack_dir) / TRAIN_LOG):
        if isinstance(rec, dict) and isinstance(rec.get("epoch"), int) and rec.get("variant"):
            last[(str(rec["variant"]), rec["epoch"])] = rec
    epochs = sorted({e for _, e in last})
    variants = ordered_variants({v for v, _ in last})
    curves = {}
    for metric in CURVE_METRICS:
        table = {"epoch": epochs}
        for v in variants:
            table[v] = [_number(last.get((v, e), {}).get(metric)) for e in epochs]
        if any(x is not None for v in variants for x in table[v]):
            curves[metric] = table
    return curves


def _number(x):
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def device_description(device: Optional[torch.device] = None) -> str:
    """'GPU: <name>' when CUDA is used, else 'CPU (<n> threads)'."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    return f"CPU ({torch.get_num_threads()} threads)"
