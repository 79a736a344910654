"""One trainer for every variant (a variant is which loss terms a step has), with
per-epoch atomic checkpoints, exact resume, and DistributedDataParallel under torchrun.

Exact resume: every epoch draws its shuffling, augmentation, perturbations and attack
starts from a generator seeded by (seed, epoch), so an interrupted run resumed from its
last saved epoch ends with the same weights as an uninterrupted one (CPU, same settings).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.distributed as dist

from sc_viz import packs, paper
from sc_viz.attacks import PGDConfig, paper_pgd
from sc_viz.data import DATASETS, data_root, iterate_batches, load_split, seeded_subset
from sc_viz.metrics import accuracy, mean_distance_scores
from sc_viz.models import ARCHS, build_model
from sc_viz.perturb import LEVELS, PHOTOMETRIC
from sc_viz.precision import PRECISIONS, autocast_dtype
from sc_viz.training.objectives import objective_step
from sc_viz.training.related import GsctSettings, SnsSettings, SpatSettings
from sc_viz.training.settings import flatten, setting_key, settings_groups, unflatten
from sc_viz.variants import VARIANTS


@dataclass
class TrainConfig:
    """Everything needed to rebuild and retrain a variant; saved in every checkpoint."""

    dataset: str = "cifar10"
    arch: str = "resnet20"
    variant: str = "standard"
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = paper.PAPER_OPTIMIZER  # the paper's: Adam, lr 1e-5 (fine-tuning)
    lr: float = paper.PAPER_LR
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant | cosine | onecycle
    lam: float = paper.DEFAULT_LAMBDA  # the project's choice: the paper's value is lost
    perturbations: list = field(default_factory=lambda: list(LEVELS))
    levels: list = field(default_factory=lambda: list(paper.LEVEL_IDS))
    # training attack (None: the paper's PGD for the input size, docs/method.md#pgd)
    attack_eps: Optional[float] = None
    attack_step: Optional[float] = None
    attack_steps: int = 10
    attack_random_start: bool = True
    # evaluation attack written into the manifest (None: data set default)
    eval_eps: Optional[float] = None
    eval_step: Optional[float] = None
    eval_steps: int = 10
    init: Optional[str] = None
    seed: int = 0
    input_size: Optional[int] = None
    augment: bool = True
    precision: str = "auto"  # auto | fp32 | bf16 (autocast)
    train_limit: Optional[int] = None  # seeded subset of the training set
    test_limit: Optional[int] = None  # seeded subset of the test set for the final metrics
    epoch_eval_limit: Optional[int] = 2000  # test images scored after each epoch
    epoch_pgd_limit: int = 500  # of those, scored under PGD after each epoch (adversarial variants)
    num_workers: int = 4  # streaming (large-image) data sets only
    # related methods' settings, all the project's reading (docs/related_methods.md)
    spat: SpatSettings = field(default_factory=SpatSettings)
    sns: SnsSettings = field(default_factory=SnsSettings)
    gsct: GsctSettings = field(default_factory=GsctSettings)

    def __post_init__(self):
        spec = DATASETS[self.dataset]
        ARCHS[self.arch]
        VARIANTS[self.variant]
        for name in self.perturbations:
            PHOTOMETRIC[name]
        if not set(self.levels) <= {1, 2, 3, 4} or not self.levels:
            raise ValueError(f"levels must be among 1-4, got {self.levels}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose sgd or adam")
        if self.schedule not in ("constant", "cosine", "onecycle"):
            raise ValueError(f"unknown schedule {self.schedule!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch size must be positive")
        for name, settings_cls in settings_groups(type(self)).items():
            if not isinstance(getattr(self, name), settings_cls):  # each group checks its values
                raise TypeError(f"{name} must be a {settings_cls.__name__}, got {getattr(self, name)!r}")
        if self.input_size is None:
            self.input_size = spec.input_size if spec.input_size else 224
        default = paper_pgd(self.input_size)  # ImageNet budget from 128 px, else CIFAR's
        self.attack_eps = default.eps if self.attack_eps is None else self.attack_eps
        self.attack_step = default.step_size if self.attack_step is None else self.attack_step
        self.eval_eps = default.eps if self.eval_eps is None else self.eval_eps
        self.eval_step = default.step_size if self.eval_step is None else self.eval_step

    @property
    def train_attack(self) -> PGDConfig:
        return PGDConfig(self.attack_eps, self.attack_step, self.attack_steps, self.attack_random_start)

    @property
    def eval_attack(self) -> PGDConfig:
        return PGDConfig(self.eval_eps, self.eval_step, self.eval_steps, True)

    def to_dict(self) -> dict:
        """The config as stored in checkpoints and manifests: plain values, the settings
        groups flat under their keys ("spat_gamma"), in field order."""
        groups = settings_groups(type(self))
        stored = {}
        for name, value in dataclasses.asdict(self).items():
            if name in groups:
                stored.update(flatten(getattr(self, name), name))
            else:
                stored[name] = value
        return stored

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """A stored config back (unknown keys ignored, missing ones the defaults); the
        settings groups from their flat keys or from nested mappings ({"spat": {...}})."""
        stored = dict(d)
        if "gsct_lambda" in stored and "gsct_saliency_mode" not in stored:
            stored["gsct_saliency_mode"] = "eval"  # saved before the train-mode reading existed
        groups = settings_groups(cls)
        names = {f.name for f in dataclasses.fields(cls)} - set(groups)
        values = {k: v for k, v in stored.items() if k in names}
        values.update({name: unflatten(settings_cls, stored, name) for name, settings_cls in groups.items()})
        return cls(**values)

    def setting(self, key: str):
        """A setting by its stored key: a field ("lam") or a group's ("sns_lambda")."""
        for name in settings_groups(type(self)):
            group = getattr(self, name)
            for f in dataclasses.fields(group):
                if setting_key(name, f) == key:
                    return getattr(group, f.name)
        return getattr(self, key)


