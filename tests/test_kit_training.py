"""The kit's training check on models with several optimizers: a correct alternating GAN
passes even though it frees its gradients; one whose discriminator never steps fails."""

from __future__ import annotations

import types

import attrs
import pytest
import torch

import genplug
from genplug.testing import check_architecture, check_training


@attrs.frozen
class GanConfig:
    data_shape: tuple[int, ...] = (2,)  # one sample
    noise: int = 3  # noise dimensions fed to the generator


class TinyGan(genplug.Model):
    """A GAN that alternates: even steps train the discriminator, odd steps the generator,
    each freeing every gradient afterwards (``zero_grad(set_to_none=True)``)."""

    architecture = "kit-gan"
    config_class = GanConfig

    def __init__(self, config: GanConfig) -> None:
        super().__init__(config)
        self.generator_net = torch.nn.Linear(config.noise, config.data_shape[0])
        self.discriminator = torch.nn.Linear(config.data_shape[0], 1)
        self.steps_taken = 0

    def sample(self, n, *, generator=None):
        z = torch.randn(n, self.config.noise, generator=generator, device=self.device)
        return self.generator_net(z.to(self.generator_net.weight.dtype))

    def configure_optimizers(self, config: genplug.TrainConfig):
        return {
            "generator": torch.optim.Adam(self.generator_net.parameters(), lr=config.lr),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=config.lr),
        }

    def step_discriminator(self, optimizer):
        optimizer.step()

    def training_step(self, batch, optimizers, *, generator=None):
        fake = self.sample(len(batch), generator=generator)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        if self.steps_taken % 2 == 0:
            real, fake = self.discriminator(batch), self.discriminator(fake.detach())
            loss = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
            loss.backward()
            self.step_discriminator(optimizers["discriminator"])
        else:
            score = self.discriminator(fake)
            loss = bce(score, torch.ones_like(score))
            loss.backward()
            optimizers["generator"].step()
        for optimizer in optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        self.steps_taken += 1
        return {"loss": float(loss.detach())}


class DiscriminatorNeverSteps(TinyGan):
    architecture = "kit-gan-stuck"

    def step_discriminator(self, optimizer):
        pass  # the bug: gradients reach the discriminator, its optimizer never steps


class CutOffLayer(TinyGan):
    architecture = "kit-gan-cut"

    def __init__(self, config: GanConfig) -> None:
        super().__init__(config)
        self.unused = torch.nn.Linear(2, 2)

    def configure_optimizers(self, lr):  # the old signature: a learning rate
        return {"all": torch.optim.Adam(self.parameters(), lr=lr)}

    def training_step(self, batch, optimizers, *, generator=None):
        (optimizer,) = optimizers.values()
        optimizer.zero_grad(set_to_none=True)
        loss = (self.sample(len(batch), generator=generator) - batch).pow(2).mean() + self.discriminator(batch).mean()
        loss.backward()
        optimizer.step()
        return {"loss": float(loss.detach())}


class Orphan(TinyGan):
    architecture = "kit-gan-orphan"

    def configure_optimizers(self, config: genplug.TrainConfig):
        return {"generator": torch.optim.Adam(self.generator_net.parameters(), lr=config.lr)}

    def training_step(self, batch, optimizers, *, generator=None):
        optimizers["generator"].zero_grad()
        loss = (self.sample(len(batch), generator=generator) - batch).pow(2).mean()
        loss.backward()
        optimizers["generator"].step()
        return {"loss": float(loss.detach())}


@pytest.fixture
def kit_registry():
    plugin = types.ModuleType("kit_training_plugin")

    @genplug.hookimpl
    def register_architectures(register):
        for cls in (TinyGan, DiscriminatorNeverSteps, CutOffLayer, Orphan):
            register(
                genplug.ArchitectureSpec(
                    name=cls.architecture, family="gan", description="test", model=f"{__name__}:{cls.__name__}"
                )
            )

    plugin.register_architectures = register_architectures
    reg = genplug.Registry()
    reg.add_plugin(plugin, name="genplug-kit-training")
    with genplug.use_registry(reg):
        yield reg


def test_an_alternating_gan_that_frees_its_gradients_passes(kit_registry):
    check_architecture("kit-gan")


def test_a_discriminator_whose_optimizer_never_steps_fails(kit_registry):
    with pytest.raises(AssertionError, match="optimizer 'discriminator' changed none of its parameters"):
        check_architecture("kit-gan-stuck")


def test_a_layer_cut_off_from_the_loss_fails_with_the_old_lr_signature(kit_registry):
    with pytest.raises(AssertionError, match=r"no gradient reaches unused\.weight, unused\.bias in 4 training steps"):
        check_architecture("kit-gan-cut")


def test_a_parameter_no_optimizer_holds_fails(kit_registry):
    with pytest.raises(AssertionError, match=r"no optimizer of configure_optimizers holds discriminator\.weight"):
        check_architecture("kit-gan-orphan")


def test_too_few_steps_for_the_alternation_fail(kit_registry):
    torch.manual_seed(0)
    model = genplug.create("kit-gan")
    with pytest.raises(AssertionError, match=r"no gradient reaches generator_net\.weight, generator_net\.bias in 1 "):
        check_training(model, torch.rand(4, 2), label="kit-gan", steps=1)
