"""The kit's bijection checks: an affine coupling layer passes; an inverse that is not one
and log-determinants off by a constant or a sign fail."""

from __future__ import annotations

import math
import types

import attrs
import pytest
import torch

import genplug
from genplug.testing import check_architecture


@attrs.frozen
class CouplingConfig:
    data_shape: tuple[int, ...] = (4,)  # one sample; the first half conditions the second


class Coupling(genplug.Model):
    """y1 = x1, y2 = x2 * exp(s(x1)) + t(x1): log|det J| = sum s(x1)."""

    architecture = "kit-coupling"
    config_class = CouplingConfig
    log_prob_kinds = ("exact",)

    def __init__(self, config: CouplingConfig) -> None:
        super().__init__(config)
        half = config.data_shape[0] // 2
        self.scale, self.shift = torch.nn.Linear(half, half), torch.nn.Linear(half, half)

    def _split(self, v):
        half = v.shape[-1] // 2
        return v[:, :half], v[:, half:]

    def forward_and_log_det(self, x):
        x1, x2 = self._split(x)
        s = torch.tanh(self.scale(x1))
        return torch.cat([x1, x2 * s.exp() + self.shift(x1)], -1), s.sum(-1)

    def inverse_and_log_det(self, y):
        y1, y2 = self._split(y)
        s = torch.tanh(self.scale(y1))
        return torch.cat([y1, (y2 - self.shift(y1)) * (-s).exp()], -1), -s.sum(-1)

    def sample(self, n, *, generator=None):
        z = torch.randn(n, *self.event_shape, generator=generator).to(self.scale.weight)
        return self.forward_and_log_det(z)[0]

    def log_prob(self, x, *, kind="exact", generator=None):
        z, log_det = self.inverse_and_log_det(x)
        return -0.5 * z.pow(2).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi) + log_det

    def loss(self, batch, *, generator=None):
        return -self.log_prob(batch).mean()


class NotAnInverse(Coupling):
    architecture = "kit-coupling-not-inverse"

    def inverse_and_log_det(self, y):  # the bug: the shift is added back instead of removed
        y1, y2 = self._split(y)
        s = torch.tanh(self.scale(y1))
        return torch.cat([y1, (y2 + self.shift(y1)) * (-s).exp()], -1), -s.sum(-1)


class LogDetOffByOne(Coupling):
    architecture = "kit-coupling-off-by-one"

    def forward_and_log_det(self, x):  # the bug: a constant too many (the inverse agrees, so they cancel)
        y, log_det = super().forward_and_log_det(x)
        return y, log_det + 1.0

    def inverse_and_log_det(self, y):
        x, log_det = super().inverse_and_log_det(y)
        return x, log_det - 1.0


class LogDetSign(Coupling):
    architecture = "kit-coupling-sign"

    def forward_and_log_det(self, x):  # the bug: log|det dx/dy| where log|det dy/dx| belongs
        y, log_det = super().forward_and_log_det(x)
        return y, -log_det

    def inverse_and_log_det(self, y):
        x, log_det = super().inverse_and_log_det(y)
        return x, -log_det


@pytest.fixture
def kit_registry():
    plugin = types.ModuleType("kit_bijection_plugin")

    @genplug.hookimpl
    def register_architectures(register):
        for cls in (Coupling, NotAnInverse, LogDetOffByOne, LogDetSign):
            register(
                genplug.ArchitectureSpec(
                    name=cls.architecture,
                    family="flow",
                    description="test",
                    model=f"{__name__}:{cls.__name__}",
                    provides=("generator", "bijection"),
                )
            )

    plugin.register_architectures = register_architectures
    reg = genplug.Registry()
    reg.add_plugin(plugin, name="genplug-kit-bijection")
    with genplug.use_registry(reg):
        yield reg


def test_a_correct_coupling_layer_passes(kit_registry):
    check_architecture("kit-coupling")


def test_an_inverse_that_is_not_one_fails(kit_registry):
    with pytest.raises(
        AssertionError, match=r"\(float32\): inverse_and_log_det\(forward_and_log_det\(x\)\) is .* from x"
    ):
        check_architecture("kit-coupling-not-inverse")


@pytest.mark.parametrize("name", ["kit-coupling-off-by-one", "kit-coupling-sign"])
def test_a_wrong_log_determinant_fails(kit_registry, name):
    with pytest.raises(AssertionError, match="autograd's Jacobian gives .*: the log-determinant is wrong"):
        check_architecture(name)