class TrainingDiverged(RuntimeError):
    pass


class TrainError(ValueError):
    """Bad arguments or state found before training starts; nothing was written."""


# ---------------------------------------------------------------- distributed
@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


DIST_TIMEOUT_ENV = "SC_VIZ_DIST_TIMEOUT"  # seconds; overrides setup_distributed's default


def setup_distributed(timeout_s: int = 300) -> DistInfo:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK: NCCL on GPUs, gloo on CPU. A dead peer
    makes collectives fail after `timeout_s` (or $SC_VIZ_DIST_TIMEOUT), so the job exits
    instead of hanging."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if os.environ.get(DIST_TIMEOUT_ENV):
        try:
            timeout_s = float(os.environ[DIST_TIMEOUT_ENV])
        except ValueError:
            raise TrainError(
                f"${DIST_TIMEOUT_ENV} must be a number of seconds, got {os.environ[DIST_TIMEOUT_ENV]!r}"
            ) from None
    cuda = torch.cuda.is_available()
    if world <= 1:
        return DistInfo(device=torch.device("cuda" if cuda else "cpu"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(seconds=timeout_s))
    return DistInfo(dist.get_rank(), dist.get_world_size(), torch.device(f"cuda:{local}" if cuda else "cpu"))


def weights_checksum(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------- one step
def training_step(model, raw_model, x, y, cfg: TrainConfig, g: torch.Generator, amp, progress: float = 0.0):
    """Loss terms of one batch for cfg.variant (sc_viz.training.objectives). x: (B, 3, H, W)
    in [0, 1]; `progress` the epochs done so far (fractional; for warm-ups). -> (loss, ce,
    sc, correct): ce the unweighted terms, sc the weighted ones before weighting
    (loss = ce + lam * sc for the paper's variants)."""
    step = objective_step(model, raw_model, x, y, cfg, g, amp, progress=progress)
    return step.loss, step.ce, step.sc, step.correct


def make_optimizer(cfg: TrainConfig, model, steps_per_epoch: int):
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(
            model.parameters(),
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            nesterov=cfg.momentum > 0,
        )
    else:
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = max(1, cfg.epochs * steps_per_epoch)
    warm = max(1, int(0.25 * total))
    shapes = {  # multiplier of cfg.lr at step s (LambdaLR: no edge cases on tiny runs)
        "constant": lambda s: 1.0,
        "cosine": lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)),
        # one cycle: linear warm-up over the first quarter, then linear decay to zero
        "onecycle": lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / (total - warm)),
    }
    sched = torch.optim.lr_scheduler.LambdaLR(opt, shapes[cfg.schedule])
    return opt, sched


