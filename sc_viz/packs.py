"""Checkpoint packs: `checkpoints/<name>/manifest.json` + one `<variant>.safetensors` per
variant (weights only, never a pickle) + a JSON-lines training log + resume state.

Every weights file carries its own training config and the pack's model facts in the
safetensors metadata, so a model can be rebuilt from its file alone (`load_model_file`).
All writes go to a temporary file first and are renamed into place (atomic on POSIX), so
a crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from sc_viz.models import ARCHS, GRADCAM_RESHAPES, Classifier, build_model
from sc_viz.variants import variant_order

FORMAT = "sc-viz-pack/1"
MANIFEST = "manifest.json"
TRAIN_LOG = "train_log.jsonl"
RESUME_DIR = ".resume"
# Files above this are not weights of any supported model; refuse before reading them.
MAX_WEIGHTS_BYTES = 2 * 1024**3


class PackError(ValueError):
    """A pack or checkpoint file that cannot be used; the message names the file."""


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ---------------------------------------------------------------- atomic writes
def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; packs are shared read-only files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def append_jsonl(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: Path) -> list[dict]:
    if not Path(path).exists():
        return []
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a crash
            continue
    return out


# ---------------------------------------------------------------- manifest
REQUIRED_FIELDS = {
    "dataset": str,
    "arch": str,
    "classes": list,
    "input_size": int,
    "mean": list,
    "std": list,
    "variants": dict,
}


def read_manifest(pack_dir: Path) -> dict:
    path = Path(pack_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise PackError(f"{path}: no manifest.json (is this a pack folder?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PackError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(manifest, dict):
        raise PackError(f"{path}: the manifest must be a JSON object")
    for key, typ in REQUIRED_FIELDS.items():
        if key not in manifest:
            raise PackError(f"{path}: missing field {key!r}")
        if not isinstance(manifest[key], typ) or (typ is int and isinstance(manifest[key], bool)):
            raise PackError(
                f"{path}: field {key!r} must be {typ.__name__}, got {type(manifest[key]).__name__}"
            )
    if manifest["arch"] not in ARCHS:
        raise PackError(f"{path}: unknown arch {manifest['arch']!r}")
    if not all(isinstance(c, str) for c in manifest["classes"]) or not manifest["classes"]:
        raise PackError(f"{path}: 'classes' must be a non-empty list of names")
    if manifest["input_size"] < 1:
        raise PackError(f"{path}: field 'input_size' must be positive, got {manifest['input_size']}")
    for key in ("mean", "std"):  # the Normalize layer's 3 channel values
        values = manifest[key]
        if len(values) != 3 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
        ):
            raise PackError(f"{path}: field {key!r} must be 3 numbers, got {values!r}")
        if key == "std" and not all(v > 0 for v in values):
            raise PackError(f"{path}: field 'std' must be positive, got {values!r}")
    check_optional_model_facts(manifest, path)
    return manifest


def new_manifest(dataset: str, arch: str, classes: list[str], input_size: int, mean, std) -> dict:
    return {
        "format": FORMAT,
        "dataset": dataset,
        "arch": arch,
        "classes": list(classes),
        "num_classes": len(classes),
        "input_size": int(input_size),
        "mean": list(mean),
        "std": list(std),
        "variants": {},
    }


def check_pack_target(pack_dir: Path, dataset: str, arch: str) -> Optional[dict]:
    """Refuse an output folder that holds another pack (other dataset or arch)."""
    if not (Path(pack_dir) / MANIFEST).exists():
        return None
    manifest = read_manifest(pack_dir)
    if manifest["dataset"] != dataset or manifest["arch"] != arch:
        raise PackError(
            f"{Path(pack_dir) / MANIFEST} belongs to another pack ({manifest['dataset']}/"
            f"{manifest['arch']}, not {dataset}/{arch}); choose another --out"
        )
    return manifest


def variant_file(pack_dir: Path, entry: Any, variant: str) -> Path:
    """The weights path of a manifest entry, refused if it escapes the pack folder."""
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise PackError(f"{Path(pack_dir) / MANIFEST}: variant {variant!r} has no 'file' string")
    name = entry["file"]
    root = Path(pack_dir).resolve()
    if os.path.isabs(name) or ".." in Path(name).parts:
        raise PackError(
            f"{Path(pack_dir) / MANIFEST}: variant {variant!r} file {name!r} is outside the pack folder"
        )
    path = (root / name).resolve()  # follows symlinks
    if root not in path.parents:
        raise PackError(f"{root / name}: resolves outside the pack folder (symlink?)")
    return path


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a weights file, remembered per (path, size, mtime): a 100 MB ResNet-50
    file is read once per change, not on every lookup."""
    st_ = Path(path).stat()
    key = (str(Path(path).resolve()), st_.st_size, st_.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


# ---------------------------------------------------------------- weights files
MODEL_FACTS = ("dataset", "arch", "classes", "input_size", "mean", "std")
# Facts only some packs have (imported models): the library constructor's keywords and a
# Grad-CAM layer (inside the backbone) + reshape other than the architecture's own.
OPTIONAL_MODEL_FACTS = ("arch_options", "gradcam_layer", "gradcam_reshape")


def model_facts(manifest: dict) -> dict:
    """What a weights file records about its model (the `model` part of its metadata),
    taken from the manifest of the pack it belongs to: enough to rebuild the model alone."""
    facts = {k: manifest[k] for k in MODEL_FACTS}
    facts.update({k: manifest[k] for k in OPTIONAL_MODEL_FACTS if manifest.get(k) is not None})
    return facts


def check_optional_model_facts(facts: dict, where) -> None:
    """PackError unless the optional facts, where present, have their documented shapes."""

    options = facts.get("arch_options", {})
    json_values = (int, float, str, bool, list, type(None))
    if not isinstance(options, dict) or not all(
        isinstance(k, str) and k.isidentifier() and isinstance(v, json_values) for k, v in options.items()
    ):
        raise PackError(f"{where}: field 'arch_options' must map keyword names to JSON values")
    if not isinstance(facts.get("gradcam_layer", ""), str):
        raise PackError(f"{where}: field 'gradcam_layer' must be a dotted module name")
    if facts.get("gradcam_reshape") not in GRADCAM_RESHAPES:
        raise PackError(f"{where}: field 'gradcam_reshape' must be one of {GRADCAM_RESHAPES}")


def build_pack_model(facts: dict) -> Classifier:
    """An untrained model as a manifest (or a weights file's facts) describes it; PackError
    when the library cannot build it (not installed, keywords it does not take)."""
    try:
        return build_model(
            facts["arch"],
            len(facts["classes"]),
            facts["mean"],
            facts["std"],
            options=facts.get("arch_options") or None,
            gradcam_layer=facts.get("gradcam_layer") or None,
            gradcam_reshape=facts.get("gradcam_reshape"),
        )
    except (ImportError, TypeError, ValueError, KeyError) as err:
        raise PackError(
            f"cannot build arch {facts.get('arch')!r} with options {facts.get('arch_options') or {}}: {err}"
        ) from None


def save_weights(path: Path, model: torch.nn.Module, facts: dict, config: dict) -> str:
    """Write a safetensors file atomically; returns its sha256."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = st_save(state, metadata={"sc_viz": json.dumps({"model": facts, "config": config})})
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict, sc_viz metadata) of a safetensors file; PackError on anything else."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise PackError(f"{path}: file not found") from None
    except OSError as err:
        raise PackError(f"{path}: cannot be read ({err.strerror})") from None
    if not stat.S_ISREG(st.st_mode):  # a folder, a FIFO (would block), a device ...
        raise PackError(f"{path}: not a regular file")
    size = st.st_size
    if size == 0:
        raise PackError(f"{path}: empty file")
    if size > MAX_WEIGHTS_BYTES:
        raise PackError(f"{path}: {size} bytes is too large for a weights file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise PackError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        state = st_load(data)  # parses a JSON header + raw tensors; never unpickles
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, ValueError, OSError, RuntimeError) as err:
        raise PackError(f"{path}: not a valid safetensors file ({err})") from None
    try:
        info = json.loads(meta.get("sc_viz", "{}"))
    except json.JSONDecodeError:
        info = {}
    if not isinstance(info, dict) or not isinstance(info.get("model", {}), dict):
        info = {}  # metadata of some other shape: treat the file as weights only
    return state, info


def _misfit(model: torch.nn.Module, state: dict) -> str:
    """One short line saying how a state dict differs from a model's."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
        if keys:
            parts.append(f"{len(keys)} {label} (e.g. {keys[0]!r})")
    return ", ".join(parts) or "incompatible tensors"


def load_weights_into(model: torch.nn.Module, path: Path) -> dict:
    """Load a weights file into `model` (strict); PackError if the shapes/keys differ."""
    state, info = read_weights(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        arch = info.get("model", {}).get("arch")
        hint = f" (it was saved from arch {arch!r})" if arch else ""
        raise PackError(
            f"{path}: weights do not fit this architecture{hint}: {_misfit(model, state)}"
        ) from None
    return info


def load_model_file(path: Path, device=None) -> tuple[Classifier, dict]:
    """Rebuild a model from its weights file alone (facts + config in the metadata)."""
    state, info = read_weights(path)
    facts = info.get("model")
    if not facts:
        raise PackError(f"{path}: no sc_viz metadata; load it through its pack instead")
    try:
        check_optional_model_facts(facts, path)
        model = build_pack_model(facts)
    except Exception as err:  # missing keys, unknown arch, malformed values
        first_line = str(err).splitlines()[0][:120] if str(err) else ""
        raise PackError(
            f"{path}: its sc_viz metadata does not describe a model ({type(err).__name__}: {first_line})"
        ) from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        raise PackError(
            f"{path}: weights do not fit the arch {facts['arch']!r} its metadata names: "
            f"{_misfit(model, state)}"
        ) from None
    return model.to(device or default_device()).eval(), info


# ---------------------------------------------------------------- packs
@dataclass
class Pack:
    path: Path
    manifest: dict
    models: dict[str, Classifier] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # variant -> why it did not load
    device: torch.device = torch.device("cpu")

    @property
    def classes(self) -> list[str]:
        return self.manifest["classes"]

    @property
    def input_size(self) -> int:
        return self.manifest["input_size"]

    @property
    def dataset(self) -> str:
        return self.manifest["dataset"]

    @property
    def arch(self) -> str:
        return self.manifest["arch"]

    @property
    def name(self) -> str:
        return self.path.name

    def metrics(self, variant: str) -> dict:
        return self.manifest["variants"].get(variant, {}).get("metrics", {})

    def weights_sha256(self, variant: str) -> str:
        """sha256 of the variant's weights file: what a report or a deck was made from."""
        return file_sha256(variant_file(self.path, self.manifest["variants"][variant], variant))


def ordered_variants(names) -> list[str]:
    """Variant names in the variants registry's order (the paper's first), others after."""

    return variant_order(names)


def load_pack(path, device=None) -> Pack:
    """Load every variant of a pack, in eval mode, on `device` (CUDA if present, else CPU).

    A manifest problem raises PackError; a variant whose file is bad is left out and its
    reason recorded in `pack.errors`, so the other variants still load.
    """
    path = Path(path)
    manifest = read_manifest(path)
    device = torch.device(device) if device else default_device()
    pack = Pack(path, manifest, device=device)
    for variant in ordered_variants(manifest["variants"]):
        try:
            file = variant_file(path, manifest["variants"][variant], variant)
            model = build_pack_model(manifest)
            load_weights_into(model, file)
            pack.models[variant] = model.to(device).eval()
        except PackError as err:
            pack.errors[variant] = str(err)
    return pack


def write_new_pack(
    pack_dir, manifest: dict, models: dict[str, torch.nn.Module], entries: dict[str, dict]
) -> dict:
    """Write a whole pack at once (imported weights): manifest + `<variant>.safetensors` per
    model, each entry of `entries` becoming its variant's manifest entry (+ file, sha256).

    Everything is written into a hidden sibling folder that is renamed to `pack_dir` at the
    end, so a failure at any point leaves no half-written pack. `pack_dir` must not exist
    or be an empty folder."""
    pack_dir = Path(pack_dir)
    if pack_dir.exists() and (not pack_dir.is_dir() or any(pack_dir.iterdir())):
        raise PackError(f"{pack_dir}: exists and is not empty; choose another --out")
    pack_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=pack_dir.parent, prefix=f".{pack_dir.name}.", suffix=".tmp"))
    try:
        manifest = dict(manifest, variants={})
        facts = model_facts(manifest)
        for name, model in models.items():
            entry = dict(entries.get(name, {}))
            file = f"{name}.safetensors"
            sha = save_weights(tmp / file, model, facts, entry.get("config", {}))
            manifest["variants"][name] = {"file": file, "sha256": sha, **entry}
        atomic_write_json(tmp / MANIFEST, manifest)
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; packs are shared read-only folders
        if pack_dir.exists():
            pack_dir.rmdir()  # empty, checked above
        os.rename(tmp, pack_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def find_packs(root) -> list[Path]:
    """Folders under `root` (or `root` itself) holding a manifest.json."""
    root = Path(root)
    if (root / MANIFEST).exists():
        return [root]
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob(f"*/{MANIFEST}"))


