"""Transferability (Sec. 4.6), two ways, for one source variant, one target and one seed:

- **fine-tuning**: every layer trained on the target with cross-entropy (the trainer's own
  step and optimiser, `TrainConfig` variant `standard`), for up to `epochs` epochs; a
  held-out validation part of the target's training split (`val_fraction`, drawn with the
  seed) is scored after every epoch, and the weights of the best validation epoch are kept
  (early stopping after `patience` epochs without a better one);
- **linear probe**: the source's frozen penultimate features (the input of its last linear
  layer) of the target images, a scikit-learn logistic regression on them (standardised
  features; C chosen on the validation part).

Both start from the same model (`init_weights`: the source's weights in a model built for
the target, with the target's input normalisation; the classifier head is re-initialised
unless the target has the source's classes), and both are scored on the target's test
split (all of it unless a limit is given), image by image, so variants and seeds compare
on the same images.

Every result is a json file in the run folder (`finetune.json`, `probe.json`); a
fine-tune interrupted between epochs goes on from its last epoch (`finetune_state.pt`).
"""

from __future__ import annotations

import copy
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from sc_viz.data import Split, iterate_batches, seeded_subset
from sc_viz.evaluate.render import pct, table
from sc_viz.evaluate.stats import accuracy_interval, decode_values, encode_values
from sc_viz.experiments.seeds import fmt_interval, fmt_spread, ordering, summary
from sc_viz.hooks import hooked
from sc_viz.model_run import model_device, using_model
from sc_viz.models import build_model
from sc_viz.packs import atomic_write_bytes, atomic_write_json, model_facts, save_weights

# The paper's ordering on every target (Sec. 4.6), best first.
PAPER_ORDER = ("advc", "adv", "c", "standard")
PROBE_CS = (0.01, 0.1, 1.0, 10.0)  # inverse regularisation strengths tried on the validation part
FINETUNE_JSON, PROBE_JSON, STATE_FILE = "finetune.json", "probe.json", "finetune_state.pt"


class TransferError(ValueError):
    """A run folder that cannot be used as asked (the message says what to do)."""


def head_name(model: nn.Module) -> str:
    """The classifier head: the last nn.Linear registered in the model (`net.fc` for the
    CIFAR ResNets, TinyCNN and torchvision's ResNets)."""
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no linear classifier head")
    return names[-1]


def init_weights(
    source: nn.Module,
    manifest: dict,
    num_classes: int,
    seed: int,
    path: Path,
    *,
    keep_head: bool = True,
) -> list[str]:
    """Write the fine-tuning (and probing) start point: the source's weights in a model
    built for the target (its class count and normalisation). The head keeps the source's
    weights only when `keep_head` (the target has the source's classes) and the shapes
    fit; every other tensor whose shape fits is copied. Returns the names left at their
    fresh (seeded) initialisation."""
    torch.manual_seed(seed)
    model = build_model(manifest["arch"], num_classes, manifest["mean"], manifest["std"])
    head = head_name(model) + "."
    state, src = model.state_dict(), source.state_dict()
    fresh = []
    for name, tensor in state.items():
        if (
            name.startswith("normalize.")
            or name not in src
            or src[name].shape != tensor.shape
            or (not keep_head and name.startswith(head))
        ):
            fresh.append(name)
        else:
            state[name] = src[name].detach().cpu().clone()
    model.load_state_dict(state)
    save_weights(path, model, model_facts(manifest), {"note": "transfer start point"})
    return [n for n in fresh if not n.startswith("normalize.")]


