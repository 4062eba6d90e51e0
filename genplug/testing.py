"""The conformance kit: the contract every architecture and sampler must keep.

It is a pytest plugin (entry point ``pytest11``) and a plain library. A plugin's test
suite runs it over everything the plugin registers with three lines::

    import pytest
    from genplug.testing import conformance_cases

    @pytest.mark.parametrize("case", conformance_cases("genplug-myarch"), ids=str)
    def test_conformance(case):
        case.run()

For each architecture (in each of the model class's ``conformance_configs``, a tuple of
small config dicts; the class's defaults when it has none) it checks, on data from the
model's ``conformance_batch(n, *, generator)`` when it defines one, that:

- the model satisfies the protocols its spec declares;
- ``sample`` returns ``(n, *event_shape)`` floating tensors (or integer tokens);
- the same seeded generator gives the same samples, another seed others;
- ``encode``/``decode`` give the declared latent and data shapes (encoders);
- one ``training_step`` reaches every trainable parameter with a gradient and changes
  the weights;
- ``save_pretrained`` + ``genplug.load`` give identical tensors and identical samples;
- ``log_prob`` is finite with shape ``(batch,)`` for every declared kind;
- the model samples after moving to float64 and, when a GPU is present, to CUDA;

and for each sampler, that it refuses an object without the attributes it requires and
samples deterministically from a compatible architecture of the same plugin. All of it
runs with network access blocked (:func:`no_network`).
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

import genplug

__all__ = ["Case", "check_architecture", "check_sampler", "conformance_cases", "no_network"]


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Inside the block, any attempt to open a network connection raises ``AssertionError``."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access during a conformance check: {args[1:] or kwargs}")

    patches = [
        (socket.socket, "connect", refuse),
        (socket.socket, "connect_ex", refuse),
        (socket, "create_connection", refuse),
        (socket, "getaddrinfo", refuse),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, fn in patches:
            setattr(owner, name, fn)
        yield
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)


def _build(name: str, config: dict[str, Any]) -> Any:
    # torch on use: this module is a pytest plugin, loaded by every pytest run
    import torch

    torch.manual_seed(0)
    return genplug.create(name, **config)


def _batch(model: Any, n: int, generator: Any) -> Any:
    """Plausible data for ``model``.

    The model's own ``conformance_batch(n, *, generator)`` when it has one (a likelihood
    that only accepts quantised values, say); else integer tokens when it has
    ``vocab_size``; else uniform floats in [0, 1].
    """
    # torch on use: this module is a pytest plugin, loaded by every pytest run
    import torch

    own = getattr(model, "conformance_batch", None)
    if callable(own):
        return own(n, generator=generator).to(model.device)
    shape = (n, *model.event_shape)
    vocab = getattr(model, "vocab_size", None)
    if vocab is not None:
        return torch.randint(0, vocab, shape, generator=generator).to(model.device)
    return torch.rand(shape, generator=generator).to(model.device)


def _g(seed: int, device: Any = "cpu") -> Any:
    # torch on use: this module is a pytest plugin, loaded by every pytest run
    import torch

    return torch.Generator(device).manual_seed(seed)


def _same(a: Any, b: Any, what: str) -> None:
    # torch on use: this module is a pytest plugin, loaded by every pytest run
    import torch

    assert a.shape == b.shape and torch.equal(a, b), f"{what}: outputs differ"


def check_architecture(name: str, config: dict[str, Any] | None = None, *, n: int = 3) -> None:
    """Run the architecture contract on ``genplug.create(name, **config)``."""
    # torch on use: this module is a pytest plugin, loaded by every pytest run
    import torch

    config = config or {}
    spec = genplug.registry().architecture(name)
    cls = spec.load_class()  # checks the class against the declared protocols
    model = _build(name, config)
    label = f"{name} {config or '(defaults)'}"
    for protocol in spec.provides:
        genplug.check_protocol(model, protocol, what=label)

    # sampling: shape, dtype, determinism
    model.eval()
    with torch.no_grad():
        a = model.sample(n, generator=_g(1))
        b = model.sample(n, generator=_g(1))
        c = model.sample(n, generator=_g(2))
    assert tuple(a.shape) == (n, *model.event_shape), f"{label}: sample shape {tuple(a.shape)}"
    assert a.is_floating_point() or getattr(model, "vocab_size", None), f"{label}: sample dtype {a.dtype}"
    if a.is_floating_point():
        assert torch.isfinite(a).all(), f"{label}: samples are not finite"
    _same(a, b, f"{label}: same generator, same samples")
    assert not torch.equal(a, c), f"{label}: another seed gave identical samples"

    # encoder: shapes, and decode(encode(x).mean) lands back in data space
    if "encoder" in spec.provides:
        with torch.no_grad():
            x = _batch(model, 4, _g(10))
            latent = model.encode(x, generator=_g(11))
            assert isinstance(latent, genplug.Latent), f"{label}: encode must return a genplug.Latent"
            for field in ("sample", "mean"):
                got = tuple(getattr(latent, field).shape)
                assert got == (4, *model.latent_shape), f"{label}: encode(x).{field} has shape {got}"
            back = model.decode(latent.mean)
            assert tuple(back.shape) == tuple(x.shape), f"{label}: decode gives {tuple(back.shape)}"

    # likelihood
    kinds = tuple(getattr(model, "log_prob_kinds", ()) or ())
    batch = _batch(model, 4, _g(3))
    with torch.no_grad():
        for kind in kinds:
            assert isinstance(kind, str) and kind, f"{label}: log_prob kind {kind!r} must be a non-empty string"
            lp = model.log_prob(batch, kind=kind, generator=_g(4))
            assert tuple(lp.shape) == (4,), f"{label}: log_prob(kind={kind!r}) has shape {tuple(lp.shape)}, not (4,)"
            assert torch.isfinite(lp).all(), f"{label}: log_prob(kind={kind!r}) is not finite"

    # one training step reaches every trainable parameter
    model.train()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizers = model.configure_optimizers(1e-3)
    figures = model.training_step(batch, optimizers, generator=_g(5))
    assert isinstance(figures, dict) and figures, f"{label}: training_step must return a dict of figures"
    unreached = [k for k, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unreached, f"{label}: no gradient reaches {', '.join(unreached)}"
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items()), (
        f"{label}: a training step changed no weight"
    )
    model.eval()

    # save / load round trip
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        loaded = genplug.load(folder)
        assert type(loaded) is cls, f"{label}: loaded a {type(loaded).__name__}"
        for key, value in model.state_dict().items():
            _same(loaded.state_dict()[key], value, f"{label}: tensor {key} after save/load")
        with torch.no_grad():
            _same(loaded.sample(n, generator=_g(7)), model.sample(n, generator=_g(7)), f"{label}: samples after load")

    # other dtypes and devices
    with torch.no_grad():
        wide = model.to(torch.float64)
        x = wide.sample(n, generator=_g(8))
        if x.is_floating_point():
            assert x.dtype == torch.float64, f"{label}: a float64 model sampled {x.dtype}"
        if torch.cuda.is_available():
            gpu = model.to("cuda", torch.float32)
            x = gpu.sample(n, generator=_g(9, "cuda"))
            assert x.device.type == "cuda", f"{label}: a CUDA model sampled on {x.device}"
        model.to("cpu", torch.float32)


class _Bare:
    """An object with none of the attributes a sampler may require."""

    architecture = "bare"


def check_sampler(name: str, architecture: str, config: dict[str, Any] | None = None, *, steps: int = 4) -> None:
    """Run the sampler contract for ``name`` on a model of ``architecture``."""
    # torch on use: this module is a pytest plugin, loaded by every pytest run
    import torch

    spec = genplug.registry().sampler(name)
    sampler = spec.create()
    assert sampler.name == name, f"sampler {name!r} calls itself {sampler.name!r}"
    if spec.requires:
        with pytest.raises(genplug.IncompatibleError):
            spec.check(_Bare())
        with pytest.raises(genplug.IncompatibleError):
            sampler.check(_Bare())
    model = _build(architecture, config or {}).eval()
    spec.check(model)
    sampler.check(model)
    with torch.no_grad():
        a = sampler(model, 3, steps=steps, generator=_g(1))
        b = sampler(model, 3, steps=steps, generator=_g(1))
    assert tuple(a.shape) == (3, *model.event_shape), f"sampler {name}: shape {tuple(a.shape)}"
    assert not a.is_floating_point() or torch.isfinite(a).all(), f"sampler {name}: samples are not finite"
    _same(a, b, f"sampler {name}: same generator, same samples")


@attrs.frozen
class Case:
    """One conformance check; ``run()`` performs it with the network blocked."""

    id: str
    check: Callable[..., None]
    args: tuple[Any, ...]

    def run(self) -> None:
        with no_network():
            self.check(*self.args)

    def __str__(self) -> str:
        return self.id


def conformance_cases(distribution: str) -> list[Case]:
    """Every check for the architectures and samplers that ``distribution`` registers."""
    reg = genplug.registry()
    info = reg.plugins.get(distribution)
    if info is None or info.status != "ok":
        raise AssertionError(
            f"plugin {distribution} is not loaded ({info.status + ': ' + info.error if info else 'not installed'})"
        )
    cases: list[Case] = []
    models: list[tuple[str, dict[str, Any]]] = []
    for spec in sorted(reg.architectures.values(), key=lambda s: s.name):
        if spec.plugin != distribution:
            continue
        configs = getattr(spec.load_class(), "conformance_configs", None) or ({},)
        for i, config in enumerate(configs):
            models.append((spec.name, dict(config)))
            cases.append(Case(f"architecture-{spec.name}-{i}", check_architecture, (spec.name, dict(config))))
    for spec in sorted(reg.samplers.values(), key=lambda s: s.name):
        if spec.plugin != distribution:
            continue
        fits = [(a, c) for a, c in models if _fits(spec, a, c)]
        if not fits:
            raise AssertionError(f"sampler {spec.name!r}: no architecture of {distribution} fits it to test it on")
        for a, c in fits[:2]:
            cases.append(Case(f"sampler-{spec.name}-on-{a}", check_sampler, (spec.name, a, c)))
    if not cases:
        raise AssertionError(f"plugin {distribution} registers no architecture or sampler to check")
    return cases


def _fits(spec: genplug.SamplerSpec, architecture: str, config: dict[str, Any]) -> bool:
    try:
        spec.check(_build(architecture, config))
    except genplug.IncompatibleError:
        return False
    return True


@pytest.fixture
def genplug_no_network() -> Iterator[None]:
    """A pytest fixture: the test runs with network access blocked."""
    with no_network():
        yield
