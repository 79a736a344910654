"""No side effects: hooks, weights, modes and requires_grad flags as they were, after
success and after an exception; concurrent calls equal sequential ones."""

import threading

import pytest
import torch
import torch.nn as nn

from sc_viz.explain import explain

from .helpers import random_image, random_model

CHEAP = {"ig": {"n_steps": 3}, "lime": {"n_samples": 20}, "smoothgrad": {"n_samples": 2}}


def snapshot(model: nn.Module):
    hooks = [
        (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks), len(m._backward_pre_hooks))
        for m in model.modules()
    ]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    return (
        hooks,
        state,
        [p.requires_grad for p in model.parameters()],
        model.training,
        [p.grad for p in model.parameters()],
    )


def assert_unchanged(model, before):
    hooks, state, flags, training, grads = snapshot(model)
    assert hooks == before[0]
    assert state.keys() == before[1].keys()
    for k in state:  # BatchNorm running stats would move if a forward ran in train mode
        assert torch.equal(state[k], before[1][k]), k
    assert flags == before[2] and training == before[3]
    assert all(g is None for g in grads)  # no parameter gradient accumulated


class ModeRecorder(nn.Module):
    """Wraps a model; records `training` at each forward and can fail on the n-th one."""

    def __init__(self, inner: nn.Module, fail_at: int | None = None):
        super().__init__()
        self.inner, self.fail_at, self.modes, self.stray_hook = inner, fail_at, [], False
        self.gradcam_layer = "inner." + inner.gradcam_layer

    def forward(self, x):
        self.modes.append(self.training)
        if self.fail_at is not None and len(self.modes) >= self.fail_at:
            if self.stray_hook:  # a hook the guard must drop, as if a library leaked one
                self.inner.get_submodule(self.inner.gradcam_layer).register_forward_hook(lambda *a: None)
            raise RuntimeError("boom")
        return self.inner(x)


@pytest.mark.parametrize("method", ["saliency", "smoothgrad", "ig", "gradcam", "lime"])
@pytest.mark.parametrize("start_training", [False, True])
def test_success_leaves_model_as_found(method, start_training):
    model = ModeRecorder(random_model("resnet20"))
    model.train(start_training)
    model.inner.net.fc.weight.requires_grad_(False)  # a frozen layer stays frozen
    before = snapshot(model)
    explain(model, random_image(), method=method, target=2, **CHEAP.get(method, {}))
    assert_unchanged(model, before)
    assert model.modes and not any(model.modes)  # every forward ran in eval mode


@pytest.mark.parametrize("method", ["saliency", "smoothgrad", "ig", "gradcam", "lime"])
def test_exception_leaves_model_as_found(method):
    model = ModeRecorder(random_model("tinycnn"), fail_at=2)  # call 1 is the target check
    model.train(True)
    model.inner.net.fc.weight.requires_grad_(False)
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="boom"):
        explain(model, random_image(), method=method, target=2, **CHEAP.get(method, {}))
    assert_unchanged(model, before)


def test_gradcam_hooks_removed_after_failure():
    """Fails inside LayerGradCam's forward, with its hook and a leaked one in place."""
    model = ModeRecorder(random_model("tinycnn"), fail_at=2)
    model.stray_hook = True
    layer = model.inner.get_submodule(model.inner.gradcam_layer)
    with pytest.raises(RuntimeError):
        explain(model, random_image(), method="gradcam", target=0)
    assert len(layer._forward_hooks) == 0 and len(layer._forward_pre_hooks) == 0


def test_threads_equal_sequential():
    """Four threads, each a different image, every method, on one shared model. Without
    the model lock, one thread's forward would land in another's Grad-CAM hook."""
    model = random_model("tinycnn")
    before = snapshot(model)
    images = [random_image(seed=s) for s in range(4)]
    methods = ["gradcam", "saliency", "ig", "smoothgrad", "lime", "gradcam"]

    def run(i):
        return [explain(model, images[i], method=m, target=i, **CHEAP.get(m, {})).map for m in methods]

    sequential = [run(i) for i in range(4)]
    results, errors = [None] * 4, []

    def worker(i):
        try:
            results[i] = run(i)
        except Exception as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in range(4):
        for got, want in zip(results[i], sequential[i]):
            torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    assert_unchanged(model, before)
