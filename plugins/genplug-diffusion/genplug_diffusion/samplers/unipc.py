"""UniPC: a unified predictor-corrector solver of the diffusion ODE in data space.

Each step first *corrects* the current point with the prediction just made there (UniC),
then *predicts* the next point (UniP). The corrector reuses the network call that the
next predictor needs anyway, so an order-p corrector comes at no extra cost: one network
call per step, like DPM-Solver++, and one order of accuracy more.

From timestep s to t with h = λ_t - λ_s (λ = log(α/σ)) and the data predictions
m_0 = x̂_0(s), m_k = x̂_0(s_k) at earlier steps s_k, the B(h) = e^h - 1 ("bh2") form of
Zhao et al., Algorithm 2 / eqs. 8-9 (written for data prediction, h → -h)::

    UniP:  x_t = (σ_t/σ_s) x_s - α_t (e^-h - 1) m_0 - α_t B(h) Σ_k ρ_k D_k
    UniC:  x_t^c = (σ_t/σ_s) x_s - α_t (e^-h - 1) m_0 - α_t B(h) (Σ_k ρ_k D_k + ρ_p (m_t - m_0))
    D_k = (m_k - m_0) / r_k,  r_k = (λ_{s_k} - λ_s) / h,

where ρ solves the small linear system R ρ = b of the paper's Algorithm 2 (ρ = ½ for the
second-order predictor). Orders rise from 1 over the first steps (there are no earlier
predictions yet) and fall back to 1 on the last step, which goes to σ = 0. The constants
of every update are computed before the loop, in ᾱ's dtype and in the order diffusers'
``UniPCMultistepScheduler`` uses, and so are the updates: for the same network, noise and
timesteps the two loops agree bit for bit in float32.

References:
    Zhao et al., "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
    Diffusion Models", 2023, arXiv:2302.04867.

Example:
    >>> import genplug
    >>> model = genplug.create("diffusion", data_shape=(2,), hidden=16, mlp_blocks=1)
    >>> genplug.get_sampler("unipc", model, order=3)(model, 3, steps=10).shape
    torch.Size([3, 2])
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from genplug import GenplugError
from genplug_diffusion.samplers.base import DiffusionSampler, check_clip_sample, split_prediction
from genplug_diffusion.schedules import SPACINGS, solver_timesteps

__all__ = ["UniPC"]


class UniPC(DiffusionSampler):
    """The UniPC multistep predictor-corrector sampler (``unipc``); 20 steps by default.

    Arguments:
        order: the predictor's order, 1 to 3 (2 by default; 3 suits unconditional models).
        spacing: timestep spacing, ``"linspace"`` (diffusers' default), ``"leading"`` or
            ``"trailing"``.
        clip_sample: clip x̂_0 to [-clip_sample, clip_sample] at every step; ``False``
            never clips; ``None`` uses the model's ``clip_sample`` (none if it has none).
    """

    name = "unipc"
    default_steps = 20

    def __init__(
        self,
        *,
        order: int = 2,
        spacing: str = "linspace",
        clip_sample: float | bool | None = None,
    ) -> None:
        if order not in (1, 2, 3):
            raise GenplugError(f"unipc: order must be 1, 2 or 3, got {order!r}")
        if spacing not in SPACINGS:
            raise GenplugError(f"unipc: spacing={spacing!r} is not known; use one of {', '.join(SPACINGS)}")
        check_clip_sample(clip_sample, "unipc")
        self.order = order
        self.spacing = spacing
        self.clip_sample = clip_sample

    def timesteps(self, num_train_timesteps: int, steps: int) -> list[int]:
        """The timesteps where the network is evaluated; the solver then steps to σ = 0."""
        return solver_timesteps(num_train_timesteps, steps, self.spacing)

    def _loop(
        self, model: Any, x: torch.Tensor, timesteps: list[int], generator: torch.Generator | None
    ) -> torch.Tensor:
        clip = self.clip_bound(model)
        n = len(timesteps)
        orders = [min(self.order, n - i, i + 1) for i in range(n)]  # warm up; first order at the end
        alpha, sigma, lam = _alpha_sigma_lambda(model.alphas_cumprod.detach().cpu(), timesteps)
        predictors = [_Update.make(alpha, sigma, lam, i, i + 1, orders[i], False, x) for i in range(n)]
        correctors = [None] + [_Update.make(alpha, sigma, lam, i - 1, i, orders[i - 1], True, x) for i in range(1, n)]
        t_batch = torch.tensor(timesteps, device=x.device)
        history: list[torch.Tensor] = []  # x̂_0 at the latest steps, newest last
        x_last = x

        for i in range(n):
            # 1. the data prediction m_t = x̂_0 at this step, clipped if asked
            pred = model.predict(x, t_batch[i])
            x0, _ = split_prediction(x, pred, float(alpha[i]), float(sigma[i]), model.prediction_type)
            if clip is not None:
                x0 = x0.clamp(-clip, clip)
            # 2. UniC: correct x from the previous point, with m_t, at the previous order
            if i > 0:
                x = correctors[i].apply(x_last, history, x0)
            history = [*history, x0][-self.order :]
            # 3. UniP: predict the next point (on the last step, x̂_0 itself at σ = 0)
            x_last = x
            x = predictors[i].apply(x, history)
        return x


def _alpha_sigma_lambda(alphas: torch.Tensor, timesteps: list[int]) -> tuple[list, list, list]:
    """α, σ and λ = log(α/σ) at each timestep and at σ = 0 after the last, from σ̃ = σ/α.

    0-d tensors in ᾱ's dtype, computed as diffusers' ``UniPCMultistepScheduler`` does.
    """
    sigma_tilde = ((1 - alphas) / alphas) ** 0.5
    alpha, sigma = [], []
    for s in [sigma_tilde[t] for t in timesteps] + [alphas.new_zeros(())]:
        a = 1 / ((s**2 + 1) ** 0.5)
        alpha.append(a)
        sigma.append(s * a)
    lam = [torch.log(a) - torch.log(s) for a, s in zip(alpha, sigma, strict=True)]
    return alpha, sigma, lam


class _Update(NamedTuple):
    """The constants of one UniP or UniC update from step s to step t."""

    ratio: float  # σ_t / σ_s
    first: float  # α_t (e^-h - 1), the first-order (DDIM) weight of m_0
    scale: float  # α_t B(h), the weight of the higher-order terms
    r: list[float]  # r_k = (λ_{s_k} - λ_s) / h for the earlier predictions
    rho: torch.Tensor | None  # ρ_k for the earlier predictions
    rho_new: float  # ρ for m_t - m_0 (UniC only)
    corrector: bool

    @staticmethod
    def make(alpha: list, sigma: list, lam: list, s: int, t: int, order: int, corrector: bool, like: torch.Tensor):
        """Algorithm 2 of Zhao et al. for B(h) = e^h - 1, in the order diffusers computes it."""
        h = lam[t] - lam[s]
        hh = -h  # data prediction
        h_phi_1 = torch.expm1(hh)  # e^-h - 1
        b_h = torch.expm1(hh)
        r = [(lam[s - k] - lam[s]) / h for k in range(1, order)]  # r_k, k steps before s
        rks = torch.stack([*r, torch.ones((), dtype=h.dtype)])
        rows, b = [], []
        h_phi_k, factorial = h_phi_1 / hh - 1, 1
        for j in range(1, order + 1):
            rows.append(torch.pow(rks, j - 1))
            b.append(h_phi_k * factorial / b_h)
            factorial *= j + 1
            h_phi_k = h_phi_k / hh - 1 / factorial
        R, b = torch.stack(rows), torch.stack(b)
        rho, rho_new = None, 0.0
        if corrector:
            rhos = torch.ones(1, dtype=h.dtype) * 0.5 if order == 1 else torch.linalg.solve(R, b)
            rho, rho_new = (rhos[:-1] if order > 1 else None), float(rhos[-1])
        elif order > 1:
            rho = torch.ones(1, dtype=h.dtype) * 0.5 if order == 2 else torch.linalg.solve(R[:-1, :-1], b[:-1])
        if rho is not None:
            rho = rho.to(device=like.device, dtype=like.dtype)
        values = (sigma[t] / sigma[s], alpha[t] * h_phi_1, alpha[t] * b_h)
        return _Update(*(float(v) for v in values), [float(v) for v in r], rho, rho_new, corrector)

    def apply(self, x: torch.Tensor, history: list[torch.Tensor], new: torch.Tensor | None = None) -> torch.Tensor:
        """The update of ``x`` (at s) from the predictions ``history`` (m_0 last) and, for UniC, m_t."""
        m0 = history[-1]
        out = self.ratio * x - self.first * m0
        terms = [(history[-(k + 1)] - m0) / r for k, r in enumerate(self.r, 1)]  # D_k
        residual = torch.einsum("k,bkc...->bc...", self.rho, torch.stack(terms, dim=1)) if terms else 0
        if self.corrector:
            return out - self.scale * (residual + self.rho_new * (new - m0))
        return out - self.scale * residual if terms else out