# ---------------------------------------------------------------- the run
def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=desc,
        unit="img",
        disable=not enabled,
        dynamic_ncols=True,
        mininterval=0.5 if tty else 30,
        leave=True,
    )


def resume_path(out: Path, variant: str) -> Path:
    return Path(out) / packs.RESUME_DIR / f"{variant}.pt"


@dataclass
class TrainRun:
    """One training run's state, shared by the named steps of `train`."""

    cfg: TrainConfig
    out: Path
    info: DistInfo
    manifest: dict
    facts: dict
    train_split: object  # data.Split
    test_full: object  # data.Split
    raw_model: torch.nn.Module
    model: torch.nn.Module  # raw_model, or its DDP wrapper
    opt: torch.optim.Optimizer
    sched: object
    steps_per_epoch: int
    amp: Optional[torch.dtype]
    log: Callable = print

    @property
    def epoch_eval(self):
        return seeded_subset(self.test_full, self.cfg.epoch_eval_limit, self.cfg.seed)


def train(
    cfg: TrainConfig,
    out,
    *,
    root: Optional[str] = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    stop_after_epochs: Optional[int] = None,
    log=print,
) -> dict:
    """Train cfg.variant into the pack folder `out`; returns the variant's final metrics.

    `stop_after_epochs` ends the run early after that many epochs of this call (for tests
    and for splitting a long run into sessions); `--resume` goes on from there.
    """
    out = Path(out)
    manifest, done = check_request(cfg, out, resume, overwrite, log)
    if done is not None:
        return done
    info = setup_distributed()
    run = prepare_run(cfg, out, info, manifest, root, log)
    start_epoch = restore_resume_state(run) if resume else 0
    for epochs_run, epoch in enumerate(range(start_epoch, cfg.epochs)):
        if stop_after_epochs is not None and epochs_run >= stop_after_epochs:
            return {}
        sums, seen, wall = train_one_epoch(run, epoch, progress)
        sums, seen = agree_across_ranks(run, sums, seen)
        if info.is_main:
            end_epoch(run, epoch, sums, seen, wall)
        if info.world > 1:
            dist.barrier()
    metrics = ddp_agreement(run)
    if info.is_main:
        metrics.update(final_metrics(run.raw_model, run.test_full, cfg, progress, log))
        _save_final(out, run.manifest, run.facts, run.raw_model, cfg, metrics, out / packs.TRAIN_LOG)
        summary = {k: v for k, v in metrics.items() if k != "ds_level2"}
        log(f"{cfg.variant}: done -> {out} {json.dumps(summary)}")
    return metrics


def check_request(cfg: TrainConfig, out: Path, resume: bool, overwrite: bool, log):
    """Refuse what cannot be done before anything is loaded or written. -> (the pack's
    manifest or None, the stored metrics when the variant is complete and resume was asked
    for, else None)."""
    if out.exists() and not out.is_dir():
        raise TrainError(f"--out {out}: exists and is not a folder")
    manifest = packs.check_pack_target(out, cfg.dataset, cfg.arch)
    entry = (manifest or {}).get("variants", {}).get(cfg.variant)
    if entry and entry.get("status") == "complete" and resume and not overwrite:
        log(f"{cfg.variant}: already complete in {out}; nothing to do")
        return manifest, entry.get("metrics", {})
    if entry and not resume and not overwrite:
        raise TrainError(
            f"{out} already holds variant {cfg.variant!r}; pass --resume to go on "
            "or --overwrite to train it again"
        )
    if cfg.init and not Path(cfg.init).exists():
        raise TrainError(f"--init {cfg.init}: file not found")
    return manifest, None


