"""A prepared deck's slide versus the same slide computed live.

What the Saliency page does for one slide of a talk, both ways, in one run: find the
slide's units (sc_viz.deck.slide_units: the image's hash, the weights' hashes), then per
unit either read it from the deck or compute it (explain.grid.explain_unit), then draw
every cell (saliency_view.cell) and the presentation grid's HTML (present.grid_html). The
Streamlit round trip (a few tens of ms) is not in it. Default: 4 random-init ResNet-50
variants at 224 px, IG-16, Grad-CAM, LIME-200 (the target: a slide under 1 s). Then a
Robustness slide (each variant's PGD-10 at 4/255 and its Grad-CAM maps of the clean and
adversarial image) the same two ways, through the page's own pieces of work.

    .venv/bin/python benchmarks/deck.py [--arch resnet50] [--size 224] [--variants 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sc_viz import packs  # noqa: E402
from sc_viz.app import present  # noqa: E402
from sc_viz.app import saliency_view as sv  # noqa: E402
from sc_viz.app.slide_work import PAGES  # noqa: E402
from sc_viz.data import CIFAR10_CLASSES, DATASETS  # noqa: E402
from sc_viz.deck import build_deck, image_sha256, open_deck, read_talk, slide_units  # noqa: E402
from sc_viz.deck.work import compute_now  # noqa: E402
from sc_viz.explain.grid import explain_unit  # noqa: E402
from sc_viz.explain.settings import ExplainSettings, grid_target, load_image  # noqa: E402
from sc_viz.models import build_model  # noqa: E402

NAMES = ["standard", "c", "adv", "advc", "spat", "sns", "gsct"]


def make_pack(folder: Path, arch: str, size: int, n: int) -> Path:
    spec = DATASETS["cifar10"]
    manifest = packs.new_manifest("cifar10", arch, list(CIFAR10_CLASSES), size, spec.mean, spec.std)
    models, entries = {}, {}
    for i, v in enumerate(NAMES[:n]):
        torch.manual_seed(i)
        models[v] = build_model(arch, 10, spec.mean, spec.std).eval()
        entries[v] = {
            "status": "complete",
            "config": {"variant": v, "note": "random init (bench)"},
            "metrics": {},
        }
    packs.write_new_pack(folder, manifest, models, entries)
    return folder


def show_slide(pack, slide, deck) -> tuple[float, int]:
    """The page's work for one slide; returns (seconds, units read from the deck)."""
    start = time.perf_counter()
    s = slide.settings
    x, label = load_image(s, pack)
    x = x.reshape(1, *x.shape[-3:])
    options, target = s.method_options(), grid_target(s, label)
    size = present.cell_cap_px(pack.input_size)
    rows = {v: present.Row(v, [], sv.input_cell(x, size), [None] * len(s.methods)) for v in s.variants}
    served = 0
    for u in slide_units(pack, x, s, label):
        cells = deck.get(u.key) if deck is not None else None
        served += cells is not None
        if cells is None:
            cells = explain_unit(
                {v: pack.models[v] for v in u.variants}, x, u.method, target, options.get(u.method, {})
            )
        for v, exp in cells.items():
            rows[v].cells[s.methods.index(u.method)] = sv.cell(
                x, exp, pack.classes, s.opacity, size=size
            ).image
    heads = [present.image_header()] + [present.method_header(m, size) for m in s.methods]
    present.grid_html(heads, list(rows.values()), size)
    return time.perf_counter() - start, served


def robustness_slide(pack, deck, slide: dict, x) -> tuple[float, int]:
    """The Robustness page's work for one slide; returns (seconds, pieces from the deck)."""
    start, served = time.perf_counter(), [0]
    sha = image_sha256(x) if deck is not None else ""

    def from_deck(work, compute):
        found = deck.get_result(work.key_in(pack, sha))
        served[0] += found is not None
        return found if found is not None else compute()

    PAGES["Robustness"](pack, x, None, slide, from_deck if deck is not None else compute_now)
    return time.perf_counter() - start, served[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--variants", type=int, default=4)
    ap.add_argument("--ig-steps", type=int, default=16)
    ap.add_argument("--lime-samples", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3, help="deck reads timed (median)")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1 ...")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pack_dir = make_pack(tmp / "pack", args.arch, args.size, args.variants)
        image = tmp / "photo.png"
        Image.effect_mandelbrot((args.size, args.size), (-2, -1.5, 1, 1.5), 100).convert("RGB").save(image)
        settings = ExplainSettings(
            pack=str(pack_dir),
            image=str(image),
            variants=NAMES[: args.variants],
            methods=["gradcam", "ig", "lime"],
            budgets={"ig": args.ig_steps, "lime": args.lime_samples},
        )
        talk = tmp / "talk.json"
        slide_json = {"page": "Saliency", "settings": json.loads(settings.to_json())}
        talk.write_text(json.dumps({"format": "sc-viz-talk/1", "slides": [slide_json]}))
        (slide,) = read_talk(talk)
        pack = packs.load_pack(pack_dir, device=args.device)
        show_slide(pack, slide, None)  # warm-up: first-call costs paid before timing
        live, _ = show_slide(pack, slide, None)
        t0 = time.perf_counter()
        build_deck(talk, tmp / "deck", device=args.device)
        build = time.perf_counter() - t0
        deck = open_deck(tmp / "deck")
        reads = [show_slide(pack, slide, deck) for _ in range(args.repeats)]
        from_deck = statistics.median(t for t, _ in reads)
        units = len(list(slide_units(pack, load_image(slide.settings, pack)[0], slide.settings, None)))
        print(
            f"deck slide: {args.variants} x {args.arch} at {args.size} px, Grad-CAM + IG-{args.ig_steps} + "
            f"LIME-{args.lime_samples}; {args.device}, torch threads {torch.get_num_threads()}"
        )
        print(f"  live (computed)     {live:8.2f} s")
        print(f"  deck build          {build:8.2f} s")
        print(
            f"  from the deck       {from_deck:8.3f} s   ({reads[0][1]}/{units} units read; "
            f"live / deck = {live / from_deck:.0f}x; target < 1 s)"
        )
        robust = {
            "page": "Robustness",
            "pack": str(pack_dir),
            "image": str(image),
            "view": {"eps": "4", "adv": "gradcam"},
        }
        talk.write_text(json.dumps({"format": "sc-viz-talk/1", "slides": [robust]}))
        x = load_image(slide.settings, pack)[0].reshape(1, 3, args.size, args.size)
        live, _ = robustness_slide(pack, None, robust, x)
        build_deck(talk, tmp / "deck-robustness", pages=PAGES, device=args.device)
        deck = open_deck(tmp / "deck-robustness")
        reads = [robustness_slide(pack, deck, robust, x) for _ in range(args.repeats)]
        from_deck = statistics.median(t for t, _ in reads)
        print("robustness slide: PGD-10 at 4/255 + Grad-CAM of x and x' per variant")
        print(f"  live (computed)     {live:8.2f} s")
        print(
            f"  from the deck       {from_deck:8.3f} s   ({reads[0][1]}/{len(deck.manifest['entries'])} "
            f"pieces read; live / deck = {live / from_deck:.0f}x)"
        )


if __name__ == "__main__":
    main()
