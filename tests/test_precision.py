import pytest
import torch

from sc_viz import precision


def test_autocast_dtype(monkeypatch):
    assert precision.autocast_dtype("fp32", torch.device("cpu")) is None
    assert precision.autocast_dtype("bf16", torch.device("cpu")) is torch.bfloat16
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert precision.autocast_dtype("auto", torch.device("cpu")) is torch.bfloat16
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    assert precision.autocast_dtype("auto", "cpu") is None
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.autocast_dtype("half", torch.device("cpu"))


def test_cpu_flag_read_from_cpuinfo():
    flags = open("/proc/cpuinfo").read()
    assert precision.cpu_has_bf16() == ("avx512_bf16" in flags or "amx_bf16" in flags)


def test_autocast_context_and_names():
    layer = torch.nn.Linear(4, 2)
    with precision.autocast("cpu", torch.bfloat16):
        assert layer(torch.rand(1, 4)).dtype is torch.bfloat16
    with precision.autocast("cpu", None):  # off: plain fp32
        assert layer(torch.rand(1, 4)).dtype is torch.float32
    assert precision.precision_name(torch.bfloat16) == "bf16"
    assert precision.precision_name(None) == "fp32"