def prepare_run(cfg: TrainConfig, out: Path, info: DistInfo, manifest, root, log) -> TrainRun:
    """Data, the model (from --init, on the device, DDP-wrapped under torchrun), optimiser
    and schedule, and the pack's manifest."""
    spec = DATASETS[cfg.dataset]
    root_path = data_root(root)
    train_split = seeded_subset(
        load_split(cfg.dataset, "train", root_path, cfg.input_size), cfg.train_limit, cfg.seed
    )
    test_full = load_split(cfg.dataset, "test", root_path, cfg.input_size)
    classes = train_split.classes
    if spec.num_classes and len(classes) != spec.num_classes:
        raise TrainError(f"{cfg.dataset}: found {len(classes)} classes, expected {spec.num_classes}")

    torch.manual_seed(cfg.seed)
    raw_model = build_model(cfg.arch, len(classes), spec.mean, spec.std)
    if cfg.init:
        packs.load_weights_into(raw_model, Path(cfg.init))
    raw_model.to(info.device)
    model = raw_model
    if info.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            raw_model, device_ids=[info.device.index] if info.device.type == "cuda" else None
        )
    steps_per_epoch = math.ceil((len(train_split) // info.world) / cfg.batch_size)
    opt, sched = make_optimizer(cfg, raw_model, steps_per_epoch)
    if manifest is None:
        manifest = packs.new_manifest(cfg.dataset, cfg.arch, classes, cfg.input_size, spec.mean, spec.std)
    return TrainRun(
        cfg,
        out,
        info,
        manifest,
        packs.model_facts(manifest),
        train_split,
        test_full,
        raw_model,
        model,
        opt,
        sched,
        steps_per_epoch,
        autocast_dtype(cfg.precision, info.device),
        log,
    )


def restore_resume_state(run: TrainRun) -> int:
    """Weights, optimiser and schedule of the last saved epoch, if a resume state exists;
    -> the number of epochs already done."""
    cfg, state_file = run.cfg, resume_path(run.out, run.cfg.variant)
    if not state_file.exists():
        return 0
    state = _read_resume_state(state_file)
    saved = TrainConfig.from_dict(json.loads(state["config"]))
    if saved.to_dict() != cfg.to_dict():
        diff = {k: (v, cfg.to_dict()[k]) for k, v in saved.to_dict().items() if cfg.to_dict()[k] != v}
        raise TrainError(
            f"{state_file}: saved with other settings {diff}; use the same flags to resume, or --overwrite"
        )
    try:
        run.raw_model.load_state_dict(state["model"])
        run.opt.load_state_dict(state["optimizer"])
        run.sched.load_state_dict(state["scheduler"])
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        raise TrainError(
            f"{state_file}: does not fit this model/optimiser "
            f"({type(err).__name__}); delete it or use --overwrite"
        ) from None
    start_epoch = int(state["epoch"])
    if run.info.is_main:
        run.log(f"{cfg.variant}: resuming after epoch {start_epoch}/{cfg.epochs}")
    return start_epoch


def train_one_epoch(run: TrainRun, epoch: int, progress: bool):
    """One pass over this rank's share of the training set, every draw from a generator
    seeded by (seed, epoch). -> (sums of loss, ce, sc, correct (sample-weighted), images
    seen, wall seconds)."""
    cfg, info = run.cfg, run.info
    g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    run.raw_model.train()
    t0 = time.time()
    sums = torch.zeros(4, dtype=torch.float64)
    seen = 0
    bar = _progress(
        run.steps_per_epoch * cfg.batch_size,
        f"{cfg.variant} {epoch + 1}/{cfg.epochs}",
        progress and info.is_main,
    )
    batches = iterate_batches(
        run.train_split,
        cfg.batch_size,
        shuffle=True,
        augment=cfg.augment,
        generator=g,
        rank=info.rank,
        world=info.world,
        device=info.device,
        num_workers=cfg.num_workers,
    )
    for i, (x, y) in enumerate(batches):
        progress_epochs = epoch + i / max(1, run.steps_per_epoch)
        loss, ce, sc, correct = training_step(
            run.model, run.raw_model, x, y, cfg, g, run.amp, progress=progress_epochs
        )
        if not torch.isfinite(loss):
            bar.close()
            kept = (
                f"the last good checkpoint (epoch {epoch}) is kept"
                if epoch > 0
                else "no checkpoint was written"
            )
            raise TrainingDiverged(
                f"{cfg.variant}: loss became {loss.item()} in epoch {epoch + 1}; stopped; "
                f"{kept}. Lower --lr or --lam and train again with --overwrite."
            )
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        run.sched.step()
        b = len(y)
        sums += torch.tensor(
            [loss.item() * b, ce.item() * b, sc.item() * b, correct.item()], dtype=torch.float64
        )
        seen += b
        bar.update(b)
        bar.set_postfix(
            refresh=False,
            loss=f"{sums[0] / seen:.3f}",
            acc=f"{sums[3] / seen:.3f}",
            ips=f"{seen / (time.time() - t0):.0f}",
        )
    bar.close()
    return sums, seen, time.time() - t0


def agree_across_ranks(run: TrainRun, sums, seen: int):
    """Under DDP: every rank's sums (the log reports the global epoch), and rank 0's
    BatchNorm running statistics on every rank (each rank updated its own in its last
    forward pass; DDP broadcasts rank 0's only at the start of the next one), so every
    rank holds the model rank 0 evaluates and saves."""
    if run.info.world <= 1:
        return sums, seen
    seen_t = torch.tensor([float(seen)], dtype=torch.float64)
    dist.all_reduce(sums)
    dist.all_reduce(seen_t)
    for buf in run.raw_model.buffers():
        dist.broadcast(buf, 0)
    return sums, int(seen_t.item())


def end_epoch(run: TrainRun, epoch: int, sums, seen: int, wall: float) -> None:
    """Rank 0: score the epoch's model (clean, and under PGD for variants trained on
    generated examples: catastrophic overfitting of single-step training shows here), save
    the checkpoint and resume state, log."""
    cfg, raw_model, epoch_eval = run.cfg, run.raw_model, run.epoch_eval
    test_acc = accuracy(raw_model, epoch_eval)
    pgd_acc = None
    if VARIANTS[cfg.variant].adversarial and cfg.epoch_pgd_limit:
        pgd_acc = accuracy(
            raw_model,
            seeded_subset(epoch_eval, cfg.epoch_pgd_limit, cfg.seed),
            attack=cfg.eval_attack,
            seed=cfg.seed,
        )
    record = {
        "variant": cfg.variant,
        "epoch": epoch + 1,
        "epochs": cfg.epochs,
        "loss": sums[0].item() / seen,
        "ce": sums[1].item() / seen,
        "sc": sums[2].item() / seen,
        "train_acc": sums[3].item() / seen,
        "test_acc": test_acc,
        "test_n": len(epoch_eval),
        "test_pgd_acc": pgd_acc,
        "lr": run.sched.get_last_lr()[0],
        "images_per_s": seen / wall,
        "wall_s": wall,
        "world_size": run.info.world,
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }
    _save_epoch(
        run.out,
        run.manifest,
        run.facts,
        raw_model,
        cfg,
        run.opt,
        run.sched,
        epoch + 1,
        record,
        run.out / packs.TRAIN_LOG,
    )
    robust = f"PGD acc {pgd_acc:.3f} " if pgd_acc is not None else ""
    run.log(
        f"{cfg.variant} epoch {epoch + 1}/{cfg.epochs}: loss {record['loss']:.4f} "
        f"train acc {record['train_acc']:.3f} test acc {test_acc:.3f} {robust}"
        f"({record['images_per_s']:.0f} img/s, {wall:.0f} s)"
    )


def ddp_agreement(run: TrainRun) -> dict:
    """Under DDP, prove the ranks hold the same weights before anyone reports success, and
    end the process group. -> {"ddp": ...} or {}."""
    if run.info.world <= 1:
        return {}
    sums_all = [None] * run.info.world
    dist.all_gather_object(sums_all, weights_checksum(run.raw_model))
    # No barrier after this: rank 0's final evaluation may take longer than the
    # collective timeout, and the other ranks have nothing left to do.
    dist.destroy_process_group()
    return {
        "ddp": {
            "world_size": run.info.world,
            "weights_identical": len(set(sums_all)) == 1,
            "checksums": sums_all,
        }
    }


def final_metrics(model, test_full, cfg: TrainConfig, progress: bool, log) -> dict:
    """Clean and PGD accuracy and level-2 mean DS on the (seeded subset of the) test set."""
    test = seeded_subset(test_full, cfg.test_limit, cfg.seed)
    bar = _progress(2 * len(test), f"{cfg.variant} final evaluation", progress)
    clean = accuracy(model, test, progress=bar.update)
    attack = cfg.eval_attack
    robust = accuracy(model, test, attack=attack, seed=cfg.seed, progress=bar.update)
    bar.close()
    return {
        "clean_acc": clean,
        "pgd_acc": robust,
        "test_n": len(test),
        "pgd": {
            "eps": attack.eps,
            "step_size": attack.step_size,
            "steps": attack.steps,
            "random_start": attack.random_start,
            "norm": "Linf",
        },
        "ds_level2": mean_distance_scores(model, test, level=2),
    }


RESUME_KEYS = ("epoch", "model", "optimizer", "scheduler", "config")


def _read_resume_state(state_file: Path) -> dict:
    """The resume state, read with weights_only=True (a pickle that would run code is
    refused); TrainError with one line on anything unusable."""
    import pickle

    try:
        state = torch.load(state_file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise TrainError(
            f"{state_file}: refused, it holds objects other than tensors "
            f"({str(err).strip().splitlines()[0][:100]}); delete it or use --overwrite"
        ) from None
    except Exception as err:  # truncated zip, not a torch file, ...
        raise TrainError(
            f"{state_file}: not a readable resume state ({type(err).__name__}); delete it or use --overwrite"
        ) from None
    if not isinstance(state, dict) or not all(k in state for k in RESUME_KEYS):
        raise TrainError(f"{state_file}: not a resume state of sc-viz; delete it or use --overwrite")
    try:
        json.loads(state["config"])
        int(state["epoch"])
    except (TypeError, ValueError):
        raise TrainError(f"{state_file}: malformed resume state; delete it or use --overwrite") from None
    return state


def _save_epoch(out, manifest, facts, model, cfg, opt, sched, epochs_done, record, log_path):
    state_file = resume_path(out, cfg.variant)
    state_file.parent.mkdir(parents=True, exist_ok=True)
    import io

    buf = io.BytesIO()
    torch.save(
        {
            "epoch": epochs_done,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "config": json.dumps(cfg.to_dict()),
        },
        buf,
    )
    packs.atomic_write_bytes(state_file, buf.getvalue())
    entry = manifest["variants"].get(cfg.variant, {})
    entry.update(
        {
            "file": f"{cfg.variant}.safetensors",
            "status": "training",
            "epochs_done": epochs_done,
            "config": cfg.to_dict(),
        }
    )
    # training time of each epoch (wall clock on this machine, shared or not)
    entry["epoch_seconds"] = entry.get("epoch_seconds", [])[: epochs_done - 1] + [record["wall_s"]]
    entry["sha256"] = packs.save_weights(out / entry["file"], model, facts, cfg.to_dict())
    packs.write_variant_entry(out, manifest, cfg.variant, entry)
    packs.append_jsonl(log_path, record)


def _device_name(model) -> str:
    """Where the weights were trained ("cpu" or the GPU's name): epoch times depend on it."""
    device = next(model.parameters()).device
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _save_final(out, manifest, facts, model, cfg, metrics, log_path):
    entry = manifest["variants"].get(cfg.variant, {})
    entry.update(
        {
            "file": f"{cfg.variant}.safetensors",
            "status": "complete",
            "epochs_done": cfg.epochs,
            "config": cfg.to_dict(),
            "metrics": metrics,
            "seconds_per_epoch": (
                sum(entry["epoch_seconds"]) / len(entry["epoch_seconds"])
                if entry.get("epoch_seconds")
                else None
            ),
            "trained_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "device": _device_name(model),
            "torch": torch.__version__,
        }
    )
    entry["sha256"] = packs.save_weights(out / entry["file"], model, facts, cfg.to_dict())
    packs.write_variant_entry(out, manifest, cfg.variant, entry)
    packs.append_jsonl(log_path, {"variant": cfg.variant, "final": metrics})
    state_file = resume_path(out, cfg.variant)
    if state_file.exists():
        state_file.unlink()
