"""Uploaded images through `sc_viz.images.load_input`, the function the app calls.

Every file is made here with PIL/numpy. Each case either decodes correctly (checked
against what the picture should look like) or raises ImageError with a one-line message.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from sc_viz.images import MAX_BYTES, MAX_PIXELS, ImageError, load_image, load_input

S = 32  # the demo pack's input size


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def refused(data: bytes, *words: str) -> str:
    with pytest.raises(ImageError) as info:
        load_input(data, S)
    msg = str(info.value)
    assert msg and "\n" not in msg and len(msg) < 200, msg
    for w in words:
        assert w.lower() in msg.lower(), msg
    return msg


def ok(data: bytes) -> tuple[Image.Image, torch.Tensor]:
    shown, x = load_input(data, S)
    assert shown.mode == "RGB" and shown.size == (S, S)
    assert x.shape == (1, 3, S, S) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    # the model sees exactly the pixels the user is shown
    assert torch.equal(x[0], torch.from_numpy(np.asarray(shown).copy()).permute(2, 0, 1).float() / 255)
    return shown, x


def noise(h, w, c=3, seed=0) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, (h, w, c) if c else (h, w), dtype=np.uint8)


def png_header_only(w: int, h: int, bit_depth=8, color_type=2) -> bytes:
    """A valid PNG signature + IHDR declaring w x h, a tiny IDAT and IEND: a 'bomb' header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


# ------------------------------------------------------------------ refused inputs
def test_empty_file():
    refused(b"", "empty")


def test_text_renamed_png():
    refused(b"hello, this is not a picture\n" * 20, "not an image")


def test_random_bytes():
    refused(np.random.RandomState(1).bytes(5000))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("keep", [30, 100, 0.5, 0.9])
def test_truncated(fmt, keep):
    data = encode(Image.fromarray(noise(64, 48)), fmt)
    cut = keep if isinstance(keep, int) else int(len(data) * keep)
    refused(data[:cut], "truncated" if cut > 100 else "")


def test_small_png_cut_to_100_bytes_is_refused_or_complete():
    """A PNG cut to its first 100 bytes must not come back as a (partly) blank image."""
    for arr in (np.full((64, 64, 3), 200, np.uint8), noise(8, 8), noise(64, 64)):
        data = encode(Image.fromarray(arr), "PNG")
        if len(data) <= 100:
            continue  # the whole file fits in 100 bytes
        refused(data[:100])


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP"])
def test_every_cut_is_refused_or_exact(fmt):
    """Cut the file at many points: a cut either is refused or decodes to the full image
    (e.g. only a trailing IEND chunk missing), never to something silently different."""
    im = Image.fromarray(noise(24, 20))
    if fmt == "GIF":
        im = im.convert("P")
    data = encode(im, fmt)
    full = np.asarray(load_image(data))
    for cut in sorted(set(np.linspace(1, len(data) - 1, 60).astype(int))):
        try:
            got = np.asarray(load_image(data[:cut]))
        except ImageError as err:
            assert "\n" not in str(err)
            continue
        assert np.array_equal(got, full), f"{fmt} cut at {cut}/{len(data)} decoded to other pixels"


def test_decompression_bomb_header_30000_square():
    data = png_header_only(30000, 30000)
    assert len(data) < 200
    tracemalloc.start()
    try:
        refused(data, "pixels")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20, f"refusing a bomb header took {peak / 2**20:.1f} MiB"


def test_bomb_just_over_the_app_limit_below_pils():
    side = int(MAX_PIXELS**0.5) + 10  # > MAX_PIXELS, < PIL's own 89 M pixel warning
    assert side * side < Image.MAX_IMAGE_PIXELS
    tracemalloc.start()
    try:
        msg = refused(png_header_only(side, side), "pixels")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"{side} x {side}" in msg
    assert peak < 5 * 2**20


def test_gif_bomb_header():
    # GIF logical screen 65535 x 65535 with a 1x1 frame
    data = (
        b"GIF89a"
        + struct.pack("<HH", 65535, 65535)
        + b"\x80\x00\x00"
        + b"\0\0\0\xff\xff\xff"
        + b","
        + struct.pack("<HHHH", 0, 0, 1, 1)
        + b"\x00"
        + b"\x02\x02\x44\x01\x00"
        + b";"
    )
    refused(data, "pixels")


def test_oversized_file():
    refused(b"\x89PNG\r\n\x1a\n" + b"\0" * (MAX_BYTES + 1), "limit")


@pytest.mark.parametrize("fmt,expected", [("TIFF", "TIFF"), ("EPS", "EPS")])
def test_formats_outside_the_allow_list(fmt, expected, tmp_path):
    data = encode(Image.fromarray(noise(16, 16)), fmt)
    refused(data, expected, "not accepted")


