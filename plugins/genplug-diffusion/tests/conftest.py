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


class GaussianDenoiser:
    """A denoiser that is not a genplug model: the exact predictor for data N(0, scale² I).

    E[x_0 | x_t] = α s² x_t / (α² s² + σ²), so samplers run on it must return samples
    with standard deviation ``scale``.
    """

    time = "discrete"

    def __init__(
        self,
        prediction_type: str = "epsilon",
        schedule: str = "linear",
        scale: float = 0.5,
        shape: tuple[int, ...] = (2,),
    ) -> None:
        from genplug_diffusion import schedules

        self.prediction_type = prediction_type
        self.num_train_timesteps = 1000
        self.alphas_cumprod = schedules.alphas_cumprod(schedules.betas(schedule, 1000))
        self.event_shape = shape
        self.device = torch.device("cpu")
        self.scale = scale

    def predict(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.alphas_cumprod[t].to(x.dtype)
        a = a.reshape(a.shape + (1,) * (x.ndim - a.ndim))
        alpha, sigma = a.sqrt(), (1 - a).sqrt()
        x0 = alpha * self.scale**2 * x / (a * self.scale**2 + sigma**2)
        eps = (x - alpha * x0) / sigma
        return eps if self.prediction_type == "epsilon" else alpha * eps - sigma * x0


@pytest.fixture
def gaussian():
    return GaussianDenoiser


@pytest.fixture
def tiny_image():
    """A tiny untrained UNet model on 8x8 images."""
    torch.manual_seed(0)
    return genplug.create("diffusion", data_shape=(1, 8, 8), channels=8, res_blocks=1, attention_heads=2).eval()


@pytest.fixture
def tiny_points():
    """A tiny untrained MLP model on 2-D points, v-prediction, cosine schedule."""
    torch.manual_seed(0)
    return genplug.create(
        "diffusion", data_shape=(2,), hidden=16, mlp_blocks=1, prediction_type="v_prediction", schedule="cosine"
    ).eval()
