from __future__ import annotations

import json
import types

import attrs
import pytest
import torch

import genplug


class StandIn(torch.nn.Module):
    """An encoder known to no plugin: latents are the data rotated by 45 degrees and scaled."""

    latent_shape = (2,)
    event_shape = (2,)

    def __init__(self):
        super().__init__()
        c = 2**-0.5
        self.register_buffer("rotation", torch.tensor([[c, -c], [c, c]]) / 3)

    def encode(self, x, *, generator=None):
        z = x @ self.rotation
        return genplug.Latent(sample=z, mean=z)

    def decode(self, z):
        return z @ torch.linalg.inv(self.rotation)


def _prior(shape=(2,)):
    torch.manual_seed(0)
    return genplug.create("toy-gaussian", data_shape=shape)


def test_compose_sample_and_fit_with_a_stand_in_encoder():
    model = genplug.compose(encoder=StandIn(), prior=_prior())
    assert isinstance(model, genplug.Generator) and model.event_shape == (2,)
    x = genplug.sample(model, 5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 2)
    assert torch.equal(x, genplug.sample(model, 5, generator=torch.Generator().manual_seed(0)))
    model.fit("8gaussians", steps=150, lr=0.05, batch_size=256, progress=False)
    latents = genplug.load_data("8gaussians").x @ StandIn().rotation
    assert torch.allclose(model.prior.log_scale.exp(), latents.std(0), rtol=0.1)
    assert torch.equal(model.encoder.rotation, StandIn().rotation)  # frozen
    samples = genplug.sample(model, 4000, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(samples.std(0), genplug.load_data("8gaussians").x.std(0), rtol=0.1)


def test_shape_mismatch_is_caught_when_composing():
    with pytest.raises(genplug.IncompatibleError) as err:
        genplug.compose(encoder=StandIn(), prior=_prior((3,)))
    assert str(err.value) == (
        "the prior 'toy-gaussian' draws samples of shape (3,), but the encoder 'StandIn' has latents "
        "of shape (2,); build the prior with data_shape=(2,)"
    )


def test_non_encoder_is_refused_by_name():
    with pytest.raises(genplug.IncompatibleError, match=r"the encoder 'Linear' is not an Encoder: it lacks decode"):
        genplug.compose(encoder=torch.nn.Linear(2, 2), prior=_prior())
    with pytest.raises(genplug.IncompatibleError, match=r"the prior 'Linear' is not a Generator: it lacks event_shape"):
        genplug.compose(encoder=StandIn(), prior=torch.nn.Linear(2, 2))


def test_sampler_mismatch_names_both_sides():
    plugin = types.ModuleType("samplers")

    @genplug.hookimpl
    def register_samplers(register):
        register(
            genplug.SamplerSpec(
                name="eps-only",
                family="diffusion",
                description="needs noise prediction",
                sampler="genplug_toy.model:ToyGaussian",
                requires={"prediction_type": ("epsilon",)},
            )
        )

    plugin.register_samplers = register_samplers
    reg = genplug.registry()
    reg.add_plugin(plugin, name="genplug-eps")
    with pytest.raises(genplug.IncompatibleError) as err:
        genplug.compose(encoder=StandIn(), prior=_prior(), sampler="eps-only")
    message = str(err.value)
    assert "prior 'toy-gaussian'" in message and "sampler 'eps-only'" in message
    assert "prediction_type in epsilon" in message and "prediction_type=None" in message


def test_round_trip_through_files(tmp_path):
    torch.manual_seed(0)
    encoder = genplug.create("toy-gaussian", data_shape=(2,))
    with torch.no_grad():
        encoder.mean.copy_(torch.tensor([1.0, -2.0]))
    model = genplug.compose(encoder=encoder, prior=_prior(), latent="sample")
    model.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "config.json").read_text())
    assert index["architecture"] == "composite"
    assert index["config"] == {
        "latent": "sample",
        "train_encoder": False,
        "sampler": None,
        "steps": None,
        "adapter": "identity",
    }
    assert {k: v for k, v in index["components"]["encoder"].items() if k != "weights_id"} == {
        "path": "encoder",
        "architecture": "toy-gaussian",
        "plugin": {"name": "genplug-toy", "version": "0.0.1"},
    }
    assert (tmp_path / "prior" / "model.safetensors").exists()
    loaded = genplug.load(tmp_path)
    assert isinstance(loaded, genplug.Composite) and loaded.config == model.config
    g = lambda: torch.Generator().manual_seed(4)  # noqa: E731
    assert torch.equal(genplug.sample(loaded, 6, generator=g()), genplug.sample(model, 6, generator=g()))


