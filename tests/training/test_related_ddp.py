"""GSCT's double backprop under 2-process `torchrun` DDP (gloo, CPU): it trains, and the
ranks end with identical weights, like the paper's variants (tests/hardening/test_ddp.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from sc_viz import packs

REPO = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).parent / "torchrun"


def test_gsct_trains_under_ddp_with_identical_weights_on_both_ranks(tmp_path):
    out = tmp_path / "pack"
    cmd = [
        str(TORCHRUN),
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "sc_viz",
        "train",
        "--dataset",
        "cifar10",
        "--arch",
        "tinycnn",
        "--variant",
        "gsct",
        "--train-limit",
        "200",
        "--epochs",
        "1",
        "--batch-size",
        "25",
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--attack-steps",
        "1",
        "--test-limit",
        "32",
        "--epoch-eval-limit",
        "32",
        "--epoch-pgd-limit",
        "16",
        "--precision",
        "fp32",
        "--no-progress",
        "--out",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    entry = packs.read_manifest(out)["variants"]["gsct"]
    assert entry["status"] == "complete", json.dumps(entry)[:500]
    assert entry["metrics"]["ddp"]["world_size"] == 2
    assert entry["metrics"]["ddp"]["weights_identical"] is True
