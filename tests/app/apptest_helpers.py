"""AppTest helpers: open the app (optionally on a given pack), switch pages, read cells.

No conftest.py here on purpose: a second module named `conftest` would shadow
tests/conftest.py for `from conftest import ...`; test modules import the fixture below."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "app.py")
DEMO_PACK = REPO / "checkpoints" / "cifar10-resnet20"
TIMEOUT = 180  # first runs decode CIFAR-10 and load models on a busy 2-core machine


def open_app(page: str | None = None, *, pack: str | None = None, query: dict | None = None):
    from streamlit.testing.v1 import AppTest

    os.environ["SC_VIZ_WARMUP"] = "0"  # no background UMAP compile competing for the CPU
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if pack:
        at.query_params["pack"] = pack
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def assert_clean(at) -> None:
    """No exception element and no traceback text anywhere on the page."""
    assert not at.exception, [e.message for e in at.exception]
    texts = [e.value for e in [*at.error, *at.warning, *at.info, *at.markdown] if isinstance(e.value, str)]
    assert not any("Traceback" in t for t in texts), texts


def images(at) -> list:
    return list(at.main.get("image"))


def image_captions(at) -> list[str]:
    return [c for im in images(at) for c in im.captions]


def png_bytes(size=(48, 40), mode="RGB", colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, format="PNG")
    return buf.getvalue()


def real_photo_bytes() -> bytes:
    """A real CIFAR-10 test image as a JPEG file, at 3x size (an upload is any size)."""
    root = Path(os.environ.get("SC_VIZ_DATA", REPO.parent / "shared" / "datasets"))
    first = sorted((root / "cifar10" / "test" / "cat").iterdir())[0]
    buf = io.BytesIO()
    with Image.open(first) as im:
        im.convert("RGB").resize((96, 96)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def tiny_packs_env(tiny_pack, monkeypatch):
    """Point the app at the session's tiny pack (4 random-init variants) via SC_VIZ_PACKS;
    returns the pack's name for the `pack` query parameter."""
    monkeypatch.setenv("SC_VIZ_PACKS", str(tiny_pack.parent))
    return tiny_pack.name