# ---------------------------------------------------------------- variant entries (the trainer's writes)
def write_variant_entry(pack_dir, manifest: dict, variant: str, entry: dict) -> None:
    """Write one variant's manifest entry, keeping the entries that other trainers (other
    variants trained into the same pack at the same time) wrote since `manifest` was read;
    `manifest["variants"]` is updated to what was written."""
    import fcntl

    pack_dir = Path(pack_dir)
    pack_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(pack_dir, os.O_RDONLY)  # lock the pack folder itself: no lock file left behind
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd closes
        current = manifest
        if (pack_dir / MANIFEST).exists():
            try:
                on_disk = read_manifest(pack_dir)
                if on_disk["dataset"] == manifest["dataset"] and on_disk["arch"] == manifest["arch"]:
                    current = {**manifest, "variants": {**on_disk["variants"]}}
            except PackError:
                pass  # unreadable: ours replaces it
        current["variants"][variant] = entry
        atomic_write_json(pack_dir / MANIFEST, current)
    finally:
        os.close(fd)
    manifest["variants"] = current["variants"]


def adopt_variant(src_dir, dst_dir, variant: str, extra: Optional[dict] = None) -> dict:
    """Copy a complete variant from pack `src_dir` (a staging pack it was trained in) into
    pack `dst_dir` of the same data set, arch and classes: its weights file, its manifest
    entry (plus the fields of `extra`, e.g. where it was trained) and its training-log
    records. The destination never holds a half-trained variant. Returns the entry written."""
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    src, dst = read_manifest(src_dir), read_manifest(dst_dir)
    for key in ("dataset", "arch", "classes", "input_size", "mean", "std"):
        if src[key] != dst[key]:
            raise PackError(f"{src_dir} and {dst_dir} differ in {key!r}; cannot move {variant!r}")
    entry = dict(src["variants"].get(variant) or {})
    if entry.get("status") != "complete":
        raise PackError(f"{src_dir}: variant {variant!r} is not complete")
    data = variant_file(src_dir, entry, variant).read_bytes()
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise PackError(f"{src_dir}: {entry['file']} does not match its manifest sha256")
    entry.update(extra or {})
    atomic_write_bytes(dst_dir / entry["file"], data)
    for record in read_jsonl(src_dir / TRAIN_LOG):
        if record.get("variant") == variant:
            append_jsonl(dst_dir / TRAIN_LOG, record)
    write_variant_entry(dst_dir, dst, variant, entry)
    return entry
