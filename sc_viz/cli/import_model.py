"""`sc-viz import`: turn the weights of a model trained elsewhere into a pack the app
explores (sc_viz/importing.py does the work; this module is the command line)."""

from __future__ import annotations

import argparse
import json

EPILOG = """examples:
  sc-viz import --arch torchvision:resnet50 --weights standard=resnet50.pth \\
      --weights robust=resnet50_linf4.pt --classes imagenet --out checkpoints/imagenet-resnet50
  sc-viz import --arch timm:vit_small_patch16_224 --weights standard=vit.safetensors --out packs/vit
  sc-viz import --arch resnet20 --weights mine=cifar_resnet20.pth --classes cifar10 --out packs/mine
  sc-viz import --list-archs torchvision

Architectures: the project's own by plain name (resnet20, resnet18, resnet50, tinycnn),
torchvision:<name> and timm:<name>, built with no weights (they come from your file; nothing
is ever downloaded). Files: .safetensors, or .pt/.pth/.bin/.ckpt read with
torch.load(weights_only=True); a checkpoint that needs code to unpickle is refused.
State dicts are found at the top or under state_dict/model/model_state_dict/net (EMA
copies under ema/model_ema/state_dict_ema with --ema); the prefixes module., model.,
_orig_mod., attacker.model., base_model. are stripped; normaliser buffers (mean/std,
mu/sigma, normalizer.new_mean/new_std) give the normalisation when --mean/--std are not
given; an attacker copy is dropped. Nothing is written unless every variant loads."""


def _three_floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write three numbers, e.g. 0.485,0.456,0.406") from None
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"{text!r}: three numbers (R,G,B), got {len(values)}")
    return values


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r}: write KEY=VALUE, e.g. depth=6")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # a plain string


def register(sub) -> None:
    p = sub.add_parser(
        "import",
        help="turn your own model's weights into a pack the app explores",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--arch", help="architecture: resnet20 | torchvision:<name> | timm:<name>")
    p.add_argument(
        "--weights",
        action="append",
        metavar="NAME=PATH",
        default=[],
        help="a variant's name and weights file; repeat for up to 8 variants",
    )
    p.add_argument("--out", help="new pack folder (must not exist, or be empty)")
    p.add_argument(
        "--classes",
        help="imagenet | cifar10 | cifar100 | a text file, one name a line "
        "(default: the built-in list whose size matches the checkpoint's head)",
    )
    p.add_argument("--input-size", type=int, help="image side in pixels (default: the architecture's)")
    p.add_argument(
        "--mean",
        type=_three_floats,
        metavar="R,G,B",
        help="input normalisation mean (default: normaliser buffers in the checkpoint, "
        "else the architecture's usual values)",
    )
    p.add_argument("--std", type=_three_floats, metavar="R,G,B", help="input normalisation std")
    p.add_argument(
        "--gradcam-layer",
        metavar="MODULE",
        help="dotted module inside your model for Grad-CAM (default: the last "
        "convolutional stage; for ViT/Swin the last block's norm)",
    )
    p.add_argument(
        "--non-strict",
        action="store_true",
        help="load the keys that fit; missing ones keep their random initialisation "
        "(both lists go into the manifest)",
    )
    p.add_argument("--ema", action="store_true", help="take the EMA weights (ema/model_ema/state_dict_ema)")
    p.add_argument(
        "--arch-option",
        action="append",
        type=_option,
        default=[],
        metavar="KEY=VALUE",
        help="a keyword for the torchvision/timm constructor (JSON value), e.g. depth=6",
    )
    p.add_argument(
        "--list-archs",
        metavar="FAMILY",
        choices=["torchvision", "timm"],
        help="list the architectures of a family and exit",
    )
    p.set_defaults(func=cmd_import)


def cmd_import(args) -> int:
    from sc_viz.importing import import_pack, parse_weights
    from sc_viz.models import ARCHS

    if args.list_archs:
        print("\n".join(f"{args.list_archs}:{n}" for n in ARCHS.families[args.list_archs].names()))
        return 0
    missing = [
        flag
        for flag, value in (("--arch", args.arch), ("--weights", args.weights), ("--out", args.out))
        if not value
    ]
    if missing:
        raise ValueError(f"missing {', '.join(missing)} (see sc-viz import --help)")
    result = import_pack(
        args.arch,
        parse_weights(args.weights),
        args.out,
        classes=args.classes,
        input_size=args.input_size,
        mean=args.mean,
        std=args.std,
        gradcam_layer=args.gradcam_layer,
        non_strict=args.non_strict,
        ema=args.ema,
        arch_options=dict(args.arch_option),
    )
    print("\n".join(result.lines))
    return 0
