from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from lightning_diffeo.models import create_model

@functools.lru_cache(maxsize=None)
def cached_model(name: str) -> nn.Module:
    """One eval-mode 3x32x32 / 10-class model per name, shared by read-only tests."""
    torch.manual_seed(0)
    return create_model(name).eval()


@pytest.fixture(scope="session")
def model_cache():
    return cached_model


@pytest.fixture
def seeded() -> None:
    torch.manual_seed(0)


def make_loader(n: int = 16, channels: int = 3, size: int = 16, classes: int = 10, batch: int = 4, seed: int = 0):
    """A DataLoader over ``n`` random images ``[channels, size, size]`` with random labels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, channels, size, size, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch)


@pytest.fixture
def loader_factory():
    return make_loader
