"""Users' checkpoints -> packs (`sc-viz import`): the weights of a model trained elsewhere
(a torchvision or timm architecture, a model-zoo state dict, the project's own archs)
written as a normal pack whose `pack.models[name]` gives, for input in [0, 1], the
user's model's logits on the normalised input.

Files are read as safetensors or with `torch.load(..., weights_only=True)`: a checkpoint
that needs code to unpickle is refused, never executed. The state dict is found in the
layouts met in the wild (top level or nested, EMA copies, wrapper prefixes, normaliser
buffers, attacker copies); anything that does not fit the architecture is refused with
the keys named, or, with `non_strict`, loaded and listed in the manifest. Nothing is
written until every variant loaded and passed its check forward pass.
"""

from __future__ import annotations

import math
import pickle
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn

from sc_viz.data import CIFAR10_CLASSES, DATASETS, IMAGENET_MEAN, IMAGENET_STD
from sc_viz.hooks import hooked
from sc_viz.models import ARCHS, Classifier, build_model
from sc_viz.packs import FORMAT, MAX_WEIGHTS_BYTES, PackError, load_pack, write_new_pack

# Where a state dict sits in a checkpoint dict, in the order they are tried.
NESTED_KEYS = ("state_dict", "model", "model_state_dict", "net")
EMA_KEYS = ("ema", "model_ema", "state_dict_ema")
# Wrapper prefixes: DataParallel/DDP, torch.compile, robustness-lib, Lightning-style
# wrappers. Stripped only when every key has it and the architecture's own keys do not.
PREFIXES = ("module.", "_orig_mod.", "attacker.model.", "model.", "base_model.", "net.")
# Normalisation stored as buffers (mean, std); sc-viz's own `normalize.*` too.
NORMALISER_KEYS = (
    ("mean", "std"),
    ("mu", "sigma"),
    ("normalizer.new_mean", "normalizer.new_std"),
    ("normalize.mean", "normalize.std"),
)
ATTACKER_PREFIX = "attacker."  # robustness-lib's second copy of the model (for its attacks)
TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar")
MAX_VARIANTS = 8
VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

CIFAR100_CLASSES = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
]

PICKLE_HELP = (
    "sc-viz never runs code from a checkpoint. Convert it where it was made: load it in your "
    "own environment, then save the weights only, e.g.\n"
    "    from safetensors.torch import save_file\n"
    "    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, 'model.safetensors')\n"
    "and import model.safetensors."
)


RESHAPE_NOTES = {
    "tokens": "; its patch tokens laid on the grid, class token dropped",
    "nhwc": "; channels-last blocks permuted to (C, h, w)",
}


class ImportRefused(PackError):
    """A checkpoint that cannot be imported as asked; the message says why and what to do."""


