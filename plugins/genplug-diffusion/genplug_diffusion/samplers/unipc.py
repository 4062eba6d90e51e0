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
predictions yet) and fall back to 1 on the last step, which goes to σ = 0.

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

import math
from typing import Any

import numpy as np
import torch

from genplug import GenplugError
from genplug_diffusion.samplers.base import DiffusionSampler, alphas_of, check_clip_sample
from genplug_diffusion.schedules import SPACINGS, prediction_coefficients, solver_timesteps


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

    @torch.no_grad()
    def denoise(
        self,
        model: Any,
        x: torch.Tensor,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        self.check(model)
        timesteps = self.timesteps(model.num_train_timesteps, self._steps(model, steps))
        n = len(timesteps)
        # ᾱ at each evaluated step and, past the end, 1 (σ = 0)
        a = [alphas_of(model)[t] for t in timesteps] + [1.0]
        clip = self.clip_bound(model)
        t_batch = torch.tensor(timesteps, device=x.device)
        history: list[torch.Tensor] = []  # x̂_0 at the latest steps, newest last
        x_last = x
        order_last = 0

        for i in range(n):
            # 1. the data prediction m_t = x̂_0 at this step
            x0_x, x0_pred, _, _ = prediction_coefficients(a[i], model.prediction_type)
            x0 = torch.add(x * x0_x, model.predict(x, t_batch[i]), alpha=x0_pred)
            if clip is not None:
                x0 = x0.clamp_(-clip, clip)

            # 2. UniC: correct x with m_t, from the previous point, at the previous order
            if i > 0:
                x_coef, weights, new_weight = self._update(a, i - 1, i, order_last, corrector=True)
                x = x_last * x_coef + new_weight * x0
                for w, m in zip(weights, reversed(history), strict=False):
                    x = x.add_(m, alpha=w)

            history = (history + [x0])[-self.order :]
            order_last = min(self.order, n - i, i + 1)  # warm up, and first order at the end

            # 3. UniP: predict the next point (on the last step, x̂_0 itself at σ = 0)
            x_last = x
            x_coef, weights, _ = self._update(a, i, i + 1, order_last, corrector=False)
            x = x * x_coef
            for w, m in zip(weights, reversed(history), strict=False):
                x = x.add_(m, alpha=w)
        return x

    def _update(self, a: list[float], s: int, t: int, order: int, *, corrector: bool) -> tuple[float, list, float]:
        """The weights of a UniP or UniC update from step ``s`` to step ``t`` (indices into ``a``).

        Returns ``(x_coef, weights, new_weight)``: the result is ``x_coef · x_s +
        Σ_k weights[k] · m_{s-k} + new_weight · m_t``, with m_{s-k} the prediction k
        steps before s (``weights[0]`` is m_0's) and m_t the corrector's new prediction.
        """
        alpha_s, sigma_s = math.sqrt(a[s]), math.sqrt(1 - a[s])
        alpha_t, sigma_t = math.sqrt(a[t]), math.sqrt(1 - a[t])
        phi = (sigma_t / alpha_t) / (sigma_s / alpha_s) - 1.0  # e^-h - 1
        x_coef = sigma_t / sigma_s
        weights = [-alpha_t * phi]  # the first-order (DDIM) part, on m_0
        if order == 1 and not corrector:
            return x_coef, weights, 0.0

        # r_k for the k earlier predictions, then 1 for the corrector's m_t
        lam = [0.5 * math.log(v / (1 - v)) for v in (a[s - k] for k in range(order))]
        h = 0.5 * math.log(a[t] / (1 - a[t])) - lam[0]
        r = [(lam[k] - lam[0]) / h for k in range(1, order)] + [1.0]

        # R ρ = b (Algorithm 2), with hh = -h for data prediction
        hh = -h
        b_h = math.expm1(hh)  # B(h) of the bh2 variant
        h_phi_k = math.expm1(hh) / hh - 1
        factorial = 1
        rows, b = [], []
        for j in range(1, order + 1):
            rows.append([rk ** (j - 1) for rk in r])
            b.append(h_phi_k * factorial / b_h)
            factorial *= j + 1
            h_phi_k = h_phi_k / hh - 1 / factorial
        if corrector:
            rho = [0.5] if order == 1 else list(np.linalg.solve(np.array(rows), np.array(b)))
        else:
            rho = [0.5] if order == 2 else list(np.linalg.solve(np.array(rows)[:-1, :-1], np.array(b)[:-1]))

        # Σ_k ρ_k (m_k - m_0) / r_k, spread over the m's
        scale = -alpha_t * b_h
        for k in range(1, order):
            weights.append(scale * rho[k - 1] / r[k - 1])
            weights[0] -= scale * rho[k - 1] / r[k - 1]
        new_weight = 0.0
        if corrector:
            new_weight = scale * rho[-1]
            weights[0] -= scale * rho[-1]
        return x_coef, weights, new_weight
