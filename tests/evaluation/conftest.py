"""Shared by the evaluation tests: one torch thread; ``offline`` for the tests of model sources.

The networks here are small (32-64 px, a handful of images); on a machine whose cores are busy
every multi-threaded operator waits for a busy core, which made these tests 30-100 times slower
(as tests/test_doc_examples.py found for the documentation's blocks).
"""

from __future__ import annotations

import socket

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def offline(monkeypatch):
    """Any connection attempt fails: the weights must come from local files and caches."""
    def refuse(*args, **kwargs):
        raise OSError("network access in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
