"""Everything that fixes one explanation grid, as JSON: the app writes it into its export
bundle and `sc-viz explain --settings settings.json --out grid.png` redraws the figure."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import torch

from sc_viz.data import data_root as default_root
from sc_viz.data import load_split
from sc_viz.explain.base import METHODS, budgeted
from sc_viz.explain.grid import explain_grid
from sc_viz.images import load_image as open_image
from sc_viz.images import load_input, to_input
from sc_viz.packs import load_pack
from sc_viz.precision import PRECISIONS

FORMAT = "sc-viz-explain-settings/1"
# What a grid explains: the true class when known (else each model's prediction), each
# model's own top class, or one chosen class. Declared here once; the app's pages use these.
TARGET_LABEL, TARGET_PREDICTED, TARGET_CLASS = "label", "predicted", "class"
TARGET_MODES = (TARGET_LABEL, TARGET_PREDICTED, TARGET_CLASS)


@dataclass
class ExplainSettings:
    pack: str
    # A file path, or {"dataset_split": "test", "index": i} for an image of the pack's data set.
    image: Union[str, dict]
    variants: Optional[list[str]] = None  # None: every variant of the pack
    methods: list[str] = field(default_factory=lambda: ["ig", "gradcam", "lime"])
    # "label": the true class when known (data-set images), else each model's prediction;
    # "predicted": each model's own top class; "class": `target_class` for every variant.
    target_mode: str = "label"
    target_class: Optional[int] = None
    # method -> its budget (the method's `Budget`: IG steps, LIME samples ...); a method
    # left out gets its own default. Files written before hold flat keys ("ig_steps": 50),
    # read as these (`from_json`).
    budgets: dict[str, int] = field(default_factory=dict)
    extra_options: dict[str, dict] = field(default_factory=dict)  # method -> more options
    seed: int = 0
    opacity: float = 0.5  # heat-map opacity over the image
    # IG's passes and LIME's sample scores: "auto" = bf16 where the device runs it natively
    # (IG ~3x, LIME ~2x faster on an AMX CPU; maps agree with fp32, tests/explain), else fp32
    precision: str = "auto"
    format: str = FORMAT

    def __post_init__(self) -> None:
        if self.target_mode not in TARGET_MODES:
            raise ValueError(
                f"target_mode must be one of {', '.join(TARGET_MODES)}, got {self.target_mode!r}"
            )
        if self.target_mode == "class" and self.target_class is None:
            raise ValueError("target_mode 'class' needs target_class")
        for m in list(self.methods) + list(self.extra_options):
            METHODS[m]  # unknown names fail with the list of valid ones
        if isinstance(self.image, dict) and not {"dataset_split", "index"} <= set(self.image):
            raise ValueError("image must be a file path or {'dataset_split': ..., 'index': ...}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not 0.0 <= self.opacity <= 1.0:
            raise ValueError(f"opacity must lie in [0, 1], got {self.opacity}")
        known = budgeted()
        for m, value in self.budgets.items():
            if m not in known:
                raise ValueError(f"budgets: {m!r} has no budget; these do: {', '.join(known)}")
            if int(value) < 1:
                raise ValueError(f"budgets: {known[m].key} must be at least 1, got {value}")
        # every budgeted method's value, so the settings (and a bundle's settings.json) say it
        self.budgets = {m: int(self.budgets.get(m, b.defaults["explain"])) for m, b in known.items()}

    def method_options(self) -> dict[str, dict]:
        """Keyword options per method, as `explain_grid(options=...)` takes them: its budget
        and the common settings it takes (seed, precision), then `extra_options`."""
        common = {"seed": self.seed, "precision": self.precision}
        opts = {}
        for m in self.methods:
            method = METHODS[m]
            opts[m] = {method.budget.option: self.budgets[m]} if method.budget else {}
            opts[m].update({k: common[k] for k in method.settings_options})
        for m, extra in self.extra_options.items():
            opts.setdefault(m, {}).update(extra)
        return opts

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ExplainSettings:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"settings are not valid JSON ({err})") from None
        if not isinstance(data, dict):
            raise ValueError("settings must be a JSON object")
        if data.get("format", FORMAT) != FORMAT:
            raise ValueError(f"settings format {data.get('format')!r} is not {FORMAT!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        data = upgrade_budgets(data)
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown settings fields: {', '.join(sorted(unknown))}")
        try:
            return cls(**data)
        except TypeError as err:  # a required field is missing
            raise ValueError(f"settings incomplete: {err}") from None

    @classmethod
    def load(cls, path: Union[str, Path]) -> ExplainSettings:
        try:
            return cls.from_json(Path(path).read_text())
        except FileNotFoundError:
            raise ValueError(f"{path}: settings file not found") from None


def upgrade_budgets(data: dict) -> dict:
    """Settings written before `budgets`: their flat keys ("ig_steps": 50, "lime_samples",
    "smoothgrad_samples": each Budget's `key`) moved into `budgets`."""
    flat = {b.key: m for m, b in budgeted().items() if b.key in data}
    if not flat:
        return data
    data = dict(data)
    budgets = dict(data.get("budgets") or {})
    for key, m in flat.items():
        budgets.setdefault(m, data.pop(key))
    data["budgets"] = budgets
    return data


def load_image(
    settings: ExplainSettings, pack: Any, data_root: Any = None
) -> tuple[torch.Tensor, Optional[int]]:
    """The model input (3, S, S) in [0, 1] the settings name, and its label if known."""
    if isinstance(settings.image, dict):
        split = load_split(
            pack.dataset, settings.image["dataset_split"], data_root or default_root(), pack.input_size
        )
        index = int(settings.image["index"])
        if not 0 <= index < len(split):
            raise ValueError(f"image index {index} is outside the split's {len(split)} images")
        return split.get(index), int(split.labels[index])

    path = Path(settings.image)
    if not path.is_file():
        raise ValueError(f"{path}: image file not found")
    data = path.read_bytes()
    shown = open_image(data)
    if shown.size == (pack.input_size, pack.input_size):
        # already the model's input size: an export bundle's image, saved after the app's
        # crop; cropping it again would zoom it (the resize-then-crop rule above 64 px)
        return to_input(shown)[0], None
    _, x = load_input(data, pack.input_size, pack.manifest.get("preprocessing"))  # (1, 3, S, S)
    return x[0], None


def grid_target(settings: ExplainSettings, label: Optional[int]) -> Optional[int]:
    """The `target` argument of explain_grid (None: each model's prediction)."""
    if settings.target_mode == "class":
        return int(settings.target_class)
    if settings.target_mode == "label":
        return label
    return None


def run(settings: ExplainSettings, pack: Any = None, *, data_root: Any = None, progress=None):
    """Settings -> (Grid, image (3, S, S), label or None). Loads the pack when not given."""

    pack = pack if pack is not None else load_pack(settings.pack)
    if not pack.models:
        raise ValueError(f"{settings.pack}: no variant could be loaded ({pack.errors})")
    variants = settings.variants or list(pack.models)
    missing = [v for v in variants if v not in pack.models]
    if missing:
        raise ValueError(f"variants not in the pack: {', '.join(missing)} (it has {', '.join(pack.models)})")
    x, label = load_image(settings, pack, data_root)
    grid = explain_grid(
        {v: pack.models[v] for v in variants},
        x,
        methods=settings.methods,
        target=grid_target(settings, label),
        options=settings.method_options(),
        progress=progress,
    )
    return grid, x, label