def test_other_decodable_formats_are_refused_too():
    # Formats Pillow can read but the app does not accept: refused by content
    for fmt in ("PPM", "TGA", "ICO", "PCX"):
        refused(encode(Image.fromarray(noise(16, 16)), fmt))


def test_format_checked_by_content_not_extension():
    """A JPEG works whatever it is called; a TIFF does not, whatever it is called. (The
    function never sees a name, so this pins down that nothing but the bytes decides.)"""
    jpeg = encode(Image.fromarray(noise(40, 40)), "JPEG")
    tiff = encode(Image.fromarray(noise(40, 40)), "TIFF")
    ok(jpeg)
    refused(tiff, "TIFF")
    # a TIFF with a PNG signature glued on front is not a PNG
    refused(b"\x89PNG\r\n\x1a\n" + tiff)


def test_ghostscript_never_runs_on_eps(tmp_path, monkeypatch):
    """EPS would be rasterised by Ghostscript; the EPS decoder must never be reached."""
    from PIL import EpsImagePlugin

    def boom(*a, **k):
        raise AssertionError("EPS decoder was called")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", boom)
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", boom, raising=False)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    refused(eps, "not accepted")


# ------------------------------------------------------------------ accepted inputs
def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    shown, _ = ok(data)
    px = np.asarray(shown).reshape(-1, 3).mean(0)
    assert px[0] > 240 and px[1] < 15 and px[2] < 15, px  # red: the first frame