def split_train_val(split: Split, val_fraction: float, seed: int, train_limit: Optional[int] = None):
    """(train part, validation part) of a training split: a seeded permutation, the first
    round(val_fraction * N) images for validation, of the rest the first `train_limit`
    (all when None) for training. Disjoint by construction."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"--val-fraction must be between 0 and 1, got {val_fraction}")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(split), generator=g)
    n_val = max(1, round(val_fraction * len(split)))
    rest = order[n_val:]
    if train_limit:
        rest = rest[:train_limit]
    return split.subset(rest.sort().values), split.subset(order[:n_val].sort().values)


def test_part(split: Split, limit: Optional[int]) -> Split:
    """The target's test images every variant and seed is scored on: all of them, or a
    subset seeded by 0 (not by the training seed, so seeds share their images)."""
    return seeded_subset(split, limit or None, 0)


def correct_per_image(model: nn.Module, split: Split, batch_size: int = 256) -> np.ndarray:
    """(N,) bool: the model's prediction equals the label, image by image."""
    out = []
    with using_model(model), torch.inference_mode():
        for x, y in iterate_batches(
            split, batch_size, shuffle=False, augment=False, device=model_device(model)
        ):
            out.append((model(x).argmax(1) == y).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=bool)


def penultimate_features(model: nn.Module, split: Split, batch_size: int = 256) -> np.ndarray:
    """(N, D) float32: the input of the model's classifier head for every image (for the
    CIFAR ResNets the globally pooled last stage), the model frozen in eval mode."""
    head = model.get_submodule(head_name(model))
    feats = []

    def keep(_module, inputs):
        feats.append(inputs[0].detach().flatten(1).float().cpu())

    with using_model(model, exclusive=True), torch.inference_mode(), hooked([(head, "forward_pre", keep)]):
        for x, _ in iterate_batches(
            split, batch_size, shuffle=False, augment=False, device=model_device(model)
        ):
            model(x)
    return torch.cat(feats).numpy() if feats else np.zeros((0, 0), dtype=np.float32)


