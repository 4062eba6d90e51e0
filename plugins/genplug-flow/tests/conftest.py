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


def _randomize(model: torch.nn.Module, seed: int = 0, std: float = 0.1) -> torch.nn.Module:
    """Give every parameter a random value, so that zero-initialised couplings are not the identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


@pytest.fixture
def randomize():
    """``randomize(model, seed=0, std=0.1)``: a fixture, since test files do not import
    each other's conftest (the repository runs every plugin's tests together)."""
    return _randomize
