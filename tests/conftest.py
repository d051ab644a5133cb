"""Shared test settings."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The tests run many small tensor operations; on a 2-core CI machine one intra-op thread
    avoids thread-pool oversubscription (measured 5× faster than two threads under load)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