def linear_probe(model: nn.Module, train: Split, val: Split, test: Split, cs=PROBE_CS, seed: int = 0) -> dict:
    """Logistic regression (scikit-learn, standardised features) on the frozen penultimate
    features of `train`; C picked by accuracy on `val`; scored on `test`. -> accuracy,
    its Wilson interval, per-image correctness (`correct`, bool array), C, the validation
    accuracy of every C and the seconds it took."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    t0 = time.time()
    f_train, f_val, f_test = (penultimate_features(model, s) for s in (train, val, test))
    y_train, y_val, y_test = (s.labels.numpy() for s in (train, val, test))
    val_acc, best = {}, None
    for c in cs:
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))
        clf.fit(f_train, y_train)
        val_acc[f"{c:g}"] = float((clf.predict(f_val) == y_val).mean())
        if best is None or val_acc[f"{c:g}"] > val_acc[f"{best[0]:g}"]:
            best = (c, clf)
    correct = best[1].predict(f_test) == y_test
    acc = float(correct.mean())
    ci = accuracy_interval(acc, len(correct))
    return {
        "accuracy": acc,
        "n": int(len(correct)),
        "wilson": ci.as_list() if ci else None,
        "C": best[0],
        "val_accuracy_by_C": val_acc,
        "features": int(f_train.shape[1]),
        "n_train": len(train),
        "n_val": len(val),
        "correct": correct,
        "seconds": time.time() - t0,
    }


@dataclass
class FineTuneResult:
    best_epoch: int  # 1-based; the epoch whose weights were kept
    epochs_run: int
    stopped_early: bool
    history: list  # per epoch: {"epoch", "train_loss", "train_acc", "val_acc", "seconds"}
    seconds: float


def _state_bytes(obj: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _read_state(path: Path, settings: dict) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        saved = json.loads(state["settings"])
    except Exception as err:  # truncated file, not a torch file, odd pickle
        raise TransferError(
            f"{path}: not a readable fine-tuning state ({type(err).__name__}); delete it"
        ) from None
    if saved != settings:
        diff = {k: (saved.get(k), v) for k, v in settings.items() if saved.get(k) != v}
        raise TransferError(
            f"{path}: saved with other settings {diff}; use the same flags to resume, or delete it"
        )
    return state


@dataclass
class Epochs:
    """A fine-tune's epochs so far: each one's numbers, and the best validation epoch."""

    history: list = field(default_factory=list)  # FineTuneResult.history
    best_epoch: int = 0  # 0: none yet
    best_val: float = -1.0
    best_state: Optional[dict] = None  # the best epoch's weights, on the CPU
    seconds: float = 0.0

    @classmethod
    def resumed(cls, state: dict) -> Epochs:
        history = json.loads(state["history"])
        best = max(history, key=lambda h: h["val_acc"])  # first of the ties, as `keep_if_best`
        return cls(
            history, best["epoch"], best["val_acc"], state["best_model"], sum(h["seconds"] for h in history)
        )

    def keep_if_best(self, model: nn.Module, epoch: int, val_acc: float) -> None:
        if val_acc > self.best_val:  # strictly better: the earliest of equal epochs is kept
            self.best_epoch, self.best_val = epoch, val_acc
            self.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    def add(self, epoch: int, train_loss: float, train_acc: float, val_acc: float, wall: float) -> None:
        self.seconds += wall
        self.history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_acc": val_acc,
                "seconds": wall,
            }
        )


def fine_tune(
    model: nn.Module,
    cfg,
    train: Split,
    val: Split,
    run_dir: Path,
    *,
    patience: int,
    resume: bool = False,
    log: Callable = print,
) -> FineTuneResult:
    """Fine-tune `model` in place with `cfg` (a TrainConfig: epochs, optimiser, schedule,
    batch size, seed, precision, augmentation) on `train`, scoring `val` after every epoch;
    stop after `patience` epochs without a better validation accuracy and leave the best
    epoch's weights in `model`. The state after every epoch goes to
    <run_dir>/finetune_state.pt, from which `resume` goes on."""
    from sc_viz.metrics import accuracy  # looked up at the call: tests script the validation
    from sc_viz.training.trainer import make_optimizer

    if patience < 1:
        raise ValueError(f"--patience must be at least 1, got {patience}")
    opt, sched = make_optimizer(cfg, model, math.ceil(len(train) / cfg.batch_size))
    settings = {**cfg.to_dict(), "patience": patience, "n_train": len(train), "n_val": len(val)}
    state_file = Path(run_dir) / STATE_FILE
    done = Epochs()
    if state_file.exists():
        if not resume:
            raise TransferError(f"{state_file}: an unfinished fine-tune is there; pass --resume to go on")
        state = _read_state(state_file, settings)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        done = Epochs.resumed(state)
        log(f"{run_dir}: resuming after epoch {len(done.history)}/{cfg.epochs}")
    epoch = len(done.history)
    while epoch < cfg.epochs and epoch - done.best_epoch < patience:
        t0 = time.time()
        train_loss, train_acc = train_epoch(model, opt, sched, cfg, train, epoch, run_dir)
        model.eval()
        val_acc = accuracy(model, val)
        epoch += 1
        done.keep_if_best(model, epoch, val_acc)
        done.add(epoch, train_loss, train_acc, val_acc, time.time() - t0)
        log(
            f"{run_dir}: epoch {epoch}/{cfg.epochs} val acc {val_acc:.4f} "
            f"(best {done.best_val:.4f}, epoch {done.best_epoch})"
        )
        save_state(state_file, model, opt, sched, done, settings)
    model.load_state_dict(done.best_state)
    model.eval()
    return FineTuneResult(done.best_epoch, epoch, epoch < cfg.epochs, done.history, done.seconds)


def train_epoch(
    model: nn.Module, opt, sched, cfg, train: Split, epoch: int, run_dir: Path
) -> tuple[float, float]:
    """One epoch of training (0-based `epoch`: its batch order and augmentation seeded by it
    and cfg.seed). -> (mean loss, accuracy) over its images."""
    from sc_viz.precision import autocast_dtype
    from sc_viz.training.trainer import TrainingDiverged, training_step

    device = model_device(model)
    amp = autocast_dtype(cfg.precision, device)
    g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    model.train()
    loss_sum, correct, seen = 0.0, 0.0, 0
    for x, y in iterate_batches(
        train, cfg.batch_size, shuffle=True, augment=cfg.augment, generator=g, device=device
    ):
        loss, _ce, _sc, n_correct = training_step(model, model, x, y, cfg, g, amp)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"{run_dir}: loss became {loss.item()} in epoch {epoch + 1}; lower --lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_sum += loss.item() * len(y)
        correct += float(n_correct)
        seen += len(y)
    return loss_sum / max(seen, 1), correct / max(seen, 1)


def save_state(state_file: Path, model: nn.Module, opt, sched, done: Epochs, settings: dict) -> None:
    """Everything `resume` needs to go on after this epoch."""
    atomic_write_bytes(
        state_file,
        _state_bytes(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "best_model": done.best_state,
                "history": json.dumps(done.history),
                "settings": json.dumps(settings),
            }
        ),
    )


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _done(path: Path, resume: bool) -> Optional[dict]:
    """A finished result file: returned with --resume, refused without it."""
    if not path.exists():
        return None
    if not resume:
        raise TransferError(f"{path} exists: pass --resume to keep it, or delete the folder to run again")
    return json.loads(path.read_text())


def run_finetune(
    start: Path,
    cfg,
    train: Split,
    val: Split,
    test: Split,
    run_dir: Path,
    *,
    patience: int,
    resume: bool,
    device: torch.device,
    log: Callable = print,
) -> dict:
    """One variant x seed fine-tune from the start-point weights `start`, scored on `test`
    with the best validation epoch's weights; <run_dir>/finetune.json (with per-image
    correctness) and <run_dir>/finetuned.safetensors. An existing finetune.json is reused
    with `resume`."""
    from sc_viz.packs import load_model_file

    done = _done(run_dir / FINETUNE_JSON, resume)
    if done is not None:
        return done
    model, info = load_model_file(start, device=device)
    result = fine_tune(model, cfg, train, val, run_dir, patience=patience, resume=resume, log=log)
    t0 = time.time()
    correct = correct_per_image(model, test)
    acc = float(correct.mean())
    ci = accuracy_interval(acc, len(correct))
    save_weights(
        run_dir / "finetuned.safetensors", model, info["model"], {**cfg.to_dict(), "patience": patience}
    )
    row = {
        "accuracy": acc,
        "n": int(len(correct)),
        "wilson": ci.as_list() if ci else None,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "best_val_acc": max(h["val_acc"] for h in result.history),
        "n_train": len(train),
        "n_val": len(val),
        "history": result.history,
        "seconds": result.seconds + (time.time() - t0),
        "device": device_name(device),
        "correct": encode_values(correct.astype(float).tolist()),
    }
    atomic_write_json(run_dir / FINETUNE_JSON, row)
    (run_dir / STATE_FILE).unlink(missing_ok=True)
    return row


def run_probe(
    start: Path, train: Split, val: Split, test: Split, run_dir: Path, *, seed: int, resume: bool, device
) -> dict:
    """One variant x seed linear probe on the start-point weights `start` (the source's
    features); <run_dir>/probe.json. An existing one is reused with `resume`."""
    from sc_viz.packs import load_model_file

    done = _done(run_dir / PROBE_JSON, resume)
    if done is not None:
        return done
    model, _ = load_model_file(start, device=device)
    row = linear_probe(model, train, val, test, seed=seed)
    row["correct"] = encode_values(row["correct"].astype(float).tolist())
    row["device"] = device_name(device)
    atomic_write_json(run_dir / PROBE_JSON, row)
    return row


def copy_without_per_image(row: dict) -> dict:
    """A run's result as the summary file keeps it (per-image values stay in the run folder)."""
    out = copy.deepcopy(row)
    out.pop("correct", None)
    return out


