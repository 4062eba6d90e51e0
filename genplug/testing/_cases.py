"""``conformance_cases``: one :class:`Case` per check of what a plugin registers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

import genplug
from genplug.testing._network import no_network

__all__ = ["Case", "conformance_cases"]


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
    # torch on use: this module is imported by the pytest plugin, loaded by every pytest run
    from genplug.testing import _architecture, _common, _sampler, _tokens

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
            cases.append(
                Case(f"architecture-{spec.name}-{i}", _architecture.check_architecture, (spec.name, dict(config)))
            )
        if "next-token" in spec.provides and not any(
            _tokens.enumerable(_common.build(spec.name, dict(c))) for c in configs
        ):
            raise AssertionError(
                f"architecture {spec.name!r}: none of its conformance_configs is small enough to enumerate "
                f"(vocab_size ** sequence_length <= {_tokens.ENUMERABLE}), so the kit cannot check that its "
                "probabilities sum to 1; add one such as {'vocab_size': 3, 'sequence_length': 3}"
            )
    for spec in sorted(reg.samplers.values(), key=lambda s: s.name):
        if spec.plugin != distribution:
            continue
        fits = [(a, c) for a, c in models if _fits(spec, a, c)]
        if not fits:
            raise AssertionError(f"sampler {spec.name!r}: no architecture of {distribution} fits it to test it on")
        for a, c in fits[:2]:
            cases.append(Case(f"sampler-{spec.name}-on-{a}", _sampler.check_sampler, (spec.name, a, c)))
    if not cases:
        raise AssertionError(f"plugin {distribution} registers no architecture or sampler to check")
    return cases


def _fits(spec: genplug.SamplerSpec, architecture: str, config: dict[str, Any]) -> bool:
    # torch on use: this module is imported by the pytest plugin, loaded by every pytest run
    from genplug.testing._common import build

    try:
        spec.check(build(architecture, config))
    except genplug.IncompatibleError:
        return False
    return True
