"""Named training recipes. `demo` reproduces checkpoints/cifar10-resnet20 on two CPU cores:
`standard` from scratch, then `c`, `adv`, `advc` and the related `sns`, `spat`, `gsct`
fine-tuned from it. Adversarial variants
train against single-step PGD with random start (FGSM-RS, Wong et al. 2020) to fit the CPU
budget, `spat` against PGD-3 (the budget it was proposed for); evaluation always uses PGD-10,
eps 8/255, step 2/255."""

from __future__ import annotations

from sc_viz.training.related import SpatSettings

FINE_TUNE = {
    "optimizer": "sgd",
    "lr": 0.02,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "schedule": "cosine",
    "init": "{out}/standard.safetensors",
}
FGSM_RS = {"attack_steps": 1, "attack_step": 10 / 255, "attack_random_start": True}
PGD3 = {"attack_steps": 3, "attack_step": 20 / 765, "attack_random_start": True}  # step 2.5 eps / 3

PRESETS: dict[str, dict[str, dict]] = {
    "demo": {
        "standard": {
            "dataset": "cifar10",
            "arch": "resnet20",
            "epochs": 24,
            "batch_size": 128,
            "optimizer": "sgd",
            "lr": 0.2,
            "momentum": 0.9,
            "weight_decay": 5e-4,
            "schedule": "onecycle",
        },
        "c": {
            "dataset": "cifar10",
            "arch": "resnet20",
            "epochs": 3,
            "batch_size": 128,
            "lam": 0.1,
            **FINE_TUNE,
        },
        "adv": {
            "dataset": "cifar10",
            "arch": "resnet20",
            "epochs": 5,
            "batch_size": 128,
            **FINE_TUNE,
            **FGSM_RS,
        },
        "advc": {
            "dataset": "cifar10",
            "arch": "resnet20",
            "epochs": 5,
            "batch_size": 128,
            "lam": 0.1,
            **FINE_TUNE,
            **FGSM_RS,
        },
        # The related methods, each fine-tuned from `standard` with adv's schedule, epochs,
        # attack budget and init, so the comparison with adv is fair; their own settings
        # take TrainConfig's defaults (the project's reading, docs/related_methods.md).
        "sns": {
            "dataset": "cifar10",
            "arch": "resnet20",
            "epochs": 5,
            "batch_size": 128,
            **FINE_TUNE,
            **FGSM_RS,
        },
        # SPAT was proposed for multi-step PGD: PGD-3 with the budget-normalised masked step,
        # on a seeded 5,000-image subset per epoch to fit the CPU; its same-budget adv
        # reference (scripts/spat_budget.sh) is kept outside the pack
        # (docs/related_methods.md#spat)
        "spat": {
            "dataset": "cifar10",
            "arch": "resnet20",
            "epochs": 5,
            "batch_size": 128,
            **FINE_TUNE,
            **PGD3,
            "spat": SpatSettings(step_norm="budget"),
            "train_limit": 5000,
            "epoch_eval_limit": 1000,
            "epoch_pgd_limit": 200,
        },
        "gsct": {
            "dataset": "cifar10",
            "arch": "resnet20",
            "epochs": 5,
            "batch_size": 128,
            **FINE_TUNE,
            **FGSM_RS,
        },
    },
}
