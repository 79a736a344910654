"""Images from outside (uploads, files on the command line) -> RGB PIL image -> model input.

Formats are checked by content, never by extension; pixel count is checked from the header
before any pixel is decoded (decompression bombs); every failure is one `ImageError` line.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .data import center_resize

ALLOWED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP", "BMP": "BMP", "GIF": "GIF"}
MAX_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 40_000_000  # e.g. 8000 x 5000; PIL's own bomb check is at ~89 M


class ImageError(ValueError):
    """An image that cannot be used; the message is one line a user can act on."""


def load_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode bytes into an upright 8-bit RGB image, or raise ImageError."""
    if not data:
        raise ImageError("the file is empty")
    if len(data) > MAX_BYTES:
        raise ImageError(f"the file is {len(data) / 2**20:.0f} MB; the limit is {MAX_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError("not an image this app can read (use PNG, JPEG, WebP, BMP or GIF)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"the image declares too many pixels (limit {max_pixels:,})") from None
    except Exception as err:  # PIL raises many types on malformed headers
        raise ImageError(f"the file could not be read as an image ({type(err).__name__})") from None
    if im.format not in ALLOWED_FORMATS:
        raise ImageError(f"{im.format} images are not accepted; use PNG, JPEG, WebP, BMP or GIF")
    w, h = im.size
    if w * h > max_pixels:
        raise ImageError(f"the image is {w} x {h} pixels; the limit is {max_pixels:,} pixels")
    try:
        im.seek(0)  # animated GIF/WebP/PNG: the first frame
        im.load()
        im = ImageOps.exif_transpose(im)  # phone photos: show them upright
        return _to_rgb(im)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ImageError(f"the image is truncated or corrupt ({str(err).splitlines()[0][:80]})") from None


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: scale to 8 bits, not clip
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if a.max() > 255 or im.mode.startswith("I;16") else 255.0
        return Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        a = (a - a.min()) / max(a.max() - a.min(), 1e-12)
        return Image.fromarray((a * 255 + 0.5).astype(np.uint8)).convert("RGB")
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):  # transparency: composite on white, as a viewer shows it
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, im).convert("RGB")
    return im.convert("RGB")  # L, 1, CMYK, YCbCr, RGB


def to_input(im: Image.Image, input_size: int) -> torch.Tensor:
    """RGB image -> (1, 3, S, S) float in [0, 1], resized/cropped as the pack's data set."""
    im = center_resize(im, input_size)
    return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)[None].float() / 255.0


def load_input(data: bytes, input_size: int) -> tuple[Image.Image, torch.Tensor]:
    """Bytes -> (the cropped image the user sees, model input (1, 3, S, S))."""
    im = load_image(data)
    return center_resize(im, input_size), to_input(im, input_size)