METHODS = {
    "finetune": "fine-tuned (all layers, best validation epoch)",
    "probe": "linear probe (frozen features)",
}


def summarise(runs: dict, order=PAPER_ORDER, seed: int = 0) -> dict:
    """runs: {method: {variant: {seed: row}}} with each row's per-image `correct` (all on
    the same test images). -> per method: per variant the spread over seeds and the image
    interval of the seed-averaged accuracy (`experiments.seeds.summary`), the per-seed rows
    without per-image values; and the ordering claims of `order` (`seeds.ordering`)."""
    out = {}
    for method, by_variant in runs.items():
        per_image = {
            v: [decode_values(row["correct"]) for _, row in sorted(rows.items())]
            for v, rows in by_variant.items()
        }
        out[method] = {
            "variants": {
                v: {
                    "accuracy": summary(per_image[v], seed),
                    "per_seed": {str(s): copy_without_per_image(row) for s, row in sorted(rows.items())},
                }
                for v, rows in by_variant.items()
            },
            "ordering": ordering(per_image, order, seed),
        }
    return out


def markdown(result: dict) -> str:
    """transfer.md from transfer.json (format 2)."""
    lines = intro(result)
    for method, title in METHODS.items():
        part = result["methods"].get(method)
        if part:
            lines += method_section(method, title, part)
    paper = result.get("paper", {})
    if paper:
        lines.append(
            "Paper (ResNet18, CIFAR-100 -> "
            + " / ".join(paper["targets"])
            + "): "
            + "; ".join(f"{v} " + " / ".join(pct(a) for a in paper[v]) for v in PAPER_ORDER if v in paper)
            + ".\n"
        )
    t = result.get("timing", {})
    if t:
        lines.append(
            f"How long it took ({t.get('device', '?')}): fine-tuning {t.get('finetune_s', 0):.0f} s, "
            f"probes {t.get('probe_s', 0):.0f} s over all runs (summed; runs in parallel processes overlap), "
            f"this command {t.get('wall_s', 0):.0f} s.\n"
        )
    return "\n".join(lines)


