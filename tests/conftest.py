from __future__ import annotations

import pytest
import torch

import genplug


@pytest.fixture(autouse=True)
def _fresh_registry():
    """Every test starts from the installed plugins, discovered anew."""
    genplug.reset_registry()
    yield
    genplug.reset_registry()


@pytest.fixture
def toy():
    """A small trained-looking toy model with distinct weights."""
    torch.manual_seed(0)
    model = genplug.create("toy-gaussian", data_shape=(2,))
    with torch.no_grad():
        model.mean.copy_(torch.tensor([0.5, -1.0]))
        model.log_scale.copy_(torch.tensor([0.1, -0.2]))
    return model
