"""`sc-viz bench panel|embed|train`: wall time of the explanation grid and the embedding
view, beside the bare model passes they need and the naive way; and images per second of
one training step of every variant beside a clean step's bare forward/backward; each
measured in the same run. A benchmark (prints numbers), not a test."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from sc_viz.training.presets import PGD3
from sc_viz.training.related import GsctSettings, SpatSettings
from sc_viz.variants import VARIANTS

DEMO_PACK = Path("checkpoints/cifar10-resnet20")
# The grid the app shows by default: the paper's variants, in the registry's order.
PAPER_VARIANTS = [v for v, spec in VARIANTS.items() if spec.group == "paper"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="time the explanation grid / embedding view / training steps",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  sc-viz bench panel\n"
        "  sc-viz bench panel --arch resnet50 --size 224 --ig-steps 16 "
        "--lime-samples 200\n  sc-viz bench embed\n"
        "  sc-viz bench train --batch 128 --steps 3",
    )
    p.add_argument("what", choices=["panel", "embed", "train"])
    p.add_argument(
        "--pack",
        default=str(DEMO_PACK),
        help="pack used when it has the paper's "
        f"{len(PAPER_VARIANTS)} variants of the chosen arch, or is an imported pack "
        "(`sc-viz import`: all its variants, its own arch and input size unless --size) "
        "(default: the demo pack); else random-init models",
    )
    p.add_argument("--arch", default="resnet20", help="architecture (default resnet20)")
    p.add_argument("--size", type=int, help="input side (default: the arch's)")
    p.add_argument("--ig-steps", type=int, default=50)
    p.add_argument("--lime-samples", type=int, default=1000)
    p.add_argument("--points", type=int, default=1000, help="embed: points per variant")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="cpu", help="panel: cpu (default), cuda, cuda:1 ...")
    p.add_argument("--batch", type=int, default=128, help="train: batch size (default 128)")
    p.add_argument("--steps", type=int, default=3, help="train: timed steps per variant (default 3)")
    p.add_argument("--variants", nargs="+", help="train: these variants (default: every one)")
    p.set_defaults(func=run)


def _models(args) -> tuple[dict, str]:
    from sc_viz.data import DATASETS
    from sc_viz.models import ARCHS, build_model
    from sc_viz.packs import load_pack

    try:
        pack = load_pack(args.pack, device="cpu")
        if pack.arch == args.arch and all(v in pack.models for v in PAPER_VARIANTS):
            return {v: pack.models[v] for v in PAPER_VARIANTS}, f"pack {args.pack}"
        if pack.manifest.get("source") == "import" and pack.models:  # its own arch (torchvision:/timm:)
            return dict(pack.models), f"imported pack {args.pack} ({pack.arch}: {', '.join(pack.models)})"
    except Exception:  # no usable pack: random weights time the same
        pass
    spec = DATASETS["cifar10"]
    ARCHS[args.arch]
    models = {}
    for i, v in enumerate(PAPER_VARIANTS):
        torch.manual_seed(i)
        models[v] = build_model(args.arch, 10, spec.mean, spec.std).eval()
    return models, f"random-init {args.arch} x {len(models)}"


def _pack_input_size(pack_dir: str) -> int:
    from sc_viz.packs import read_manifest

    return int(read_manifest(Path(pack_dir))["input_size"])


def _image(size: int) -> tuple[torch.Tensor, str]:
    from sc_viz.data import data_root, load_split

    try:
        split = load_split("cifar10", "test", data_root(), size)
        return split.get(0), "CIFAR-10 test image 0"
    except Exception:
        return torch.rand(3, size, size, generator=torch.Generator().manual_seed(0)), "random image"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _bare_passes(models: dict, x: torch.Tensor, targets: dict, ig_steps: int, lime_samples: int) -> None:
    """The model work the grid needs, nothing else: per variant a prediction forward, IG's
    steps forward+backward (plus its delta forward), Grad-CAM's forward+backward, and the
    LIME samples' forwards, in the batch sizes and precision the grid uses."""
    from sc_viz.explain import ig as ig_mod
    from sc_viz.explain import lime as lime_mod
    from sc_viz.precision import autocast, autocast_dtype

    h, w = x.shape[-2:]
    device = next(next(iter(models.values())).parameters()).device
    ig_batch = max(1, ig_mod.PIXELS_PER_BATCH // (h * w))
    lime_batch = lime_mod.batch_for(x, device)
    amp = autocast_dtype("auto", device)
    lime_images = x[None].expand(lime_samples, -1, -1, -1)  # (L, 3, H, W)
    for v, model in models.items():
        t = targets[v]
        with torch.no_grad():
            model(x[None])
            model(torch.stack([x, torch.zeros_like(x)]))
            with autocast(device, amp):
                for i in range(0, lime_samples, lime_batch):
                    model(lime_images[i : i + lime_batch].contiguous())
        for i in range(0, ig_steps, ig_batch):
            xs = x[None].repeat(min(ig_batch, ig_steps - i), 1, 1, 1).requires_grad_()
            with autocast(device, amp):
                score = model(xs)[:, t].sum()
            torch.autograd.grad(score, xs)
        x1 = x[None].clone().requires_grad_()
        torch.autograd.grad(model(x1)[0, t], x1)


class _PlainLayout(torch.nn.Module):
    """One of our models run as a plain torchvision model runs: normalise, then the backbone
    on the NCHW tensor (our Classifier makes CPU inputs channels-last first, models.py)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.net(self.model.normalize(x))


def _naive(
    models: dict, x: torch.Tensor, targets: dict, ig_steps: int, lime_samples: int, plain: bool = True
) -> None:
    """Each library's documented defaults, one variant after another; `plain`: on the
    models as torchvision builds them (NCHW), else through our Classifier (channels-last)."""
    import numpy as np
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam
    from lime import lime_image

    from sc_viz.explain.lime import segmenter

    image = x.permute(1, 2, 0).double().cpu().numpy()
    device = x.device
    for v, ours in models.items():
        model = _PlainLayout(ours) if plain else ours
        t, xb = targets[v], x[None].clone().requires_grad_()
        IntegratedGradients(model).attribute(xb, target=t, n_steps=ig_steps, return_convergence_delta=True)
        cam = LayerGradCam(model, ours.get_submodule(ours.gradcam_layer)).attribute(xb, target=t)
        LayerAttribution.interpolate(cam, tuple(x.shape[-2:]))

        def classify(imgs: np.ndarray, model=model) -> np.ndarray:
            with torch.no_grad():
                batch = torch.from_numpy(imgs).permute(0, 3, 1, 2).float().to(device)
                return model(batch).softmax(1).cpu().numpy()

        lime_image.LimeImageExplainer().explain_instance(
            image, classify, num_samples=lime_samples, segmentation_fn=segmenter()
        )


def bench_panel(args) -> None:
    from sc_viz.explain import explain_grid, predict_top
    from sc_viz.models import ARCHS

    models, origin = _models(args)
    device = torch.device(args.device)
    models = {v: m.to(device) for v, m in models.items()}
    imported = origin.startswith("imported pack")
    size = args.size or (_pack_input_size(args.pack) if imported else ARCHS[args.arch].default_input_size)
    x, what = _image(size)
    x = x.to(device)
    from sc_viz.explain.lime import batch_for
    from sc_viz.precision import autocast_dtype, precision_name

    lime_precision = precision_name(autocast_dtype("auto", device))
    print(
        f"panel: {origin}, {what} at {size} px, IG-{args.ig_steps}, Grad-CAM, "
        f"LIME-{args.lime_samples} (batch {batch_for(x, device)}; IG and LIME in {lime_precision}; "
        f"naive: fp32, LIME batch 10); {_where(device)}"
    )
    targets = {v: top[0][0] for v, top in predict_top(models, x, k=1).items()}
    # the app's settings (ExplainSettings): IG and LIME in bf16 where the device runs it natively
    options = {
        "ig": {"n_steps": args.ig_steps, "precision": "auto"},
        "lime": {"n_samples": args.lime_samples, "precision": "auto"},
    }
    # warm-up: imports, allocator and first-call costs are paid before any timing
    small = {"ig": {"n_steps": 2}, "lime": {"n_samples": 20}}
    explain_grid(models, x, methods=["ig", "gradcam", "lime"], options=small)
    first = next(iter(models))
    _naive({first: models[first]}, x, targets, 2, 20)
    grid = _timed(
        _synced(lambda: explain_grid(models, x, methods=["ig", "gradcam", "lime"], options=options), device)
    )
    first_map, methods_done = _first_maps(models, x, options)
    bare = _timed(_synced(lambda: _bare_passes(models, x, targets, args.ig_steps, args.lime_samples), device))
    naive = _timed(_synced(lambda: _naive(models, x, targets, args.ig_steps, args.lime_samples), device))
    naive_ours = _timed(
        _synced(lambda: _naive(models, x, targets, args.ig_steps, args.lime_samples, plain=False), device)
    )
    print(f"  grid (this package)     {grid:8.2f} s")
    print(f"  bare forward/backward   {bare:8.2f} s   grid / bare  = {grid / bare:5.2f}x (target <= 1.3x)")
    print(f"  naive (library defaults){naive:8.2f} s   naive / grid = {naive / grid:5.2f}x (target >= 2x)")
    print(
        f"  naive on our models     {naive_ours:8.2f} s   (the same, through our Classifier's "
        f"channels-last layout: {naive_ours / grid:.2f}x the grid)"
    )
    print(
        f"  the app's order: first map at {first_map:.2f} s (target about 2 s), "
        + ", ".join(f"{m} done at {t:.2f} s" for m, t in methods_done.items())
    )


def _where(device: torch.device) -> str:
    if device.type == "cuda":
        return f"device {torch.cuda.get_device_name(device)}"
    return f"CPU, torch threads {torch.get_num_threads()}"


def _synced(fn, device: torch.device):
    """fn, then wait for the GPU's queue: a timing ends when the work has."""

    def run():
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return run


def _first_maps(models: dict, x: torch.Tensor, options: dict) -> tuple[float, dict[str, float]]:
    """Seconds to the first map and to each method's last, computed as the Saliency page
    does: cheapest method first, one variant at a time where the method allows
    (explain.grid.method_units)."""
    from sc_viz.explain.grid import explain_unit, method_units, ordered_methods

    start, first, done = time.perf_counter(), None, {}
    for m in ordered_methods(["ig", "gradcam", "lime"]):
        for unit in method_units(list(models), m):
            explain_unit({v: models[v] for v in unit}, x, m, None, options.get(m, {}))
            first = first if first is not None else time.perf_counter() - start
        done[m] = time.perf_counter() - start
    return first, done


def bench_embed(args) -> None:
    from sc_viz import embed as E
    from sc_viz.data import data_root, load_split
    from sc_viz.perturb import LEVELS

    models, origin = _models(args)
    n = len(models)
    split = load_split("cifar10", "test", data_root())
    x, label = split.get(0), int(split.labels[0])
    same, idx = E.same_class_set(split, label, count=args.points - 5, exclude=0)
    print(
        f"embed: {origin}, {1 + len(LEVELS) + len(same)} points per variant, "
        f"torch threads {torch.get_num_threads()}"
    )
    t0 = time.perf_counter()
    pts = E.build_points(x, same, level=1, x_index=0, same_class_indices=idx)
    logits = E.logits_by_variant(models, pts.images)
    t_logits = time.perf_counter() - t0
    z = next(iter(logits.values()))  # the first variant's
    rows = [
        (f"logits, {n} variants", t_logits),
        ("UMAP first call (numba compile + fit)", _timed(lambda: E.project(z, method="umap"))),
        ("UMAP, warm", _timed(lambda: E.project(z, method="umap"))),
        ("t-SNE", _timed(lambda: E.project(z, method="tsne"))),
        ("PCA", _timed(lambda: E.project(z, method="pca"))),
        (f"violations, {n} variants", _timed(lambda: [E.violations(v, pts.kinds) for v in logits.values()])),
        (f"joint UMAP ({n} variants)", _timed(lambda: E.project_joint(logits, method="umap"))),
        (f"joint t-SNE ({n} variants)", _timed(lambda: E.project_joint(logits, method="tsne"))),
    ]
    for name, seconds in rows:
        print(f"  {name:40s} {seconds:8.2f} s")
    print("  the app pays the first UMAP call once at start-up (sc_viz.embed.warm_up)")


def _train_step_rate(step, steps: int, batch: int) -> float:
    """Images per second of `step()` (one optimiser step) from its fastest of `steps` timed
    calls after one warm-up call: the minimum is the least disturbed by other processes on
    a shared machine (as timeit advises)."""
    step()
    return batch / min(_timed(step) for _ in range(steps))


# Readings beside the presets' (docs/related_methods.md): spat's same-budget adv reference
# and its masked-step reading (the preset: PGD-3, budget step), GSCT's first reading.
READINGS = {
    "adv, PGD-3 (spat's reference)": ("adv", PGD3),
    "spat, PGD-3, masked step": ("spat", {"spat": SpatSettings(step_norm="mask")}),
    "gsct, eval-mode saliency (first)": ("gsct", {"gsct": GsctSettings(saliency_mode="eval")}),
}


def bench_train(args) -> None:
    """One training step of each variant (the demo preset's attack budget and settings,
    `adv`'s for a variant the preset lacks) beside the bare forward/backward of a clean
    step, on the same model and batch."""
    import torch.nn.functional as F

    from sc_viz.data import DATASETS, data_root, load_split
    from sc_viz.models import build_model
    from sc_viz.packs import load_weights_into
    from sc_viz.training.presets import PRESETS
    from sc_viz.training.trainer import TrainConfig, training_step

    spec = DATASETS["cifar10"]
    model = build_model(args.arch, 10, spec.mean, spec.std)
    origin = "random-init"
    init = Path(args.pack) / "standard.safetensors"
    if args.arch == "resnet20" and init.exists():
        load_weights_into(model, init)
        origin = str(init)
    try:
        split = load_split("cifar10", "test", data_root(), 32)
        x, y = split.images[: args.batch].float() / 255, split.labels[: args.batch]
    except Exception:
        g = torch.Generator().manual_seed(0)
        x = torch.rand(args.batch, 3, 32, 32, generator=g)  # (B, 3, 32, 32)
        y = torch.randint(0, 10, (args.batch,), generator=g)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: every step sees the same model
    print(
        f"train: {args.arch} ({origin}), batch {len(y)}, {args.steps} steps each, "
        f"torch threads {torch.get_num_threads()}"
    )

    def bare():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    base = _train_step_rate(bare, args.steps, len(y))
    print(f"  {'bare clean forward/backward':34s} {base:8.1f} img/s   1.00x the bare step's time")
    demo, rates = PRESETS["demo"], {}
    runs = {name: (name, {}) for name in args.variants or VARIANTS.names()}
    if not args.variants:
        runs.update(READINGS)
    for name, (variant, overrides) in runs.items():
        settings = {
            k: v
            for k, v in demo.get(variant, demo["adv"]).items()
            if k not in ("init", "epochs", "lr", "optimizer", "schedule")
        }
        cfg = TrainConfig(
            **{**settings, **overrides, "variant": variant, "arch": args.arch, "precision": "fp32"}
        )

        def step(cfg=cfg):
            loss = training_step(model, model, x, y, cfg, torch.Generator().manual_seed(0), None)[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        rates[name] = _train_step_rate(step, args.steps, len(y))
        vs_adv = f"   {rates['adv'] / rates[name]:5.2f}x adv's" if "adv" in rates else ""
        print(
            f"  {name:34s} {rates[name]:8.1f} img/s   {base / rates[name]:5.2f}x the bare step's time{vs_adv}"
        )
    if not args.variants:
        _bench_spat_vjp(model, x, y, args.steps)


def _bench_spat_vjp(model, x, y, steps: int) -> None:
    """SPAT's k class gradients as one batched VJP call or one call after the other (the
    CPU default of attacks.shared_pixel_pgd), on the same PGD-3 attack."""
    from sc_viz.attacks import PGDConfig, shared_pixel_pgd

    cfg = PGDConfig(8 / 255, 20 / 765, 3, True)
    model.eval()
    times = {}
    for batched in (True, False):
        times[batched] = min(
            _timed(lambda b=batched: shared_pixel_pgd(model, x, y, cfg, batched=b)) for _ in range(steps)
        )
    model.train()
    print(
        f"  spat PGD-3 attack: batched VJP {times[True]:.2f} s, one VJP after the other "
        f"{times[False]:.2f} s ({times[True] / times[False]:.2f}x)"
    )


def run(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    {"panel": bench_panel, "embed": bench_embed, "train": bench_train}[args.what](args)
    return 0
