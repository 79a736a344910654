"""Images from outside (uploads, files on the command line) -> RGB PIL image -> model input.

Formats are checked by content, never by extension: only the decoders of the allow-list
ever see the bytes. The pixel count is checked from the header before any pixel is
decoded (decompression bombs), and every failure is one `ImageError` line.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from sc_viz.data import center_resize

# Pillow format name -> name shown to users. MPO is the JPEG variant many cameras and
# phones write (a JPEG with extra frames, e.g. a depth map); its first frame is a JPEG.
ALLOWED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WebP", "BMP": "BMP", "GIF": "GIF"}
ALLOWED_TEXT = "PNG, JPEG, WebP, BMP or GIF"
MAX_BYTES = 25 * 1024 * 1024  # also `server.maxUploadSize` in .streamlit/config.toml
MAX_PIXELS = 40_000_000  # e.g. 8000 x 5000; PIL's own bomb check is at ~89 M

# Magic bytes of formats people commonly try, so a refusal can say what the file is.
_KNOWN_REFUSED = [
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%!PS", "PostScript/EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"%PDF", "PDF"),
    (b"<svg", "SVG"),
    (b"<?xml", "SVG/XML"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"8BPS", "Photoshop"),
    (b"qoif", "QOI"),
    (b"\x00\x00\x01\x00", "ICO"),
]


class ImageError(ValueError):
    """An image that cannot be used; the message is one line a user can act on."""


def _sniff(data: bytes) -> str | None:
    head = data[:32].lstrip()
    for magic, name in _KNOWN_REFUSED:
        if head.startswith(magic):
            return name
    if data[4:8] == b"ftyp":  # ISO media: HEIC/HEIF/AVIF photos
        brand = data[8:12].decode("ascii", "replace").strip()
        return {"avif": "AVIF", "avis": "AVIF"}.get(brand, "HEIC/HEIF")
    return None


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:80] if text else type(err).__name__


def load_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode bytes into an upright 8-bit RGB image, or raise ImageError."""
    if not data:
        raise ImageError("the file is empty")
    if len(data) > MAX_BYTES:
        raise ImageError(f"the file is {len(data) / 2**20:.0f} MB; the limit is {MAX_BYTES // 2**20} MB")
    try:
        # Only the allow-list's decoders parse the bytes, whatever the file is called.
        im = Image.open(io.BytesIO(data), formats=[f for f in ALLOWED_FORMATS if f != "MPO"])
    except UnidentifiedImageError:
        known = _sniff(data)
        if known:
            raise ImageError(f"{known} files are not accepted; use {ALLOWED_TEXT}") from None
        raise ImageError(f"not an image this app can read (use {ALLOWED_TEXT})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"the image declares too many pixels (limit {max_pixels:,})") from None
    except Exception as err:  # PIL raises many types on malformed headers
        raise ImageError(f"the file could not be read as an image ({_one_line(err)})") from None
    if im.format not in ALLOWED_FORMATS:  # belt and braces: `formats=` already limits this
        raise ImageError(f"{im.format} images are not accepted; use {ALLOWED_TEXT}")
    w, h = im.size
    if w < 1 or h < 1:
        raise ImageError(f"the image is {w} x {h} pixels; it has no pixels")
    if w * h > max_pixels:
        raise ImageError(f"the image is {w} x {h} pixels; the limit is {max_pixels:,} pixels")
    try:
        im.seek(0)  # animated GIF/WebP/PNG: the first frame
        im.load()
    except MemoryError:
        raise ImageError("the image is too large to decode") from None
    except Exception as err:  # truncated data, bad CRCs, broken LZW/zlib streams ...
        raise ImageError(f"the image is truncated or corrupt ({_one_line(err)})") from None
    try:
        upright = ImageOps.exif_transpose(im)  # phone photos: show them upright
    except Exception:  # a malformed EXIF block: keep the pixels as stored
        upright = im
    try:
        return _to_rgb(upright)
    except MemoryError:
        raise ImageError("the image is too large to decode") from None
    except Exception as err:
        raise ImageError(f"the image could not be converted to RGB ({_one_line(err)})") from None


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: scale to 8 bits, not clip
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if a.max() > 255 or im.mode.startswith("I;16") else 255.0
        return Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        a = (a - a.min()) / max(a.max() - a.min(), 1e-12)
        return Image.fromarray((a * 255 + 0.5).astype(np.uint8)).convert("RGB")
    if im.mode == "P" or (im.mode in ("L", "RGB") and "transparency" in im.info):
        im = im.convert("RGBA")  # palette or tRNS transparency -> an alpha channel
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):  # composite on white, as a viewer shows it
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, im).convert("RGB")
    return im.convert("RGB")  # L, 1, CMYK, YCbCr, RGB


# The interpolation names of torchvision / timm transforms (a manifest's `preprocessing`).
INTERPOLATIONS = {
    "nearest": Image.NEAREST,
    "bilinear": Image.BILINEAR,
    "bicubic": Image.BICUBIC,
    "lanczos": Image.LANCZOS,
    "box": Image.BOX,
    "hamming": Image.HAMMING,
}


def fit_to_input(im: Image.Image, input_size: int, preprocessing=None) -> Image.Image:
    """An image -> the input_size x input_size image the model sees. With a pack's
    `preprocessing` (an imported architecture's own transforms: the short side resized to
    `resize` with `interpolation`, then the centre `input_size` cropped) that rule; else
    data.center_resize, the rule of our packs' test images.

    As in center_resize, the crop box is taken in source coordinates and resized once."""
    try:
        resize = max(int(preprocessing["resize"]), input_size)
        filt = INTERPOLATIONS.get(str(preprocessing.get("interpolation", "bilinear")), Image.BILINEAR)
    except (KeyError, TypeError, ValueError):  # no (or an unusable) rule: our own
        return center_resize(im, input_size)
    w, h = im.size
    side = min(w, h) * input_size / resize  # the crop's side in source pixels
    left, top = (w - side) / 2, (h - side) / 2
    return im.resize((input_size, input_size), filt, box=(left, top, left + side, top + side))


def to_input(im: Image.Image) -> torch.Tensor:
    """An RGB image -> model input (1, 3, H, W) in [0, 1], exactly its pixels."""
    return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)[None].float() / 255.0


def load_input(data: bytes, input_size: int, preprocessing=None) -> tuple[Image.Image, torch.Tensor]:
    """Bytes -> (the cropped image the user sees, model input (1, 3, S, S)); `preprocessing`:
    the pack's manifest field (fit_to_input)."""
    shown = fit_to_input(load_image(data), input_size, preprocessing)
    return shown, to_input(shown)  # x: (1, 3, S, S) in [0, 1], exactly the pixels shown
