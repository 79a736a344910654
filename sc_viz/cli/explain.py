"""`sc-viz explain`: the variants x methods grid of one image, as PNG (and HTML)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

EPILOG = """examples:
  sc-viz explain --pack checkpoints/cifar10-resnet20 --image cat.png --out grid.png
  sc-viz explain --pack checkpoints/cifar10-resnet20 --index 12 --methods ig gradcam lime \\
      --target label --out grid.png --html grid.html --save-settings settings.json
  sc-viz explain --settings settings.json --out grid.png   (redraws a saved/app-exported grid)"""


def register(subparsers) -> None:
    from sc_viz.explain import METHODS
    from sc_viz.explain.base import budget_flag, budgeted

    p = subparsers.add_parser(
        "explain",
        help="attribution maps of every variant for one image (PNG/HTML grid)",
        description="Explain one image with every variant of a pack and several methods; "
        "writes the variants x methods grid.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--settings", help="an ExplainSettings JSON (the app's export); flags given as well override it"
    )
    p.add_argument("--pack", help="pack folder")
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--image", help="image file (PNG, JPEG, WebP, BMP, GIF), resized/cropped as the pack's data set"
    )
    src.add_argument("--index", type=int, help="index of a test image of the pack's data set")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--html", help="also write an interactive HTML file")
    p.add_argument("--save-settings", help="write the settings used as JSON")
    p.add_argument("--variants", nargs="+", help="variants to show (default: all in the pack)")
    p.add_argument("--methods", nargs="+", choices=METHODS.names(), help="methods (default: ig gradcam lime)")
    p.add_argument(
        "--target",
        help="class to explain: an index or class name, 'label' (the "
        "true class when known, the default) or 'predicted' (each model's own)",
    )
    for b in budgeted().values():  # each method's cost knob (explain.base.Budget)
        default = b.defaults["explain"]
        p.add_argument(budget_flag(b), type=int, dest=b.key, help=f"{b.help} (default {default})")
    p.add_argument("--seed", type=int, help="seed of LIME and SmoothGrad (default 0)")
    p.add_argument("--opacity", type=float, help="heat-map opacity over the image (default 0.5)")
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        help="IG's passes and LIME's scores: bf16 where the device runs it natively (auto, "
        "the default), always, or never",
    )
    p.add_argument("--data-root", help="data folder for --index (default: $SC_VIZ_DATA)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA if present)")
    p.set_defaults(func=run)


def _target_fields(text: str, classes: list[str]) -> dict:
    if text in ("label", "predicted"):
        return {"target_mode": text, "target_class": None}
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < len(classes):
            raise ValueError(f"--target {index} is outside the pack's {len(classes)} classes")
        return {"target_mode": "class", "target_class": index}
    if text in classes:
        return {"target_mode": "class", "target_class": classes.index(text)}
    raise ValueError(f"--target {text!r} is not a class of the pack, an index, 'label' or 'predicted'")


def build_settings(args):
    """Settings file (if any) overridden by the flags given."""
    from sc_viz.explain.base import budgeted
    from sc_viz.explain.settings import ExplainSettings

    base = ExplainSettings.load(args.settings) if args.settings else None
    pack = args.pack or (base.pack if base else None)
    if not pack:
        raise ValueError("give --pack (or --settings)")
    image = (
        str(Path(args.image))
        if args.image
        else {"dataset_split": "test", "index": args.index}
        if args.index is not None
        else base.image
        if base
        else None
    )
    if base and image is base.image and isinstance(image, str) and not Path(image).is_absolute():
        # the app's export bundle stores an upload beside settings.json: resolve it there
        beside = Path(args.settings).parent / image
        image = str(beside) if beside.exists() else image
    if image is None:
        raise ValueError("give --image FILE or --index N (or --settings)")
    values = dataclasses.asdict(base) if base else {}
    values.update(pack=str(pack), image=image)
    for flag, name in [
        ("variants", "variants"),
        ("methods", "methods"),
        ("seed", "seed"),
        ("opacity", "opacity"),
        ("precision", "precision"),
    ]:
        if getattr(args, flag) is not None:
            values[name] = getattr(args, flag)
    given = {m: getattr(args, b.key) for m, b in budgeted().items() if getattr(args, b.key) is not None}
    values["budgets"] = {**(values.get("budgets") or {}), **given}
    return ExplainSettings(**values)


def run(args) -> int:
    from sc_viz.explain.settings import run as run_settings
    from sc_viz.figures import grid_figure, grid_png, to_html
    from sc_viz.packs import load_pack

    settings = build_settings(args)
    pack = load_pack(settings.pack, device=args.device)
    if args.target is not None:
        settings = dataclasses.replace(settings, **_target_fields(args.target, pack.classes))
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out {out} must end in .png")
    if not out.parent.is_dir():
        raise ValueError(f"--out: folder {out.parent} does not exist")
    grid, x, label = run_settings(settings, pack, data_root=args.data_root)
    grid_png(grid, x, out, classes=pack.classes, opacity=settings.opacity)
    if args.html:
        to_html(grid_figure(grid, x, classes=pack.classes, opacity=settings.opacity), args.html)
    if args.save_settings:
        Path(args.save_settings).write_text(settings.to_json())
    truth = f", true class {pack.classes[label]}" if label is not None else ""
    print(f"wrote {out}{' and ' + args.html if args.html else ''}{truth}")
    for v in grid.variants:
        cls, p = grid.predictions[v][0]
        print(f"  {v:9s} predicts {pack.classes[cls]} ({p:.0%}), explained: {pack.classes[grid.targets[v]]}")
    return 0
