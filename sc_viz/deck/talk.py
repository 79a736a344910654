"""A talk: the ordered views a speaker will show, as JSON. The app's "Add to deck" button
appends the current view; `sc-viz deck build talk.json --out DECK` precomputes them.

    {"format": "sc-viz-talk/1",
     "slides": [
       {"page": "Saliency",
        "settings": {...ExplainSettings: pack, image, variants, methods, target, budgets...},
        "view": {"measures": "0"}},
       {"page": "Robustness", "pack": "checkpoints/cifar10-resnet20",
        "image": {"dataset_split": "test", "index": 12}, "view": {"eps": "4"}}
     ]}

A Saliency slide's `settings` are the export bundle's settings.json (sc_viz.explain.settings):
they fix every map, so the deck computes exactly them. Every other page's slide names its
pack, image and `view`: the app's URL parameters of that view (sc_viz.app.views), applied
when the slide is shown; those pages compute from the stored report or in seconds.

Paths (pack folders, image files) may be relative to the talk file's folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from sc_viz.explain.settings import ExplainSettings
from sc_viz.packs import atomic_write_bytes, atomic_write_json

FORMAT = "sc-viz-talk/1"
SALIENCY = "Saliency"  # the page whose views a deck precomputes
PAGES = ("Models", "Saliency", "Embeddings", "Continuity", "Robustness", "Neurons", "Sanity")

Image = Union[dict, str, None]  # {"dataset_split": "test", "index": i}, a file, or none (Models)


class TalkError(ValueError):
    """A talk file that cannot be used; the message names the file and the slide."""


@dataclass
class Slide:
    page: str
    pack: str
    image: Image = None
    view: dict[str, str] = field(default_factory=dict)  # the page's URL parameters
    settings: Optional[ExplainSettings] = None  # Saliency: every setting of the grid

    def to_dict(self) -> dict:
        if self.settings is not None:
            out = {"page": self.page, "settings": json.loads(self.settings.to_json())}
        else:
            out = {"page": self.page, "pack": self.pack, "image": self.image}
        if self.view:
            out["view"] = dict(self.view)
        return out


def _resolve(path: str, base: Path) -> str:
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def slide_from_dict(raw: dict, base: Path, where: str) -> Slide:
    """One slide of a talk; relative paths resolved against `base` (the talk's folder)."""
    if not isinstance(raw, dict):
        raise TalkError(f"{where}: a slide must be a JSON object")
    page = raw.get("page")
    if page not in PAGES:
        raise TalkError(f"{where}: page must be one of {', '.join(PAGES)}, got {page!r}")
    view = raw.get("view") or {}
    if not isinstance(view, dict):
        raise TalkError(f"{where}: view must be an object of URL parameters")
    view = {str(k): str(v) for k, v in view.items()}
    if page == SALIENCY:
        if not isinstance(raw.get("settings"), dict):
            raise TalkError(f"{where}: a Saliency slide needs its settings (the export's settings.json)")
        try:
            settings = ExplainSettings.from_json(json.dumps(raw["settings"]))
        except (ValueError, TypeError) as err:
            raise TalkError(f"{where}: {err}") from None
        settings.pack = _resolve(settings.pack, base)
        if isinstance(settings.image, str):
            settings.image = _resolve(settings.image, base)
        return Slide(page, settings.pack, settings.image, view, settings)
    if not isinstance(raw.get("pack"), str):
        raise TalkError(f"{where}: the slide needs its pack folder")
    image = raw.get("image")
    if isinstance(image, str):
        image = _resolve(image, base)
    elif image is not None and not (isinstance(image, dict) and "index" in image):
        raise TalkError(f"{where}: image must be a file, {{'dataset_split': 'test', 'index': i}} or null")
    return Slide(page, _resolve(raw["pack"], base), image, view)


def read_talk(path: Union[str, Path]) -> list[Slide]:
    """The slides of a talk file, in order; TalkError with the slide's number if one is bad."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise TalkError(f"{path}: talk file not found") from None
    except json.JSONDecodeError as err:
        raise TalkError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TalkError(f"{path}: not a talk file (format must be {FORMAT!r})")
    slides = data.get("slides")
    if not isinstance(slides, list) or not slides:
        raise TalkError(f"{path}: the talk has no slides")
    base = path.resolve().parent
    return [slide_from_dict(s, base, f"{path}, slide {i + 1}") for i, s in enumerate(slides)]


def talk_dict(slides: list[Slide]) -> dict:
    return {"format": FORMAT, "slides": [s.to_dict() for s in slides]}


def append_slide(path: Union[str, Path], slide: Slide) -> int:
    """Add `slide` at the end of the talk file (created when missing); written atomically,
    so a crash never leaves half a talk. Returns the slide's number (1-based)."""
    path = Path(path)
    slides = read_talk(path) if path.exists() and path.stat().st_size else []
    slides.append(slide)
    atomic_write_json(path, talk_dict(slides))
    return len(slides)


def save_upload(talk: Union[str, Path], name: str, data: bytes, digest: str) -> str:
    """An uploaded image kept beside the talk (`<talk>-images/<digest><suffix>`), so the
    talk names a file the build can read. Returns its path."""
    talk = Path(talk)
    suffix = Path(name).suffix.lower() or ".png"
    out = talk.resolve().parent / f"{talk.stem}-images" / f"{digest}{suffix}"
    if not out.exists():
        atomic_write_bytes(out, data)
    return str(out)