def test_missing_component_plugin_gives_the_pip_line(tmp_path):
    model = genplug.compose(encoder=_prior(), prior=_prior())
    model.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "config.json").read_text())
    index["components"]["prior"].update(architecture="maf", plugin={"name": "genplug-flow", "version": "0.2.0"})
    (tmp_path / "config.json").write_text(json.dumps(index))
    with pytest.raises(genplug.ModelFileError, match=r"pip install genplug-flow==0\.2\.0"):
        genplug.load(tmp_path)


def test_unregistered_parts_cannot_be_saved(tmp_path):
    model = genplug.compose(encoder=StandIn(), prior=_prior())
    with pytest.raises(genplug.ModelFileError, match="the encoder 'StandIn' cannot be saved"):
        model.save_pretrained(tmp_path / "a")
    model = genplug.compose(encoder=_prior(), prior=_prior())
    model.prior = StandIn()  # a part that cannot be saved, found after a part that can
    with pytest.raises(genplug.ModelFileError, match="the prior 'StandIn' cannot be saved"):
        model.save_pretrained(tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_composite_training_resumes(tmp_path):
    def fresh():
        return genplug.compose(encoder=genplug.create("toy-gaussian", data_shape=(2,)), prior=_prior())

    straight = fresh().fit("moons", steps=12, lr=0.05, checkpoint_every=4, out=tmp_path / "a", progress=False)
    fresh().fit("moons", steps=8, lr=0.05, checkpoint_every=4, out=tmp_path / "b", progress=False)
    resumed = fresh().fit(
        "moons", steps=12, lr=0.05, checkpoint_every=4, out=tmp_path / "b", resume=True, progress=False
    )
    assert torch.equal(straight.prior.mean, resumed.prior.mean)
    assert isinstance(genplug.load(tmp_path / "b"), genplug.Composite)


@attrs.frozen
class GanConfig:
    data_shape: tuple[int, ...] = (2,)  # one sample


class TinyGan(genplug.Model):
    """A prior with two optimizers, alternating on the trainer's step: even steps train the
    discriminator, odd steps the generator. It records what each step was given."""

    architecture = "compose-gan"
    config_class = GanConfig
    ema_modules = ("generator_net",)

    def __init__(self, config: GanConfig) -> None:
        super().__init__(config)
        self.generator_net = torch.nn.Linear(3, 2)
        self.discriminator = torch.nn.Linear(2, 1)
        self.made: dict[str, torch.optim.Optimizer] = {}
        self.calls: list[tuple[int, int, bool]] = []

    def sample(self, n, *, generator=None):
        return self.generator_net(torch.randn(n, 3, generator=generator, device=self.device))

    def configure_optimizers(self, config: genplug.TrainConfig):
        self.made = {
            "generator": torch.optim.Adam(self.generator_net.parameters(), lr=config.lr),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=config.lr),
        }
        return self.made

    def training_step(self, batch, optimizers, *, generator=None, step, total):
        self.calls.append((step, total, optimizers == self.made))
        fake = self.sample(len(batch), generator=generator)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        if step % 2 == 0:
            real, fake = self.discriminator(batch), self.discriminator(fake.detach())
            loss = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
            name = "discriminator"
        else:
            score = self.discriminator(fake)
            loss = bce(score, torch.ones_like(score))
            name = "generator"
        loss.backward()
        optimizers[name].step()
        for optimizer in optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        return {"loss": float(loss.detach())}


@pytest.fixture
def gan_registry():
    plugin = types.ModuleType("compose_gan_plugin")

    @genplug.hookimpl
    def register_architectures(register):
        register(
            genplug.ArchitectureSpec(name="compose-gan", family="gan", description="test", model=f"{__name__}:TinyGan")
        )

    plugin.register_architectures = register_architectures
    genplug.registry().add_plugin(plugin, name="genplug-compose-gan")


def test_a_gan_prior_trains_with_its_own_optimizers_and_steps(gan_registry):
    torch.manual_seed(0)
    encoder, prior = genplug.create("toy-gaussian", data_shape=(2,)), TinyGan(GanConfig())
    model = genplug.compose(encoder=encoder, prior=prior)
    assert model.ema_modules == ("prior.generator_net",)
    optimizers = model.configure_optimizers(genplug.TrainConfig(lr=0.01))
    assert optimizers == prior.made and set(optimizers) == {"generator", "discriminator"}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.fit("moons", steps=4, lr=0.01, batch_size=64, progress=False)
    assert prior.calls == [(0, 4, True), (1, 4, True), (2, 4, True), (3, 4, True)]  # the optimizers it made
    after = model.state_dict()
    for part in ("prior.generator_net.weight", "prior.discriminator.weight"):
        assert not torch.equal(after[part], before[part]), part
    assert all(torch.equal(after[k], before[k]) for k in before if k.startswith("encoder."))  # frozen


