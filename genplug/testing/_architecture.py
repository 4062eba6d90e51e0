"""The architecture contract: what every registered model keeps, and the checks of its kinds.

Every model: its protocols, seeded sampling, encoder shapes, finite ``log_prob``, a few
training steps that train all of it, a save/load round trip, float64 and CUDA. Then the
checks of what it provides or declares: next-token models (:mod:`._tokens`), bijections
(:mod:`._bijection`) and class conditions (:mod:`._conditions`).
"""

from __future__ import annotations

import tempfile
from typing import Any

import torch

import genplug
from genplug.testing._bijection import check_bijection
from genplug.testing._common import batch, build, class_conditions, g, same
from genplug.testing._conditions import check_conditions
from genplug.testing._tokens import check_next_token
from genplug.testing._training import check_training

__all__ = ["check_architecture"]


def _condition(model: Any) -> dict[str, int]:
    """Label 0 of each class condition: what the general checks sample with."""
    return {name: 0 for name in class_conditions(model)}


def check_architecture(name: str, config: dict[str, Any] | None = None, *, n: int = 3) -> None:
    """Run the architecture contract on ``genplug.create(name, **config)``."""
    config = config or {}
    spec = genplug.registry().architecture(name)
    cls = spec.load_class()  # checks the class against the declared protocols
    model = build(name, config)
    label = f"{name} {config or '(defaults)'}"
    for protocol in spec.provides:
        genplug.check_protocol(model, protocol, what=label)
    condition = _condition(model)

    # sampling: shape, dtype, determinism
    model.eval()
    with torch.no_grad():
        a = model.sample(n, generator=g(1), **condition)
        b = model.sample(n, generator=g(1), **condition)
        c = model.sample(n, generator=g(2), **condition)
    assert tuple(a.shape) == (n, *model.event_shape), f"{label}: sample shape {tuple(a.shape)}"
    assert a.is_floating_point() or getattr(model, "vocab_size", None), f"{label}: sample dtype {a.dtype}"
    if a.is_floating_point():
        assert torch.isfinite(a).all(), f"{label}: samples are not finite"
    same(a, b, f"{label}: same generator, same samples")
    assert not torch.equal(a, c), f"{label}: another seed gave identical samples"
    if condition:
        check_conditions(model, label=label, n=n)

    # encoder: shapes, and decode(encode(x).mean) lands back in data space
    if "encoder" in spec.provides:
        with torch.no_grad():
            x = batch(model, 4, g(10))
            latent = model.encode(x, generator=g(11))
            assert isinstance(latent, genplug.Latent), f"{label}: encode must return a genplug.Latent"
            for field in ("sample", "mean"):
                got = tuple(getattr(latent, field).shape)
                assert got == (4, *model.latent_shape), f"{label}: encode(x).{field} has shape {got}"
            back = model.decode(latent.mean)
            assert tuple(back.shape) == tuple(x.shape), f"{label}: decode gives {tuple(back.shape)}"
    if "bijection" in spec.provides:
        check_bijection(model, label=label)
    if "next-token" in spec.provides:
        check_next_token(model, label=label)

    # likelihood
    kinds = tuple(getattr(model, "log_prob_kinds", ()) or ())
    data = batch(model, 4, g(3))
    with torch.no_grad():
        for kind in kinds:
            assert isinstance(kind, str) and kind, f"{label}: log_prob kind {kind!r} must be a non-empty string"
            lp = model.log_prob(data, kind=kind, generator=g(4), **condition)
            assert tuple(lp.shape) == (4,), f"{label}: log_prob(kind={kind!r}) has shape {tuple(lp.shape)}, not (4,)"
            assert torch.isfinite(lp).all(), f"{label}: log_prob(kind={kind!r}) is not finite"

    # a few training steps reach every trainable parameter and step every optimizer
    check_training(model, data, label=label)

    # save / load round trip
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        loaded = genplug.load(folder)
        assert type(loaded) is cls, f"{label}: loaded a {type(loaded).__name__}"
        for key, value in model.state_dict().items():
            same(loaded.state_dict()[key], value, f"{label}: tensor {key} after save/load")
        with torch.no_grad():
            same(
                loaded.sample(n, generator=g(7), **condition),
                model.sample(n, generator=g(7), **condition),
                f"{label}: samples after load",
            )

    # other dtypes and devices
    with torch.no_grad():
        wide = model.to(torch.float64)
        x = wide.sample(n, generator=g(8), **condition)
        if x.is_floating_point():
            assert x.dtype == torch.float64, f"{label}: a float64 model sampled {x.dtype}"
        if torch.cuda.is_available():
            gpu = model.to("cuda", torch.float32)
            x = gpu.sample(n, generator=g(9, "cuda"), **condition)
            assert x.device.type == "cuda", f"{label}: a CUDA model sampled on {x.device}"
        model.to("cpu", torch.float32)
