import io
import json
import zipfile

import pytest
import torch
from PIL import Image

from sc_viz.app import export


def test_png_bytes_upscales():
    im = Image.open(io.BytesIO(export.png_bytes(torch.rand(1, 3, 8, 8), upscale=3)))
    assert im.size == (24, 24) and im.format == "PNG"


def test_rows_to_csv_unions_keys():
    text = export.rows_to_csv([{"a": 1, "b": 0.123456789}, {"a": 2, "c": "x"}]).decode()
    assert text.splitlines() == ["a,b,c", "1,0.123457,", "2,,x"]


def test_bundle_holds_files_and_settings():
    data = export.bundle_zip({"grid.png": b"\x89PNG", "grid.html": "<html/>"}, {"seed": 0})
    z = zipfile.ZipFile(io.BytesIO(data))
    assert set(z.namelist()) == {"grid.png", "grid.html", export.SETTINGS_NAME}
    assert json.loads(z.read(export.SETTINGS_NAME))["seed"] == 0
    with pytest.raises(ValueError):
        export.bundle_zip({"../x": b""}, {})


def test_bundle_keeps_text_settings_verbatim():
    z = zipfile.ZipFile(io.BytesIO(export.bundle_zip({}, '{"a": 1}\n')))
    assert z.read(export.SETTINGS_NAME) == b'{"a": 1}\n'


def test_saliency_bundle_holds_what_the_page_shows():
    settings = '{"image": "image.png"}\n'
    upload = ("image.png", Image.new("RGB", (8, 8), (255, 0, 0)))
    data = export.saliency_bundle(
        b"\x89PNG", "<html/>", [{"variant": "c", "x": 1.0}], settings, upload=upload, readme="hello"
    )
    z = zipfile.ZipFile(io.BytesIO(data))
    assert set(z.namelist()) == {
        "grid.png",
        "grid.html",
        "measures.csv",
        "image.png",
        "README.txt",
        export.SETTINGS_NAME,
    }
    assert z.read(export.SETTINGS_NAME) == settings.encode()
    assert Image.open(io.BytesIO(z.read("image.png"))).getpixel((0, 0)) == (255, 0, 0)
    bare = zipfile.ZipFile(io.BytesIO(export.saliency_bundle(b"", "", [], settings)))
    assert set(bare.namelist()) == {"grid.png", "grid.html", export.SETTINGS_NAME}
