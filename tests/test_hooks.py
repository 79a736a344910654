"""One hook helper (sc_viz.hooks.hooked): it removes its hooks on exit, also on an error;
no other module of the package registers a hook; and every hooked pass of the package
leaves no hook behind when the pass fails halfway."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from sc_viz.data import DATASETS
from sc_viz.experiments.bn_drift import batchnorm_mismatch
from sc_viz.explain.gradcam_grid import grid_probe
from sc_viz.explain.sanity import _forward_order
from sc_viz.hooks import hooked
from sc_viz.importing import _layer_output_shape
from sc_viz.inside.probe import pair_distance_hooks
from sc_viz.inside.sensitivity import recorded_features, sensitivity_layers
from sc_viz.models import _output_shapes, build_model

PACKAGE = Path(__file__).resolve().parents[1] / "sc_viz"


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture
def model():
    spec = DATASETS["cifar10"]
    torch.manual_seed(0)
    return build_model("resnet20", 10, spec.mean, spec.std).eval()


BAD = torch.rand(2, 5, 32, 32)  # five channels: the first convolution raises, after the hooks are on


def test_hooked_removes_every_hook_on_error(model):
    calls = []
    hooks = [
        (model.net.layer1, "forward", lambda m, i, o: calls.append("out")),
        (model.net.layer2, "forward_pre", lambda m, i: calls.append("in")),
    ]
    with hooked(hooks):
        model(torch.rand(1, 3, 32, 32))
        assert hook_count(model) == 2
    assert calls == ["out", "in"] and hook_count(model) == 0
    with pytest.raises(RuntimeError), hooked(hooks):
        model(BAD)
    assert hook_count(model) == 0
    with (
        pytest.raises(ValueError, match="hook kind"),
        hooked([hooks[0], (model.net.layer3, "backward", print)]),
    ):
        pass  # the first was registered before the bad one: removed too
    assert hook_count(model) == 0


def test_no_other_module_registers_a_hook():
    pattern = re.compile(r"register_(forward|full_backward|backward|forward_pre)_(pre_)?hook")
    found = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "hooks.py" and pattern.search(path.read_text())
    ]
    assert found == [], f"register hooks through sc_viz.hooks.hooked: {found}"


def test_every_hooked_pass_leaves_no_hook_when_it_fails(model):
    layers = sensitivity_layers(model)
    blocks = [(name, model.get_submodule(name)) for name in layers]
    passes = {
        "sanity: call order": lambda: _forward_order(model, blocks, BAD),
        "importing: layer shape": lambda: _layer_output_shape(model, "net.layer3", BAD),
        "bn_drift: BatchNorm probe": lambda: batchnorm_mismatch(model, BAD),
    }
    for name, run in passes.items():
        with pytest.raises(RuntimeError):
            run()
        assert hook_count(model) == 0, name
    contexts = {
        "sensitivity: features": lambda: recorded_features(model, layers),
        "probe: pair distances": lambda: pair_distance_hooks(model, layers),
        "Grad-CAM grid probe": lambda: grid_probe(model.net.layer3, "nhwc"),
        "models: output shapes": lambda: _output_shapes(model.net),
    }
    for name, open_ in contexts.items():
        with pytest.raises(RuntimeError), open_():
            assert hook_count(model) > 0, name
            model(BAD)
        assert hook_count(model) == 0, name
    assert not model.training  # bn_drift's probe put the model back in eval mode
