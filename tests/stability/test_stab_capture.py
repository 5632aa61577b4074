from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_diffeo.stability import ActivationCapture, relative_depths, resolve_layers


class TupleNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        h = self.lin(x)
        first = self.relu(h)  # the same module twice: the last call is kept
        return (self.relu(first * 0 - 1 + h), "extra")


class Failing(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        self.lin(x)
        raise RuntimeError("forward failed")


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_capture_shapes_tuple_output_and_inplace_safety():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(32, 3))
    x = torch.randn(5, 1, 4, 4)
    with ActivationCapture(model, ["0", "1", "output"]) as capture:
        acts = capture(x)
    assert list(acts) == ["0", "1", "output"]
    conv = model[0](x)
    # the in-place ReLU ran after the hook: the captured conv output must still hold negatives
    torch.testing.assert_close(acts["0"], conv.reshape(5, -1))
    assert (acts["0"] < 0).any()
    torch.testing.assert_close(acts["1"], conv.relu().reshape(5, -1))
    assert acts["output"].shape == (5, 3) and acts["output"].dtype == torch.float32
    assert _hook_count(model) == 0


def test_capture_takes_first_tensor_and_last_call():
    torch.manual_seed(0)
    model = TupleNet()
    x = torch.randn(6, 4)
    with ActivationCapture(model, ["relu", "output"]) as capture:
        acts = capture(x)
    h = model.lin(x)
    expected = (h.relu() * 0 - 1 + h).relu()
    torch.testing.assert_close(acts["relu"], expected)
    torch.testing.assert_close(acts["output"], expected)


def test_hooks_removed_when_forward_raises():
    model = Failing()
    with pytest.raises(RuntimeError, match="forward failed"):
        with ActivationCapture(model, ["lin"]) as capture:
            assert _hook_count(model) == 1
            capture(torch.randn(2, 4))
    assert _hook_count(model) == 0


def test_resolve_layers_defaults_and_errors(conv_bn):
    assert resolve_layers(conv_bn, None) == ["conv", "bn", "act", "output"]
    assert resolve_layers(nn.Linear(2, 2), None) == ["output"]
    assert resolve_layers(conv_bn, "output") == ["output"]
    assert resolve_layers(conv_bn, ["bn", "bn", "output"]) == ["bn", "output"]
    with pytest.raises(ValueError, match=r"unknown layer.*'nope'.*valid names: 'output', 'conv'"):
        resolve_layers(conv_bn, ["nope"])
    with pytest.raises(ValueError, match="empty"):
        resolve_layers(conv_bn, [])


def test_error_message_truncates_huge_models():
    model = nn.Sequential(*[nn.Identity() for _ in range(200)])
    with pytest.raises(ValueError, match=r"more\)") as info:
        resolve_layers(model, ["missing"])
    assert len(str(info.value)) < 1000


def test_relative_depths():
    assert relative_depths(["a"]) == [1.0]
    assert relative_depths(["a", "b", "c"]) == [0.0, 0.5, 1.0]


def test_non_finite_activation_names_the_layer():
    model = nn.Sequential(nn.Linear(2, 2), nn.Identity())
    with torch.no_grad():
        model[0].bias.fill_(float("nan"))
    with pytest.raises(ValueError, match="layer '0' produced non-finite"):
        with ActivationCapture(model, ["0", "output"]) as capture:
            capture(torch.randn(3, 2))
    assert _hook_count(model) == 0


def test_uncalled_layer_raises():
    model = TupleNet()
    model.unused = nn.Linear(1, 1)
    with pytest.raises(ValueError, match="'unused' was not called"):
        with ActivationCapture(model, ["unused"]) as capture:
            capture(torch.randn(2, 4))
