import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """These tests push many small batches; on a loaded 2-core machine two intra-op
    threads spend more time waiting on each other than computing (10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
