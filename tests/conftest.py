"""Fixtures shared by the test suite."""
import pytest
import torch


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (learning runs are seeded and timed on one thread;
    two threads on a loaded 2-core machine can be many times slower), restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
