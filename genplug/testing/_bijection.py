"""The bijection contract: models that provide ``"bijection"`` (flows, flow layers).

``inverse(forward(x))`` gives back ``x`` (and ``forward(inverse(z))`` gives back ``z``),
the two log-determinants sum to zero, and the forward log-determinant equals
``log|det J|`` of the Jacobian autograd computes, example by example.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch

from genplug.testing._common import batch, g

__all__ = ["JACOBIAN_MAX_DIMS", "check_bijection"]

#: The largest ``prod(event_shape)`` whose Jacobian the kit computes with autograd.
JACOBIAN_MAX_DIMS = 64


def check_bijection(model: Any, *, label: str) -> None:
    """Run the bijection checks on ``model`` in float32 and on a float64 copy."""
    model.eval()
    wide = copy.deepcopy(model).to(torch.float64)
    with torch.no_grad():
        x = batch(model, 4, g(50)).float()
        z = torch.randn(x.shape, generator=g(51)).to(x.device)
        _round_trip(model, x, z, 1e-5, f"{label} (float32)")
        _round_trip(wide, x.double(), z.double(), 1e-10, f"{label} (float64)")
    if math.prod(model.event_shape) <= JACOBIAN_MAX_DIMS:
        _log_det_is_autograds(wide, x.double()[:3], label)


def _round_trip(model: Any, x: torch.Tensor, z: torch.Tensor, tol: float, label: str) -> None:
    y, forward_ld = model.forward_and_log_det(x)
    assert tuple(y.shape) == tuple(x.shape), f"{label}: forward_and_log_det maps {tuple(x.shape)} to {tuple(y.shape)}"
    assert tuple(forward_ld.shape) == (x.shape[0],), (
        f"{label}: forward_and_log_det's log-determinant has shape {tuple(forward_ld.shape)}, not ({x.shape[0]},)"
    )
    back, inverse_ld = model.inverse_and_log_det(y)
    gap = float((back - x).abs().max())
    assert gap <= tol * max(1.0, float(x.abs().max())), (
        f"{label}: inverse_and_log_det(forward_and_log_det(x)) is {gap:.3g} from x (allowed {tol:g}): "
        "the inverse is not the forward map's inverse"
    )
    total = float((forward_ld + inverse_ld).abs().max())
    assert total <= 10 * tol * max(1.0, float(forward_ld.abs().max())), (
        f"{label}: the forward and inverse log-determinants sum to {total:.3g}, not 0"
    )
    again, _ = model.forward_and_log_det(model.inverse_and_log_det(z)[0])
    gap = float((again - z).abs().max())
    assert gap <= tol * max(1.0, float(z.abs().max())), (
        f"{label}: forward_and_log_det(inverse_and_log_det(z)) is {gap:.3g} from z (allowed {tol:g})"
    )


def _log_det_is_autograds(model: Any, x: torch.Tensor, label: str) -> None:
    """Compare each example's log-determinant with ``log|det|`` of autograd's Jacobian (float64)."""
    shape = tuple(model.event_shape)
    _, log_det = model.forward_and_log_det(x)
    for i, example in enumerate(x):

        def forward(flat: torch.Tensor) -> torch.Tensor:
            return model.forward_and_log_det(flat.reshape(1, *shape))[0].reshape(-1)

        jacobian = torch.autograd.functional.jacobian(forward, example.reshape(-1))  # (D, D)
        _, expected = torch.linalg.slogdet(jacobian)
        gap = abs(float(log_det[i]) - float(expected))
        assert gap <= 1e-4, (
            f"{label}: forward_and_log_det gives log|det J| = {float(log_det[i]):.6g} for example {i}, "
            f"autograd's Jacobian gives {float(expected):.6g}: the log-determinant is wrong"
        )
