"""Bad command-line input: exit code 2, one error line, no traceback, nothing written or
overwritten. Most cases call `sc_viz.cli.main` in-process (an uncaught exception would fail
the test); two go through a real subprocess to pin down the exit code and stderr."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import make_pack

from sc_viz.cli import main
from sc_viz.training.trainer import TrainConfig, resume_path, train

REPO = Path(__file__).resolve().parents[2]
BASE = [
    "train",
    "--dataset",
    "cifar10",
    "--arch",
    "tinycnn",
    "--variant",
    "standard",
    "--epochs",
    "1",
    "--train-limit",
    "64",
    "--batch-size",
    "32",
    "--test-limit",
    "16",
    "--epoch-eval-limit",
    "16",
    "--precision",
    "fp32",
    "--no-progress",
]


def tree(path: Path) -> dict:
    """Every file under path -> sha256 (to prove nothing changed)."""
    if not path.exists():
        return {}
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def one_error(capsys, *words) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1, err
    for w in words:
        assert w in errors[0], errors[0]
    return errors[0]


def run(argv) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse
        return e.code


@pytest.mark.parametrize(
    "flag,value",
    [("--dataset", "cifar11"), ("--arch", "resnet9000"), ("--variant", "advcc"), ("--optimizer", "lbfgs")],
)
def test_unknown_choice(tmp_path, capsys, flag, value):
    argv = [
        a if a != {"--dataset": "cifar10", "--arch": "tinycnn", "--variant": "standard"}.get(flag) else value
        for a in BASE
    ] + (["--optimizer", value] if flag == "--optimizer" else [])
    assert run(argv + ["--out", str(tmp_path / "p")]) == 2
    one_error(capsys, value)
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    "argv_extra,word",
    [(["--epochs", "0"], "epochs"), (["--batch-size", "-3"], "batch"), (["--levels", "7"], "7")],
)
def test_bad_values(tmp_path, capsys, argv_extra, word):
    assert run(BASE + argv_extra + ["--out", str(tmp_path / "p")]) == 2
    one_error(capsys, word)
    assert not (tmp_path / "p").exists()


def test_data_root_without_the_data(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(BASE + ["--data-root", str(empty), "--out", str(tmp_path / "p")]) == 2
    one_error(capsys, str(empty))
    assert not (tmp_path / "p").exists()
    assert tree(empty) == {}


def test_init_of_another_architecture(tmp_path, capsys, data_root):
    other = make_pack(tmp_path / "r20", arch="resnet20", variants=("standard",))
    assert run(BASE + ["--init", str(other / "standard.safetensors"), "--out", str(tmp_path / "p")]) == 2
    one_error(capsys, "standard.safetensors", "do not fit", "resnet20")
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("content", ["pickle", "empty", "random", "truncated", "missing", "folder"])
def test_bad_init_file(tmp_path, capsys, content, data_root):
    f = tmp_path / "init.safetensors"
    sentinel = tmp_path / "PWNED"
    if content == "pickle":

        class Evil:
            def __reduce__(self):
                return (open, (str(sentinel), "w"))

        torch.save({"net.fc.weight": Evil()}, f)
    elif content == "empty":
        f.write_bytes(b"")
    elif content == "random":
        f.write_bytes(os.urandom(3000))
    elif content == "truncated":
        good = make_pack(tmp_path / "good", variants=("standard",))
        f.write_bytes((good / "standard.safetensors").read_bytes()[:-100])
    elif content == "folder":
        f.mkdir()
    assert run(BASE + ["--init", str(f), "--out", str(tmp_path / "p")]) == 2
    one_error(capsys, "init.safetensors")
    assert not sentinel.exists()
    assert not (tmp_path / "p").exists()


def test_out_holding_another_packs_manifest(tmp_path, capsys):
    other = make_pack(tmp_path / "other", arch="resnet20", variants=("standard", "c"))
    before = tree(other)
    assert run(BASE + ["--out", str(other)]) == 2
    one_error(capsys, "another pack", "manifest.json")
    assert tree(other) == before


def test_out_holding_a_broken_manifest(tmp_path, capsys):
    out = tmp_path / "p"
    out.mkdir()
    (out / "manifest.json").write_text('{"dataset": "cifar10"')
    assert run(BASE + ["--out", str(out)]) == 2
    one_error(capsys, "manifest.json")
    assert (out / "manifest.json").read_text() == '{"dataset": "cifar10"'


def test_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("keep me")
    assert run(BASE + ["--out", str(f)]) == 2
    one_error(capsys, str(f))
    assert f.read_text() == "keep me"


def test_existing_variant_needs_resume_or_overwrite(tmp_path, capsys):
    pack = make_pack(tmp_path / "p", variants=("standard", "c"))
    before = tree(pack)
    assert run(BASE + ["--out", str(pack)]) == 2
    one_error(capsys, "--resume", "--overwrite")
    assert tree(pack) == before


@pytest.fixture
def half_trained(tmp_path, data_root) -> tuple[Path, list]:
    out = tmp_path / "half"
    cfg = TrainConfig(
        arch="tinycnn",
        variant="standard",
        epochs=2,
        train_limit=64,
        batch_size=32,
        test_limit=16,
        epoch_eval_limit=16,
        precision="fp32",
    )
    train(cfg, out, progress=False, log=lambda m: None, stop_after_epochs=1)
    assert resume_path(out, "standard").exists()
    return out, [
        "train",
        "--dataset",
        "cifar10",
        "--arch",
        "tinycnn",
        "--variant",
        "standard",
        "--epochs",
        "2",
        "--train-limit",
        "64",
        "--batch-size",
        "32",
        "--test-limit",
        "16",
        "--epoch-eval-limit",
        "16",
        "--precision",
        "fp32",
        "--no-progress",
        "--out",
        str(out),
    ]


@pytest.mark.parametrize("bad", ["code", "garbage", "not_a_state"])
def test_malicious_or_broken_resume_state_is_refused(half_trained, capsys, tmp_path, bad):
    out, argv = half_trained
    state = resume_path(out, "standard")
    sentinel = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    if bad == "code":
        torch.save({"epoch": 1, "model": Evil(), "optimizer": {}, "scheduler": {}, "config": "{}"}, state)
    elif bad == "garbage":
        state.write_bytes(os.urandom(500))
    else:
        torch.save({"epoch": 1}, state)
    before = tree(out)
    assert run(argv + ["--resume"]) == 2
    one_error(capsys, "standard.pt")
    assert not sentinel.exists()
    assert tree(out) == before


def test_resume_with_other_flags_is_refused(half_trained, capsys):
    out, argv = half_trained
    before = tree(out)
    assert run(argv + ["--resume", "--lr", "0.5"]) == 2
    one_error(capsys, "other settings")
    assert tree(out) == before


def test_subprocess_exit_code_and_stderr(tmp_path):
    """The real process: exit 2, the error on the last stderr line, no traceback."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    other = make_pack(tmp_path / "other", arch="resnet20", variants=("standard",))
    for argv in (
        BASE + ["--out", str(other)],
        [a if a != "tinycnn" else "nonet" for a in BASE] + ["--out", str(tmp_path / "p")],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "sc_viz", *argv],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("sc-viz train: error:"), proc.stderr
