"""The rational-quadratic spline: invertible, its log-slope is autograd's, and it equals
zuko's ``MonotonicRQSTransform`` for the same raw parameters (skipped without zuko)."""

from __future__ import annotations

import pytest
import torch
from genplug_flow.splines import rqs_forward, rqs_inverse


def params(n: int, bins: int, seed: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    w, h, d = (2 * torch.randn(n, size, generator=g, dtype=dtype) for size in (bins, bins, bins - 1))
    x = 7 * torch.rand(n, generator=g, dtype=dtype) - 3.5  # inside and outside [-B, B] = [-3, 3]
    return x, w, h, d


def test_the_inverse_undoes_the_spline_and_the_log_slopes_cancel():
    x, w, h, d = params(1000, 8, 0)
    y, ld = rqs_forward(x, w, h, d, bound=3.0)
    back, ld_inverse = rqs_inverse(y, w, h, d, bound=3.0)
    assert (back - x).abs().max() < 1e-10
    assert (ld + ld_inverse).abs().max() < 1e-10
    outside = x.abs() > 3
    assert outside.any() and torch.equal(y[outside], x[outside]) and (ld[outside] == 0).all()


def test_the_log_slope_is_the_derivative():
    x, w, h, d = params(50, 5, 1)
    x.requires_grad_(True)
    y, ld = rqs_forward(x, w, h, d, bound=3.0)
    (slope,) = torch.autograd.grad(y.sum(), x)
    assert torch.allclose(slope.log(), ld, atol=1e-10)


def test_the_spline_is_monotonic_and_maps_the_bound_onto_itself():
    _, w, h, d = params(1, 6, 2)
    x = torch.linspace(-3, 3, 2001, dtype=torch.float64)
    y, _ = rqs_forward(x, w.expand(2001, -1), h.expand(2001, -1), d.expand(2001, -1), bound=3.0)
    assert (y.diff() > 0).all()
    assert abs(float(y[0]) + 3) < 1e-9 and abs(float(y[-1]) - 3) < 1e-9


@pytest.mark.parametrize("slope", [1e-3, 1e-4])
def test_the_spline_equals_zukos_monotonic_rqs_transform(slope):
    zuko = pytest.importorskip("zuko")
    x, w, h, d = params(4096, 8, 3)
    x = x * 5 / 3  # zuko's default bound is 5: points inside and outside
    reference = zuko.transforms.MonotonicRQSTransform(w, h, d, bound=5.0, slope=slope)
    y_ref, ld_ref = reference.call_and_ladj(x)
    y, ld = rqs_forward(x, w, h, d, bound=5.0, slope=slope)
    assert (y - y_ref).abs().max() < 1e-10 and (ld - ld_ref).abs().max() < 1e-10  # float64: the same function
    back, ld_back = rqs_inverse(y, w, h, d, bound=5.0, slope=slope)
    assert (back - reference.inv(y)).abs().max() < 1e-10 and (ld_back + ld_ref).abs().max() < 1e-10

    # float32: within 1e-5 of zuko's float64 values, or about as close as zuko's own float32 (10% slack)
    # (with raw parameters this large, float32 rounding alone moves log-slopes by ~3e-4)
    y32, ld32 = rqs_forward(x.float(), w.float(), h.float(), d.float(), bound=5.0, slope=slope)
    ref32 = zuko.transforms.MonotonicRQSTransform(w.float(), h.float(), d.float(), bound=5.0, slope=slope)
    y_ref32, ld_ref32 = ref32.call_and_ladj(x.float())
    for ours, theirs, exact in ((y32, y_ref32, y_ref), (ld32, ld_ref32, ld_ref)):
        error, zukos_error = (ours.double() - exact).abs().max(), (theirs.double() - exact).abs().max()
        assert error <= max(1e-5, 1.1 * float(zukos_error)), (float(error), float(zukos_error))
