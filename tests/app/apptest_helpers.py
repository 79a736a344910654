"""AppTest helpers: open the app (optionally on a given pack and page), read every widget's
value, reopen a session on another's URL, read cells.

No conftest.py here on purpose: a second module named `conftest` would shadow
tests/conftest.py for `from conftest import ...`; the app's fixtures live there."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "app.py")
DEMO_PACK = REPO / "checkpoints" / "cifar10-resnet20"
TIMEOUT = 180  # first runs decode CIFAR-10 and load models on a busy 2-core machine


HOME = "app_pages/0_Models.py"
SALIENCY, EMBEDDINGS = "app_pages/1_Saliency.py", "app_pages/2_Embeddings.py"
CONTINUITY, ROBUSTNESS = "app_pages/3_Continuity.py", "app_pages/4_Robustness.py"
# Every kind of widget whose value is part of the view.
WIDGET_KINDS = (
    "multiselect",
    "selectbox",
    "slider",
    "select_slider",
    "radio",
    "toggle",
    "text_input",
    "pills",
)


def open_app(
    page: str | None = None, *, pack: str | None = None, query: dict | None = None, timeout: float = TIMEOUT
):
    """A new session whose first visit is `page` (the home page when None) with the query
    parameters `query`: what a browser opened on a copied URL does. A run longer than
    `timeout` seconds fails."""
    from streamlit.testing.v1 import AppTest

    os.environ["SC_VIZ_WARMUP"] = "0"  # no background UMAP compile competing for the CPU
    at = AppTest.from_file(APP, default_timeout=timeout)
    if pack:
        at.query_params["pack"] = pack
    for k, v in (query or {}).items():
        at.query_params[k] = v
    if page:
        at.switch_page(page)
    at.run()
    return at


def widget_values(at) -> dict:
    """{key: value} of every keyed widget on the page and in the sidebar."""
    return {w.key: w.value for kind in WIDGET_KINDS for w in getattr(at, kind) if w.key}


def url_query(at) -> dict:
    """The session's URL query, as a browser would copy it."""
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def reopen(at, page: str):
    """A new session opened on `at`'s URL, first visit `page`."""
    return open_app(page, query=url_query(at))


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


# Real photos bundled with scikit-image, one per kind of upload the app must take in a row.
PHOTOS = [
    ("chelsea.png", "image/png"),  # RGB
    ("logo.png", "image/png"),  # RGBA
    ("camera.png", "image/png"),  # greyscale, 512 px
    ("astronaut.png", "image/png"),  # RGB, 512 px
    ("rocket.jpg", "image/jpeg"),
    ("no_time_for_that_tiny.gif", "image/gif"),
]


def photo_path(name: str) -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data" / name


def photo_upload(name: str, mime: str) -> tuple[str, bytes, str]:
    """(name, bytes, mime) for AppTest's file_uploader.set_value."""
    return name, photo_path(name).read_bytes(), mime
