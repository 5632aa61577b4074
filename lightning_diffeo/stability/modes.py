"""Model modes for stability measurements: trained (plain eval) and initialisation mode.

At initialisation the paper evaluates networks in evaluation mode except batch-norm, which
normalises with the statistics of the batch: freshly initialised running statistics (mean 0,
variance 1) would make batch-norm a no-op and hide what the layer does to the activations.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from lightning_diffeo.stability.settings import MODES, check_mode
from lightning_diffeo.validation import check_positive_int

__all__ = ["MODES", "check_mode", "check_positive_int", "eval_mode", "init_mode", "model_mode"]


def _check_module(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


@contextmanager
def _restore_training_flags(model: nn.Module) -> Iterator[None]:
    flags = [(module, module.training) for module in model.modules()]
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Plain evaluation mode ("trained mode"); every module's ``training`` flag is restored.

    Args:
        model: any module.

    Yields:
        The model, in evaluation mode.
    """
    model = _check_module(model)
    with _restore_training_flags(model):
        model.eval()
        yield model


@contextmanager
def init_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluation mode everywhere except batch-norm, which normalises with batch statistics.

    Batch-norm layers stay in evaluation mode but their ``running_mean`` and ``running_var``
    buffers are detached from the module for the duration of the context (PyTorch's batch-norm
    then normalises with the statistics of the current batch and updates nothing, not even
    ``num_batches_tracked``). The very same buffer tensors are put back on exit, untouched,
    so every parameter and buffer is bit-identical afterwards and every module's ``training``
    flag is restored, also when the body raises. No random number is drawn.

    Works for every subclass of ``torch.nn.modules.batchnorm._BatchNorm`` (BatchNorm1d/2d/3d,
    SyncBatchNorm, the lazy variants once initialised). Within the context each forward pass
    normalises with its own batch: the result depends on how images are grouped in batches,
    as it does at initialisation in the paper's protocol.

    Args:
        model: any module.

    Yields:
        The model, in initialisation mode.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
        >>> with init_mode(net):
        ...     y = net(torch.randn(4, 1, 5, 5))
        >>> float(y.detach().mean(dim=(0, 2, 3)).abs().max()) < 1e-5
        True
    """
    model = _check_module(model)
    saved: list[tuple[_BatchNorm, torch.Tensor | None, torch.Tensor | None]] = []
    with _restore_training_flags(model):
        try:
            model.eval()
            for module in model.modules():
                if isinstance(module, _BatchNorm):
                    saved.append((module, module.running_mean, module.running_var))
                    # Buffers set to None are skipped by state_dict and never written.
                    module.running_mean = None
                    module.running_var = None
            yield model
        finally:
            for module, running_mean, running_var in saved:
                module.running_mean = running_mean
                module.running_var = running_var


@contextmanager
def model_mode(model: nn.Module, mode: str) -> Iterator[nn.Module]:
    """Dispatch to :func:`eval_mode` (``mode="eval"``) or :func:`init_mode` (``"init"``)."""
    check_mode(mode)
    context = init_mode if mode == "init" else eval_mode
    with context(model) as inner:
        yield inner
