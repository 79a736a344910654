import json

import numpy as np
import pytest
from PIL import Image

from sc_viz.cli import main


def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_grid_png_html_and_settings_roundtrip(tiny_pack, tmp_path, capsys):
    png, html, settings = tmp_path / "grid.png", tmp_path / "grid.html", tmp_path / "s.json"
    rc, out, err = run_cli(
        capsys,
        "explain",
        "--pack",
        tiny_pack,
        "--index",
        7,
        "--out",
        png,
        "--html",
        html,
        "--save-settings",
        settings,
        "--methods",
        "saliency",
        "gradcam",
        "lime",
        "--lime-samples",
        40,
        "--seed",
        3,
    )
    assert rc == 0, err
    assert png.read_bytes()[:4] == b"\x89PNG" and "Plotly.newPlot" in html.read_text()
    assert "true class" in out and "standard" in out and "advc" in out
    saved = json.loads(settings.read_text())
    assert saved["image"] == {"dataset_split": "test", "index": 7}
    assert saved["budgets"]["lime"] == 40 and saved["seed"] == 3
    # the settings alone redraw the same figure, byte for byte
    again = tmp_path / "again.png"
    rc, _, err = run_cli(capsys, "explain", "--settings", settings, "--out", again)
    assert rc == 0, err
    assert again.read_bytes() == png.read_bytes()


def test_image_file_of_odd_size_and_target(tiny_pack, tmp_path, capsys):
    img = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 255, (37, 50, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(img)
    rc, out, err = run_cli(
        capsys,
        "explain",
        "--pack",
        tiny_pack,
        "--image",
        img,
        "--out",
        tmp_path / "g.png",
        "--methods",
        "saliency",
        "--target",
        "cat",
        "--variants",
        "c",
        "adv",
    )
    assert rc == 0, err
    assert out.count("explained: cat") == 2 and "true class" not in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--image", "{img}"], "not an image"),
        (["--index", "3", "--target", "unicorn"], "not a class of the pack"),
        (["--index", "3", "--target", "12"], "outside the pack's 10 classes"),
        (["--index", "3", "--variants", "robust"], "variants not in the pack: robust"),
        (["--index", "99999"], "outside the split"),
        ([], "give --image FILE or --index N"),
    ],
)
def test_bad_input_is_one_line_error(tiny_pack, tmp_path, capsys, argv, message):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image at all")
    argv = [a.format(img=bad) for a in argv]
    rc, _, err = run_cli(
        capsys, "explain", "--pack", tiny_pack, "--out", tmp_path / "g.png", "--methods", "saliency", *argv
    )
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_bad_out_pack_and_settings(tiny_pack, tmp_path, capsys):
    rc, _, err = run_cli(capsys, "explain", "--pack", tiny_pack, "--index", 1, "--out", tmp_path / "g.jpg")
    assert rc == 2 and "must end in .png" in err
    rc, _, err = run_cli(
        capsys, "explain", "--pack", tmp_path / "nope", "--index", 1, "--out", tmp_path / "g.png"
    )
    assert rc == 2 and "manifest" in err
    (tmp_path / "s.json").write_text('{"pack": "x", "image": "y", "colour": 1}')
    rc, _, err = run_cli(capsys, "explain", "--settings", tmp_path / "s.json", "--out", tmp_path / "g.png")
    assert rc == 2 and "unknown settings fields: colour" in err


def test_settings_from_an_export_bundle_find_the_upload_beside_them(tiny_pack, tmp_path):
    """The app's bundle holds settings.json and the upload as image.png in one folder; the
    CLI run from elsewhere must read that image, not one relative to its working dir."""
    import io

    from PIL import Image

    from sc_viz.app import saliency_view as sv
    from sc_viz.cli import main

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    Image.new("RGB", (40, 30), (250, 20, 20)).save(bundle / "image.png")
    settings = sv.page_settings(
        str(tiny_pack),
        image_index=None,
        image_file="image.png",
        variants=["standard"],
        methods=["saliency"],
        target_mode=sv.TARGET_PREDICTED,
        target_class=None,
        budgets={"ig": 8, "lime": 100},
        opacity=0.5,
    )
    (bundle / "settings.json").write_text(settings.to_json())
    out = tmp_path / "grid.png"
    assert main(["explain", "--settings", str(bundle / "settings.json"), "--out", str(out)]) == 0
    assert Image.open(io.BytesIO(out.read_bytes())).format == "PNG"


def test_settings_take_a_bundle_image_at_input_size_as_is_and_crop_others_by_the_pack_rule(tmp_path):
    # A bundle saves the upload after the app's crop; above 64 px, cropping it again would
    # zoom it (resize the short side to `resize`, then the centre crop).
    import types

    import torch

    from sc_viz.explain.settings import ExplainSettings, load_image
    from sc_viz.images import load_input

    pack = types.SimpleNamespace(
        input_size=96, manifest={"preprocessing": {"resize": 110, "crop": 96, "interpolation": "bilinear"}}
    )
    rng = np.random.default_rng(0)
    exact = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    Image.fromarray(exact).save(tmp_path / "bundle.png")
    x, label = load_image(ExplainSettings(pack="p", image=str(tmp_path / "bundle.png")), pack)
    assert label is None and torch.equal((x * 255).round().byte().permute(1, 2, 0), torch.from_numpy(exact))
    big = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "photo.png")
    x, _ = load_image(ExplainSettings(pack="p", image=str(tmp_path / "photo.png")), pack)
    _, want = load_input((tmp_path / "photo.png").read_bytes(), 96, pack.manifest["preprocessing"])
    assert torch.equal(x, want[0])
