"""experiments.summary reads the result files stored before the seeds (the committed
single-seed ones) as well as the seeded ones (tested in tests/test_cli_experiments.py)."""

import json
from pathlib import Path

from sc_viz.evaluate.report import EXPERIMENTS
from sc_viz.experiments.summary import summary

REPORT = Path(__file__).resolve().parents[2] / "reports" / "cifar10-resnet20"

OLD_TRANSFER = {  # the layout `sc-viz transfer` wrote before --seeds
    "experiment": "transfer",
    "source": {"pack": "p", "dataset": "cifar10", "arch": "resnet20"},
    "target": "fashion-mnist",
    "settings": {"epochs": 1},
    "variants": {"standard": {"accuracy": 0.8155, "n": 2000}, "advc": {"accuracy": 0.7025, "n": 2000}},
}
OLD_SWEEP = {
    "experiment": "sweep-lambda",
    "settings": {"epochs": 1, "init": "x"},
    "lambdas": {"0": {"lam": 0.0, "accuracy": 0.8495, "level1_ds_sum": 5.399}},
}


def test_single_seed_results_keep_their_wording():
    assert summary(OLD_TRANSFER, "d/") == (
        "Transfer (Sec. 4.6; cifar10 -> fashion-mnist, 1 epoch of fine-tuning, `d/`): "
        "`standard` 81.55%; `advc` 70.25%."
    )
    assert summary(OLD_SWEEP, "d/") == (
        "lambda sweep (Fig. 5; `c` fine-tuned 1 epoch from `standard`, `d/`): "
        "lambda 0: accuracy 84.95%, level-1 DS sum 5.40."
    )


def test_every_committed_result_file_has_a_summary():
    found = 0
    for folder, (stem, _) in EXPERIMENTS.items():
        path = REPORT / "experiments" / folder / f"{stem}.json"
        if path.exists():
            result = json.loads(path.read_text())
            text = summary(result, f"experiments/{folder}/")
            assert f"experiments/{folder}/" in text
            found += 1
    assert found >= 1