# ---------------------------------------------------------------- classes
def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet-1k names from torchvision's own weight metadata (no download)."""
    import torchvision

    return list(torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def builtin_classes() -> dict[str, list[str]]:

    return {
        "imagenet": imagenet_classes(),
        "cifar10": list(CIFAR10_CLASSES),
        "cifar100": list(CIFAR100_CLASSES),
    }


def read_classes(spec: str) -> tuple[str, list[str]]:
    """`imagenet`, `cifar10`, `cifar100` or a text file with one name a line ->
    (source name, names)."""
    builtin = builtin_classes()
    if spec in builtin:
        return spec, builtin[spec]
    path = Path(spec)
    try:
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise ImportRefused(
            f"--classes {spec!r}: neither {', '.join(builtin)} nor a readable text file ({err})"
        ) from None
    if not names:
        raise ImportRefused(f"{path}: no class names (one name a line)")
    return "custom", names


# ---------------------------------------------------------------- reading files
def read_checkpoint(path) -> tuple[object, str]:
    """(what the file holds, how it was read). safetensors, or torch.load with
    weights_only=True: a pickle that needs code is refused with PICKLE_HELP."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as err:
        raise ImportRefused(f"{path}: cannot be read ({err.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ImportRefused(f"{path}: not a regular file")
    if st.st_size > MAX_WEIGHTS_BYTES:
        raise ImportRefused(f"{path}: {st.st_size} bytes is too large for a weights file")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu"), "safetensors"
        except (SafetensorError, OSError, ValueError, RuntimeError) as err:
            raise ImportRefused(f"{path}: not a valid safetensors file ({err})") from None
    if path.suffix not in TORCH_SUFFIXES:
        raise ImportRefused(
            f"{path}: unknown file type {path.suffix!r}; use .safetensors or "
            f"a torch file ({', '.join(TORCH_SUFFIXES)})"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True), "torch.load (weights only)"
    except pickle.UnpicklingError as err:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        reason = f"it refers to {found.group(1)}" if found else "it holds objects other than tensors"
        raise ImportRefused(
            f"{path}: refused: unpickling it needs code, not only tensors ({reason}).\n{PICKLE_HELP}"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ImportRefused(f"{path}: not a readable torch checkpoint ({first_line})") from None


def _is_state_dict(obj) -> bool:
    return (
        isinstance(obj, dict)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def find_state_dict(obj, ema: bool = False) -> tuple[dict, str, list[str]]:
    """(state dict, where it was, EMA keys present) in a checkpoint: at the top, under
    NESTED_KEYS (one level deeper too), or, with `ema`, under EMA_KEYS."""
    if not isinstance(obj, dict):
        raise ImportRefused(f"holds a {type(obj).__name__}, not a dict of tensors")
    ema_present = [k for k in EMA_KEYS if isinstance(obj.get(k), dict)]
    if ema:
        for key in ema_present:
            inner = obj[key]
            if _is_state_dict(inner):
                return dict(inner), f"EMA weights under {key!r}", ema_present
            for sub in NESTED_KEYS:
                if _is_state_dict(inner.get(sub)):
                    return dict(inner[sub]), f"EMA weights under {key!r} -> {sub!r}", ema_present
        raise ImportRefused(
            f"EMA weights asked for, but none found (looked for "
            f"{', '.join(EMA_KEYS)}; top-level keys: {_first(list(obj))})"
        )
    if _is_state_dict(obj):
        return dict(obj), "state dict at the top level", ema_present
    for key in NESTED_KEYS:
        inner = obj.get(key)
        if _is_state_dict(inner):
            return dict(inner), f"state dict under {key!r}", ema_present
        if isinstance(inner, dict):
            for sub in NESTED_KEYS:
                if _is_state_dict(inner.get(sub)):
                    return dict(inner[sub]), f"state dict under {key!r} -> {sub!r}", ema_present
    raise ImportRefused(
        f"found no state dict (a dict of tensors at the top or under "
        f"{', '.join(NESTED_KEYS + EMA_KEYS)}); top-level keys: {_first(list(obj))}"
    )


def _first(keys: list, n: int = 10) -> str:
    shown = ", ".join(repr(k) for k in keys[:n])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > n else shown


# ---------------------------------------------------------------- fitting keys
@dataclass
class Cleaned:
    state: dict[str, torch.Tensor]
    prefixes: list[str] = field(default_factory=list)  # stripped, outermost first
    dropped: list[str] = field(default_factory=list)  # attacker copy, normaliser buffers
    normaliser: Optional[tuple[list[float], list[float], str]] = None  # mean, std, key names


def _channel_values(t: torch.Tensor) -> Optional[list[float]]:
    values = t.detach().float().flatten()
    return [float(v) for v in values] if values.numel() == 3 else None


def clean_state(state: dict[str, torch.Tensor], model_keys) -> Cleaned:
    """Strip wrapper prefixes, take out normaliser buffers and drop an attacker copy, until
    nothing changes; keys the architecture has itself are never touched."""
    model_keys = set(model_keys)
    out = Cleaned(dict(state))
    while True:
        keys = list(out.state)
        for mean_key, std_key in NORMALISER_KEYS:
            if mean_key in out.state and std_key in out.state and mean_key not in model_keys:
                mean, std = _channel_values(out.state[mean_key]), _channel_values(out.state[std_key])
                if mean and std:
                    out.normaliser = out.normaliser or (mean, std, f"{mean_key}/{std_key}")
                    out.dropped += [mean_key, std_key]
                    del out.state[mean_key], out.state[std_key]
        attacker = [k for k in out.state if k.startswith(ATTACKER_PREFIX)]
        if attacker and len(attacker) < len(out.state):
            out.dropped += attacker
            for k in attacker:
                del out.state[k]
        for prefix in PREFIXES:
            if (
                out.state
                and all(k.startswith(prefix) for k in out.state)
                and not any(k.startswith(prefix) for k in model_keys)
            ):
                out.state = {k[len(prefix) :]: v for k, v in out.state.items()}
                out.prefixes.append(prefix)
                break
        if list(out.state) == keys:
            return out


def _head_outputs(model: nn.Module, state: dict, num_classes: int) -> Optional[int]:
    """The checkpoint's class count where only the head's shapes differ from `model`'s."""
    own = model.state_dict()
    differ = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if not differ or not all(own[k].shape[0] == num_classes and state[k].dim() >= 1 for k in differ):
        return None
    counts = {int(state[k].shape[0]) for k in differ}
    return counts.pop() if len(counts) == 1 else None


def fit_state(
    model: Classifier, state: dict, non_strict: bool, num_classes: int, source: str
) -> tuple[list[str], list[str]]:
    """Load `state` into the backbone; (missing, unexpected) keys, refused unless non_strict.
    Missing BatchNorm `num_batches_tracked` counters (older torch) keep the model's own."""
    own = model.net.state_dict()
    head = _head_outputs(model.net, state, num_classes)
    if head is not None:
        raise ImportRefused(
            f"{source}: the checkpoint's head has {head} outputs but the classes "
            f"given have {num_classes} names; pass --classes with {head} names "
            "(imagenet, cifar10, cifar100 or a file)"
        )
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if shapes:
        detail = "; ".join(
            f"{k}: checkpoint {tuple(state[k].shape)}, architecture {tuple(own[k].shape)}"
            for k in shapes[:10]
        )
        raise ImportRefused(
            f"{source}: {len(shapes)} tensors have other shapes than the "
            f"architecture's (is --arch right?): {detail}"
        )
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if (missing or unexpected) and not non_strict:
        parts = [
            f"{len(keys)} {label}: {_first(keys)}"
            for label, keys in (("missing", missing), ("unexpected", unexpected))
            if keys
        ]
        raise ImportRefused(
            f"{source}: the keys do not fit the architecture ({'; '.join(parts)}). "
            "Check --arch, or load what fits with --non-strict (the rest keeps its "
            "random initialisation and is listed in the manifest)"
        )
    merged = dict(own)
    merged.update({k: v for k, v in state.items() if k in own})
    model.net.load_state_dict(merged, strict=True)
    return missing, unexpected


# ---------------------------------------------------------------- normalisation
def default_normalisation(arch: str, classes_source: str) -> tuple[list[float], list[float], str]:
    """The architecture's usual normalisation, when neither flags nor buffers give one."""

    if arch.startswith("timm:"):
        import timm

        cfg = timm.get_pretrained_cfg(arch.partition(":")[2])
        if cfg is not None:
            return list(cfg.mean), list(cfg.std), "timm's pretrained config for this architecture"
    if ":" not in arch and classes_source in DATASETS:
        spec = DATASETS[classes_source]
        return list(spec.mean), list(spec.std), f"the {classes_source} statistics"
    return list(IMAGENET_MEAN), list(IMAGENET_STD), "ImageNet statistics"


def preprocessing(arch: str, input_size: int) -> dict:
    """How the architecture's own transforms bring an image to the input: resize the short
    side to `resize`, centre-crop `input_size` (the app follows this)."""
    resize, interpolation = input_size, "bilinear"
    family, _, name = arch.partition(":")
    if family == "torchvision":
        import torchvision

        tf = torchvision.models.get_model_weights(name).DEFAULT.transforms()
        resize = round(input_size * tf.resize_size[0] / tf.crop_size[0])
        interpolation = tf.interpolation.value
    elif family == "timm":
        import timm

        cfg = timm.get_pretrained_cfg(name)
        if cfg is not None:
            resize, interpolation = math.floor(input_size / cfg.crop_pct), cfg.interpolation
    return {"resize": int(resize), "crop": int(input_size), "interpolation": interpolation}


# ---------------------------------------------------------------- Grad-CAM layer
def _layer_output_shape(model: Classifier, layer: str, x: torch.Tensor) -> tuple:
    shapes = []
    keep = (
        model.get_submodule(layer),
        "forward",
        lambda module, inputs, out: shapes.append(tuple(out.shape)),
    )
    with hooked([keep]), torch.no_grad():
        model(x)
    return shapes[-1] if shapes else ()


def reshape_for(shape: tuple) -> Optional[str]:
    """Grad-CAM reshape of a layer output: (N, C, h, w) -> None, (N, h, w, C) -> "nhwc",
    (N, T, C) -> "tokens"; ValueError for anything else."""
    if len(shape) == 3:
        return "tokens"
    if len(shape) == 4 and shape[2] == shape[3]:
        return None
    if len(shape) == 4 and shape[1] == shape[2]:
        return "nhwc"
    raise ValueError(f"its output {shape} is neither (N, C, h, w), (N, h, w, C) nor tokens (N, T, C)")


# ---------------------------------------------------------------- the import
@dataclass
class ImportResult:
    pack_dir: Path
    manifest: dict
    lines: list[str]  # what the importer found, as printed


def parse_weights(items: list[str]) -> dict[str, Path]:
    """["standard=a.pt", "robust=b.safetensors"] -> {name: path}; names become file names."""
    weights: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not path:
            raise ImportRefused(f"--weights {item!r}: write NAME=PATH")
        if not VARIANT_NAME.match(name):
            raise ImportRefused(f"--weights {item!r}: a variant name is letters, digits, '_', '-', '.'")
        if name in weights:
            raise ImportRefused(f"--weights: variant {name!r} given twice")
        weights[name] = Path(path)
    if not 1 <= len(weights) <= MAX_VARIANTS:
        raise ImportRefused(f"--weights: give 1 to {MAX_VARIANTS} variants, got {len(weights)}")
    return weights


def import_pack(
    arch: str,
    weights: dict[str, Path],
    out,
    *,
    classes: Optional[str] = None,
    input_size: Optional[int] = None,
    mean=None,
    std=None,
    gradcam_layer: Optional[str] = None,
    non_strict: bool = False,
    ema: bool = False,
    arch_options: Optional[dict] = None,
) -> ImportResult:
    """Import `weights` ({variant: file}) of architecture `arch` into a new pack at `out`.

    `classes`: imagenet | cifar10 | cifar100 | a text file; default: the list whose size
    matches the checkpoint's head. `mean`/`std` (3 values each) override normaliser
    buffers found in the checkpoint, which override the architecture's usual values.
    `gradcam_layer`: a module inside the backbone (dotted), instead of the architecture's own.
    `arch_options`: constructor keywords of a torchvision/timm architecture."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ImportRefused(f"{out}: exists and is not empty; choose another --out")
    if (mean is None) != (std is None):
        raise ImportRefused("give both --mean and --std, or neither")
    spec = ARCHS[arch]
    input_size = int(input_size or spec.default_input_size)
    options = dict(arch_options or {})
    found = _read_checkpoints(weights, ema)  # nothing is built yet
    classes_source, class_names, classes_note = _resolve_classes(arch, options, found, classes)
    x = torch.rand(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))  # (2,3,S,S)
    _fit_input_size(arch, options, input_size, x)
    bare = build_model(arch, len(class_names), (0, 0, 0), (1, 1, 1), options=options or None)
    model_keys = bare.net.state_dict().keys()
    cleaned = {name: clean_state(f[1], model_keys) for name, f in found.items()}
    mean, std, norm_note = _normalisation(arch, cleaned, mean, std, classes_source)
    lines = [f"sc-viz import: {arch}, {input_size} px, classes {classes_note}"]
    models, entries = {}, {}
    for name, checkpoint in found.items():
        build = dict(options=options or None, gradcam_layer=gradcam_layer or None)
        models[name] = build_model(arch, len(class_names), mean, std, **build)
        load = dict(num_classes=len(class_names), non_strict=non_strict, ema=ema, lines=lines)
        entries[name] = _load_variant(models[name], name, checkpoint, cleaned[name], x, **load)
    layer, reshape = _gradcam_layer(models, gradcam_layer, x)
    lines.append(f"  normalisation: mean {_fmt(mean)}, std {_fmt(std)}: {norm_note}")
    how = "from --gradcam-layer" if gradcam_layer else "the architecture's own"
    lines.append(f"  Grad-CAM layer: {layer.removeprefix('net.')} ({how}{RESHAPE_NOTES.get(reshape, '')})")
    manifest = {
        "format": FORMAT,
        "dataset": classes_source,
        "arch": arch,
        "classes": class_names,
        "num_classes": len(class_names),
        "input_size": input_size,
        "mean": mean,
        "std": std,
        "variants": {},
        "arch_options": options,
        "gradcam_layer": layer.removeprefix("net."),
        "gradcam_reshape": reshape,
        "preprocessing": preprocessing(arch, input_size),
        "source": "import",
    }
    manifest, diff = _write_and_check(out, manifest, models, entries, x)
    lines.append(
        f"  check forward pass: 2 random {input_size} px images -> finite logits; the "
        f"reloaded pack gives the same logits (max |diff| {diff:.1g})"
    )
    lines.append(f"wrote {out}/ (manifest.json + {len(models)} weights file{'s' if len(models) > 1 else ''})")
    lines.append(f"next: SC_VIZ_PACKS={out.resolve()} scripts/app.sh")
    return ImportResult(out, manifest, lines)


def _read_checkpoints(weights: dict[str, Path], ema: bool) -> dict[str, tuple]:
    """Step 1: every file read and its state dict found: {variant: (path, state, how it was
    read, where the state dict was, EMA copies present)}."""
    found = {}
    for name, path in weights.items():
        obj, how = read_checkpoint(path)
        try:
            state, where, ema_present = find_state_dict(obj, ema)
        except ImportRefused as err:
            raise ImportRefused(f"{path}: {err}") from None
        found[name] = (path, state, how, where, ema_present)
    return found


def _resolve_classes(arch: str, options: dict, found: dict, classes: Optional[str]) -> tuple[str, list, str]:
    """Step 2: (source, names, note) of the classes: as given, else the built-in list whose
    size matches the first checkpoint's head."""
    if classes is not None:
        source, names = read_classes(classes)
        return source, names, f"{classes} ({len(names)} names)"
    guess = 1000 if ARCHS[arch].default_input_size > 64 else 10  # ImageNet-size archs: 1,000 classes
    probe = build_model(arch, guess, (0, 0, 0), (1, 1, 1), options=options or None)
    first_path, first_state = found[next(iter(found))][:2]
    head = _head_outputs(probe.net, clean_state(first_state, probe.net.state_dict()).state, guess) or guess
    by_size = {len(v): k for k, v in builtin_classes().items()}
    if head not in by_size:
        raise ImportRefused(
            f"{first_path}: the head has {head} outputs; pass --classes FILE with {head} names (one a line)"
        )
    source, names = read_classes(by_size[head])
    return source, names, f"{by_size[head]} ({head} names, matched to the head's size)"


def _fit_input_size(arch: str, options: dict, input_size: int, x: torch.Tensor) -> None:
    """Step 3: a fixed-size architecture (ViT) takes another input size as a constructor
    keyword; set in `options` when the default build refuses `x`."""
    spec = ARCHS[arch]
    if input_size == spec.default_input_size or not spec.size_option or spec.size_option in options:
        return
    guess = 1000 if spec.default_input_size > 64 else 10
    probe = build_model(arch, guess, (0, 0, 0), (1, 1, 1), options=options or None)
    try:
        with torch.no_grad():
            probe.eval()(x)
    except Exception:  # noqa: BLE001 (any library's size check)
        options[spec.size_option] = input_size


def _normalisation(arch: str, cleaned: dict, mean, std, classes_source: str) -> tuple[list, list, str]:
    """Step 5: (mean, std, note): the flags, else the checkpoints' normaliser buffers, else
    the architecture's usual values."""
    buffers = {name: c.normaliser for name, c in cleaned.items() if c.normaliser}
    distinct = {(tuple(m), tuple(s)) for m, s, _ in buffers.values()}
    if mean is not None:
        mean, std = [float(v) for v in mean], [float(v) for v in std]
        note = "from --mean/--std"
        if distinct and distinct != {(tuple(mean), tuple(std))}:
            note += " (the checkpoint's normaliser buffers differ and are not used)"
    elif len(distinct) > 1:
        detail = "; ".join(f"{n}: mean {b[0]}, std {b[1]}" for n, b in buffers.items())
        raise ImportRefused(
            f"the variants store different normalisations ({detail}); a pack has "
            "one: give --mean/--std, or import them into separate packs"
        )
    elif distinct:
        mean, std = (list(v) for v in distinct.pop())
        keys = sorted({b[2] for b in buffers.values()})
        note = f"from the checkpoint's normaliser buffers ({', '.join(keys)})"
        if len(buffers) < len(cleaned):
            note += f"; used for {', '.join(n for n in cleaned if n not in buffers)} too"
    else:
        mean, std, why = default_normalisation(arch, classes_source)
        note = f"{why} (none given or stored; pass --mean/--std if the training used others)"
    if len(mean) != 3 or len(std) != 3 or not all(s > 0 for s in std):
        raise ImportRefused(f"--mean/--std need 3 values each, std positive; got {mean}, {std}")
    return mean, std, note


def _load_variant(
    model, name: str, checkpoint: tuple, c, x, *, num_classes: int, non_strict: bool, ema: bool, lines: list
) -> dict:
    """Step 6: one variant's weights into `model`, checked by a forward pass of `x`; its
    report lines appended to `lines`; returns its manifest entry."""
    path, _, how, where, ema_present = checkpoint
    missing, unexpected = fit_state(model, c.state, non_strict, num_classes, str(path))
    model.eval()
    with torch.no_grad():
        logits = model(x)  # (2, C)
    if not torch.isfinite(logits).all():
        raise ImportRefused(f"{path}: the check forward pass gives NaN or infinite logits")
    params = sum(p.numel() for p in model.net.parameters())
    lines.append(f"  {name}: {path}")
    lines.append(f"    read      {how}; {where}")
    stripped = " + ".join(repr(p) for p in c.prefixes)
    lines.append(f"    prefix    {stripped + ' stripped' if stripped else 'none'}")
    ema_note = (
        "used"
        if ema
        else f"also present under {', '.join(map(repr, ema_present))}, not used (--ema takes it)"
        if ema_present
        else "none in the file"
    )
    lines.append(f"    EMA       {ema_note}")
    if c.dropped:
        attacker = [k for k in c.dropped if k.startswith(ATTACKER_PREFIX)]
        norm_keys = [k for k in c.dropped if not k.startswith(ATTACKER_PREFIX)]
        parts = ([f"{len(attacker)} attacker-copy keys ({_first(attacker, 3)})"] if attacker else []) + (
            [f"normaliser buffers {', '.join(norm_keys)}"] if norm_keys else []
        )
        lines.append(f"    dropped   {'; '.join(parts)}")
    fit = (
        "all keys fit"
        if not (missing or unexpected)
        else (f"NON-STRICT: {len(missing)} missing (random init), {len(unexpected)} unexpected (ignored)")
    )
    lines.append(f"    weights   {len(c.state)} tensors, {params:,} parameters; {fit}")
    return {
        "status": "imported",
        "source": {
            "file": str(Path(path).resolve()),
            "read": how,
            "layout": where,
            "prefixes_stripped": c.prefixes,
            "dropped": c.dropped,
            "ema": ema,
            "missing": missing,
            "unexpected": unexpected,
            "non_strict": non_strict,
        },
    }


def _gradcam_layer(models: dict, gradcam_layer: Optional[str], x: torch.Tensor) -> tuple[str, Optional[str]]:
    """Step 7: (layer, reshape) of Grad-CAM: the architecture's own or the one asked for,
    the reshape read off its output; set on every model."""
    first = next(iter(models.values()))
    layer = first.gradcam_layer
    try:
        first.get_submodule(layer)
        reshape = (
            reshape_for(_layer_output_shape(first, layer, x)) if gradcam_layer else first.gradcam_reshape
        )
    except (AttributeError, ValueError) as err:
        raise ImportRefused(f"Grad-CAM layer {layer.removeprefix('net.')!r}: {err}") from None
    for model in models.values():
        model.gradcam_reshape = reshape
    return layer, reshape


def _write_and_check(
    out: Path, manifest: dict, models: dict, entries: dict, x: torch.Tensor
) -> tuple[dict, float]:
    """Step 8: the pack written atomically, reloaded and compared logit for logit (removed
    again when that fails); returns (the manifest written, the largest logit difference)."""
    manifest = write_new_pack(out, manifest, models, entries)
    try:
        pack = load_pack(out, device="cpu")
        if pack.errors:
            raise ImportRefused(f"the written pack does not load: {pack.errors}")
        with torch.no_grad():
            diff = max(float((pack.models[n](x) - m(x)).abs().max()) for n, m in models.items())
        if diff > 1e-5:
            raise ImportRefused(f"the written pack's logits differ from the imported model's by {diff:.3g}")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # ours: written just above
        raise
    return manifest, diff


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"