def test_cmyk_jpeg():
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[:, :20] = (255, 0, 0)
    rgb[:, 20:] = (0, 0, 255)
    im = Image.fromarray(rgb).convert("CMYK")
    data = encode(im, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    shown, _ = ok(data)
    a = np.asarray(shown).astype(int)
    assert (abs(a[:, :12] - [255, 0, 0]).max(axis=-1) < 40).all()  # left half red
    assert (abs(a[:, 20:] - [0, 0, 255]).max(axis=-1) < 40).all()  # right half blue


def test_16bit_grayscale_png_is_scaled_not_clipped():
    ramp = np.linspace(0, 65535, S * S).round().astype(np.uint16).reshape(S, S)
    data = encode(Image.fromarray(ramp), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    shown, x = ok(data)
    a = np.asarray(shown)
    assert (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all()
    expected = np.round(ramp / 65535 * 255)
    assert np.abs(a[..., 0].astype(int) - expected).max() <= 1
    assert a.max() == 255 and a.min() == 0
    assert 100 < a.mean() < 155  # clipping at 255 would make it almost all white


def test_dark_16bit_png_stays_dark():
    dark = np.full((S, S), 200, np.uint16)  # 200/65535: nearly black, not 78% grey
    shown, _ = ok(encode(Image.fromarray(dark), "PNG"))
    assert np.asarray(shown).max() <= 1


def test_rgba_png_composited_on_white():
    a = np.zeros((S, S, 4), np.uint8)
    a[..., 0] = 255  # red ...
    a[:, : S // 2, 3] = 255  # ... opaque on the left
    a[:, S // 2 :, 3] = 0  # fully transparent on the right
    shown, _ = ok(encode(Image.fromarray(a, "RGBA"), "PNG"))
    px = np.asarray(shown).astype(int)
    assert (px[:, 2 : S // 2 - 2] == [255, 0, 0]).all()
    assert (px[:, S // 2 + 2 : -2] == [255, 255, 255]).all()


def test_palette_png_with_transparency():
    im = Image.new("P", (S, S), 0)
    im.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    im.paste(1, (0, 0, S // 2, S))  # left: green (index 1); right: index 0, transparent
    data = encode(im, "PNG", transparency=0)
    shown, _ = ok(data)
    px = np.asarray(shown).astype(int)
    assert (px[:, 2 : S // 2 - 2] == [0, 255, 0]).all()
    assert (px[:, S // 2 + 2 : -2] == [255, 255, 255]).all()  # transparent black shows white


def test_grey_png_with_trns_transparency():
    im = Image.new("L", (S, S), 0)
    im.paste(128, (0, 0, S // 2, S))
    shown, _ = ok(encode(im, "PNG", transparency=0))
    px = np.asarray(shown).astype(int)
    assert (px[:, 2 : S // 2 - 2] == 128).all()
    assert (px[:, S // 2 + 2 : -2] == 255).all()


def _asymmetric(w=48, h=32) -> np.ndarray:
    """Red top-left quadrant, blue bottom-right, green elsewhere: no symmetry."""
    a = np.zeros((h, w, 3), np.uint8)
    a[...] = (0, 255, 0)
    a[: h // 2, : w // 2] = (255, 0, 0)
    a[h // 2 :, w // 2 :] = (0, 0, 255)
    return a


@pytest.mark.parametrize(
    "orientation,stored_transpose",
    [
        (3, Image.Transpose.ROTATE_180),
        (6, Image.Transpose.ROTATE_90),  # stored turned 90 deg counter-clockwise
        (8, Image.Transpose.ROTATE_270),  # stored turned 90 deg clockwise
        (2, Image.Transpose.FLIP_LEFT_RIGHT),
    ],
)
def test_exif_rotated_jpeg_shown_upright(orientation, stored_transpose):
    upright = Image.fromarray(_asymmetric(32, 32))  # square: the crop keeps everything
    stored = upright.transpose(stored_transpose)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, "JPEG", quality=98, exif=exif.tobytes())
    shown, _ = ok(data)
    got = np.asarray(shown).astype(int)
    want = np.asarray(upright).astype(int)
    q = S // 4  # compare the middle of each quadrant (away from JPEG edge ringing)
    for ys in (slice(2, q), slice(S - q, S - 2)):
        for xs in (slice(2, q), slice(S - q, S - 2)):
            assert np.abs(got[ys, xs].mean((0, 1)) - want[ys, xs].mean((0, 1))).max() < 30, (
                orientation,
                ys,
                xs,
            )


def test_exif_rotated_non_square_becomes_portrait():
    stored = Image.fromarray(_asymmetric(60, 20)).transpose(Image.Transpose.ROTATE_90)  # 20x60
    exif = Image.Exif()
    exif[0x0112] = 6
    im = load_image(encode(stored, "JPEG", quality=98, exif=exif.tobytes()))
    assert im.size == (60, 20)


def test_malformed_exif_does_not_break_the_upload():
    data = encode(Image.fromarray(noise(32, 32)), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff")
    ok(data)


@pytest.mark.parametrize("w,h", [(1, 1), (1, 5000), (5000, 1), (2, 3)])
def test_tiny_and_extreme_aspect_images(w, h):
    arr = noise(h, w)
    shown, x = ok(encode(Image.fromarray(arr), "PNG"))
    if w == 1 and h == 1:
        assert (np.asarray(shown) == arr[0, 0]).all()


def test_mpo_camera_jpeg_accepted():
    frames = [Image.fromarray(_asymmetric(32, 32)), Image.new("RGB", (32, 32), (9, 9, 9))]
    data = encode(frames[0], "MPO", save_all=True, append_images=frames[1:], quality=98)
    assert Image.open(io.BytesIO(data)).format == "MPO"
    shown, _ = ok(data)
    assert np.asarray(shown)[2:8, 2:8, 0].mean() > 200  # red corner of the first frame


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF"])
def test_allowed_formats_decode(fmt):
    arr = _asymmetric(S, S)
    shown, _ = ok(encode(Image.fromarray(arr), fmt, **({"quality": 98} if fmt in ("JPEG", "WEBP") else {})))
    assert np.abs(np.asarray(shown).astype(int) - arr).mean() < 12


def test_crop_matches_the_data_set_rule():
    """Uploads go through data.center_resize, the rule the test images went through."""
    from sc_viz.data import center_resize

    im = Image.fromarray(noise(90, 60))
    shown, x = ok(encode(im, "PNG"))
    assert np.array_equal(np.asarray(shown), np.asarray(center_resize(im, S)))


def test_large_valid_image_memory_is_bounded():
    # 3000 x 2000 JPEG (~6 M pixels): decoding + conversion stays within a few copies
    arr = np.tile(np.linspace(0, 255, 3000, dtype=np.uint8)[None, :, None], (2000, 1, 3))
    data = encode(Image.fromarray(arr), "JPEG", quality=80)
    tracemalloc.start()
    try:
        ok(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 3000 * 2000 * 3, f"{peak / 2**20:.0f} MiB"


def test_concurrent_uploads_do_not_interfere():
    """The app decodes uploads of several sessions at once (threads)."""
    from concurrent.futures import ThreadPoolExecutor

    datas = [encode(Image.fromarray(noise(50, 40, seed=i)), "PNG") for i in range(8)]
    datas += [png_header_only(30000, 30000), b"", b"GIF89a garbage"]

    def run(d):
        try:
            return load_input(d, S)[1]
        except ImageError as err:
            return str(err)

    serial = [run(d) for d in datas]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            par = list(pool.map(run, datas))
            for a, b in zip(serial, par):
                assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
