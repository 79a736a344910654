"""Downloads: PNG bytes of images, CSV of numbers, and the export bundle (zip of PNGs,
interactive HTML plots and a settings JSON from which `sc-viz explain --settings`
regenerates the figure without the app)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Optional, Union

import torch
from PIL import Image

from sc_viz.app.gallery import to_pil

SETTINGS_NAME = "settings.json"


def png_bytes(image: Union[Image.Image, torch.Tensor], upscale: int = 1) -> bytes:
    """PNG of a PIL image or a (3, H, W)/(1, 3, H, W) tensor in [0, 1]; `upscale` with
    nearest-neighbour so that 32-px images stay crisp on a slide."""
    im = to_pil(image) if isinstance(image, torch.Tensor) else image
    if upscale > 1:
        im = im.resize((im.width * upscale, im.height * upscale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def rows_to_csv(rows: Sequence[Mapping]) -> bytes:
    """CSV (header from the union of keys, in first-seen order) of a list of dicts."""
    fields: dict[str, None] = {}
    for row in rows:
        fields.update(dict.fromkeys(row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue().encode()


def _cell(v):
    return f"{v:.6g}" if isinstance(v, float) else v


def bundle_zip(files: Mapping[str, Union[bytes, str]], settings: Union[str, Mapping]) -> bytes:
    """A zip of `files` (name -> bytes or text) plus settings.json: every setting and seed.

    Text settings (ExplainSettings.to_json()) are written verbatim, so that `sc-viz explain
    --settings settings.json` reads them back; a mapping is written with its creation time."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            if name.startswith("/") or ".." in name.split("/"):
                raise ValueError(f"bad file name in bundle: {name!r}")
            z.writestr(name, data if isinstance(data, bytes) else data.encode())
        if isinstance(settings, str):
            z.writestr(SETTINGS_NAME, settings)
        else:
            meta = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **settings}
            z.writestr(SETTINGS_NAME, json.dumps(meta, indent=2, default=str) + "\n")
    return buf.getvalue()


def saliency_bundle(
    grid_png: bytes,
    grid_html: str,
    measure_rows: Sequence[Mapping],
    settings_json: str,
    upload: Optional[tuple[str, Image.Image]] = None,
    readme: str = "",
    sanity: Optional[Mapping[str, Union[bytes, str]]] = None,
) -> bytes:
    """The Saliency page's export bundle: the grid as PNG and interactive HTML, the measures
    as CSV (when computed), an uploaded image under the name settings.json gives it, a
    README, settings.json (from which `sc-viz explain --settings` redraws the grid), and
    the sanity checks' files when given (`sanity_view.grid_bundle_files`: under sanity/)."""
    files: dict[str, Union[bytes, str]] = {"grid.png": grid_png, "grid.html": grid_html}
    if measure_rows:
        files["measures.csv"] = rows_to_csv(measure_rows)
    for name, data in (sanity or {}).items():
        if name in files or name == SETTINGS_NAME:
            raise ValueError(f"sanity file {name!r} would replace a grid bundle file")
        files[name] = data
    if upload is not None:
        name, image = upload
        files[name] = png_bytes(image)
    if readme:
        files["README.txt"] = readme
    return bundle_zip(files, settings_json)