def intro(result: dict) -> list[str]:
    """The title, how every variant was transferred, and how to read the numbers."""
    s, src, seeds = result["settings"], result["source"], result["seeds"]
    return [
        f"# Transfer (Sec. 4.6): {src['dataset']} -> {result['target']}, {src['arch']}\n",
        f"Target: {result.get('target_description', result['target'])}. Each variant of `{src['pack']}` "
        f"transferred two ways, with training seeds {', '.join(map(str, seeds))} (each seed draws its own "
        f"validation split ({s['val_fraction']:.0%} of the training split), head initialisation and batch "
        f"order): fine-tuned (all layers, cross-entropy, up to {s['epochs']} epoch(s), {s['optimizer']} lr "
        f"{s['lr']:g} {s['schedule']}, the weights of the best validation epoch kept, patience "
        f"{s['patience']}), and a linear probe (logistic regression on the frozen penultimate features, "
        f"C chosen on the validation split). Training images: "
        f"{s['train_limit'] if s.get('train_limit') else 'all the rest'}; test accuracy on "
        f"n = {result['n_test']:,} test images of the target (the same for every run).\n",
        "Accuracy: mean over seeds (min, max); 95% interval: percentile bootstrap over the test images "
        "of the seed-averaged per-image correctness. Verdicts: the paired bootstrap interval of the "
        "difference on the same images, kept only when every seed's own difference has the same sign "
        "(else within noise).\n",
    ]


def method_section(method: str, title: str, part: dict) -> list[str]:
    """One way of transferring: each variant's accuracy, and the paper's ordering's claims."""
    rows = []
    for v, r in part["variants"].items():
        acc, per_seed = r["accuracy"], r["per_seed"]
        rows.append(
            [
                v,
                fmt_spread(acc, percent=True),
                fmt_interval(acc["ci"], percent=True),
                " / ".join(pct(row["accuracy"]) for row in per_seed.values()),
                " / ".join(
                    str(row["best_epoch"]) if "best_epoch" in row else f"C={row.get('C')}"
                    for row in per_seed.values()
                ),
            ]
        )
    extra = "best epoch per seed" if method == "finetune" else "C per seed"
    lines = [f"## {title}\n", table(["variant", "accuracy", "95% interval", "per seed", extra], rows)]
    order = part["ordering"]
    if order["pairs"]:
        lines.append(
            f"\nThe paper's ordering {' > '.join(order['order'])}: **{order['chain']}**.\n\n"
            + table(
                ["claim", "difference", "95% interval", "per seed", "verdict"],
                [
                    [
                        claim,
                        f"{100 * c['difference']:+.2f} pp" if c["difference"] is not None else "-",
                        fmt_interval(c["ci"], percent=True) + " pp" if c["ci"] else "-",
                        " / ".join(f"{100 * d:+.2f}" for d in c["per_seed"]),
                        c["verdict"],
                    ]
                    for claim, c in order["pairs"].items()
                ],
            )
        )
    lines.append("")
    return lines