def test_a_gan_prior_resumes_exactly(tmp_path, gan_registry):
    def fresh():
        torch.manual_seed(0)
        return genplug.compose(encoder=genplug.create("toy-gaussian", data_shape=(2,)), prior=TinyGan(GanConfig()))

    options = {"lr": 0.01, "batch_size": 64, "checkpoint_every": 3, "ema": 0.9, "progress": False}
    straight = fresh().fit("moons", steps=6, out=tmp_path / "a", **options)
    fresh().fit("moons", steps=3, out=tmp_path / "b", **options)
    resumed = fresh().fit("moons", steps=6, out=tmp_path / "b", resume=True, **options)
    for key, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_a_prior_with_only_a_loss_trains_on_one_optimizer():
    class LossOnly(torch.nn.Module):
        event_shape = (2,)
        log_prob_kinds = ()

        def __init__(self):
            super().__init__()
            self.mean = torch.nn.Parameter(torch.zeros(2))

        def sample(self, n, *, generator=None):
            return self.mean + torch.randn(n, 2, generator=generator)

        def loss(self, batch, *, generator=None):
            return (batch - self.mean).pow(2).sum(1).mean()

    model = genplug.compose(encoder=StandIn(), prior=LossOnly())
    optimizers = model.configure_optimizers(genplug.TrainConfig(lr=0.1))
    assert list(optimizers) == ["model"]
    model.fit("8gaussians", steps=100, lr=0.1, batch_size=256, progress=False)
    latents = genplug.load_data("8gaussians").x @ StandIn().rotation
    assert torch.allclose(model.prior.mean, latents.mean(0), atol=0.1)


class GridEncoder(torch.nn.Module):
    """A deterministic encoder with a (2, 2, 2) latent grid: 8 numbers per 2-D point."""

    latent_shape = (2, 2, 2)
    event_shape = (2,)

    def __init__(self):
        super().__init__()
        self.up = torch.nn.Linear(2, 8)

    def encode(self, x, *, generator=None):
        z = self.up(x).view(-1, 2, 2, 2)
        return genplug.Latent(sample=z, mean=z)

    def decode(self, z):
        return z.flatten(1)[:, :2]


class CodeEncoder(torch.nn.Module):
    """A discrete encoder: a 4x4 grid of codes out of 5 (the shape of a VQ-VAE's)."""

    latent_shape = (1, 4, 4)
    code_shape = (4, 4)
    num_codes = 5
    event_shape = (1, 4, 4)

    def encode(self, x, *, generator=None):
        codes = (x.clamp(0, 0.999) * self.num_codes).long().view(-1, 4, 4)
        z = codes.float().unsqueeze(1) / self.num_codes
        return genplug.Latent(sample=z, mean=z, codes=codes)

    def decode(self, z):
        return z

    def decode_codes(self, codes):
        return codes.float().unsqueeze(1) / self.num_codes


def test_a_flatten_adapter_feeds_a_grid_latent_to_a_vector_prior():
    prior = genplug.create("toy-gaussian", data_shape=(8,))
    with pytest.raises(genplug.IncompatibleError, match="or compose with adapter='flatten'"):
        genplug.compose(encoder=GridEncoder(), prior=prior)
    model = genplug.compose(encoder=GridEncoder(), prior=prior, adapter="flatten")
    assert model.encode(torch.zeros(3, 2)).shape == (3, 8)
    assert genplug.sample(model, 4).shape == (4, 2)


def test_a_codes_adapter_feeds_a_grid_of_codes_to_a_token_prior():
    prior = genplug.create("toy-bigram", data_shape=(16,), vocab_size=5)
    model = genplug.compose(encoder=CodeEncoder(), prior=prior, adapter="codes")
    x = torch.rand(64, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    tokens = model.encode(x)
    assert tokens.shape == (64, 16) and tokens.dtype == torch.long and int(tokens.max()) < 5
    genplug.train(model, genplug.Data("grid", "image", x), {"steps": 20, "batch_size": 16}, progress=False)
    drawn = genplug.sample(model, 3, generator=torch.Generator().manual_seed(1))
    assert drawn.shape == (3, 1, 4, 4)
    assert set((drawn * 5).round().long().unique().tolist()) <= set(range(5))  # decoded from codes
    with pytest.raises(genplug.IncompatibleError, match="vocab_size=5"):
        genplug.compose(
            encoder=CodeEncoder(), prior=genplug.create("toy-bigram", data_shape=(16,), vocab_size=7), adapter="codes"
        )
