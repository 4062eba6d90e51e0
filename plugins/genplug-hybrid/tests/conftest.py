from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import genplug


@pytest.fixture(autouse=True)
def _fresh_registry():
    """Every test starts from the installed plugins, discovered anew."""
    genplug.reset_registry()
    yield
    genplug.reset_registry()


@pytest.fixture(autouse=True)
def _one_thread():
    """The tests share two cores with other work; tiny models gain nothing from more threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_vae() -> Callable[..., Any]:
    """Builds an untrained VAE small enough for tests."""

    def build(latent_dim: int = 4, data_shape: tuple[int, ...] = (1, 8, 8)) -> Any:
        torch.manual_seed(0)
        return genplug.create(
            "vae", data_shape=data_shape, latent_dim=latent_dim, hidden=4, downsamples=1, mlp_hidden=16, mlp_depth=1
        )

    return build


@pytest.fixture
def tiny_prior() -> Callable[..., Any]:
    """Builds an untrained diffusion prior (an MLP denoiser) small enough for tests."""

    def build(data_shape: tuple[int, ...] = (4,), **config: Any) -> Any:
        torch.manual_seed(1)
        fields = {"hidden": 16, "mlp_blocks": 1, "num_train_timesteps": 100, **config}
        return genplug.create("diffusion", data_shape=data_shape, **fields)

    return build
