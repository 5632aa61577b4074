from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightning_diffeo.stability import eval_mode, init_mode, model_mode


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_identical(model: nn.Module, snapshot: dict[str, torch.Tensor]) -> None:
    state = model.state_dict()
    assert state.keys() == snapshot.keys()
    for key, value in snapshot.items():
        assert state[key].dtype == value.dtype
        assert torch.equal(state[key], value), key


def _flags(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


def test_init_mode_uses_batch_statistics(conv_bn):
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    conv_out = conv_bn.conv(x).detach()
    expected = F.batch_norm(conv_out, None, None, conv_bn.bn.weight, conv_bn.bn.bias, training=True, eps=conv_bn.bn.eps)
    with torch.no_grad(), init_mode(conv_bn):
        inside = conv_bn.bn(conv_out)
        assert not conv_bn.bn.training and not conv_bn.training
    torch.testing.assert_close(inside, expected, rtol=0, atol=1e-6)
    # per-channel batch mean ~ 0, variance ~ 1 (weight 1, bias 0 at init)
    assert inside.mean(dim=(0, 2, 3)).abs().max() < 1e-5
    with torch.no_grad(), eval_mode(conv_bn):
        running = conv_bn.bn(conv_out)
    assert not torch.allclose(running, inside, atol=1e-3)


def test_init_mode_restores_state_and_flags_exactly(conv_bn):
    conv_bn.train()
    conv_bn.head.eval()  # mixed flags must come back as they were
    snapshot, flags = _snapshot(conv_bn), _flags(conv_bn)
    buffers = {name: buf for name, buf in conv_bn.named_buffers()}
    rng = torch.get_rng_state()
    with torch.no_grad(), init_mode(conv_bn):
        conv_bn(torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(2)))
    _assert_identical(conv_bn, snapshot)
    assert _flags(conv_bn) == flags
    # the very same buffer objects are back, not copies
    assert all(buf is dict(conv_bn.named_buffers())[name] for name, buf in buffers.items())
    assert torch.equal(torch.get_rng_state(), rng)


def test_init_mode_restores_after_exception(conv_bn):
    conv_bn.train()
    snapshot, flags = _snapshot(conv_bn), _flags(conv_bn)
    with pytest.raises(RuntimeError, match="boom"):
        with torch.no_grad(), init_mode(conv_bn):
            conv_bn(torch.rand(3, 1, 8, 8))
            raise RuntimeError("boom")
    _assert_identical(conv_bn, snapshot)
    assert _flags(conv_bn) == flags
    assert conv_bn.bn.running_mean is not None and conv_bn.bn.running_var is not None


def test_init_mode_handles_every_batchnorm_kind():
    model = nn.Sequential(
        nn.Linear(3, 4), nn.BatchNorm1d(4), nn.BatchNorm1d(4, track_running_stats=False), nn.SyncBatchNorm(4)
    )
    model[1].running_mean.fill_(9.0)
    snapshot = _snapshot(model)
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), init_mode(model):
        y = model(x)
    assert y.mean(0).abs().max() < 1e-5
    _assert_identical(model, snapshot)


def test_eval_mode_restores_flags(conv_bn):
    conv_bn.train()
    with eval_mode(conv_bn):
        assert not any(_flags(conv_bn))
    assert all(_flags(conv_bn))


def test_model_mode_rejects_unknown_mode(conv_bn):
    with pytest.raises(ValueError, match="mode must be one of"):
        with model_mode(conv_bn, "train"):
            pass
    with pytest.raises(TypeError, match="nn.Module"):
        with init_mode("not a model"):
            pass
