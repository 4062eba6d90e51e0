"""latent-diffusion: registration, composition and its errors, sampling, training, files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from genplug_hybrid import LatentDiffusion, LatentDiffusionConfig

import genplug

SAMPLERS = ("ddpm", "ddim", "dpm-solver++", "unipc")


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _config(**fields) -> LatentDiffusionConfig:
    return LatentDiffusionConfig(**{"steps": 4, **fields})


class StandIn(torch.nn.Module):
    """An encoder known to no plugin: latents are 2-D points shrunk 10x and 50x."""

    latent_shape = (2,)
    event_shape = (2,)

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shrink", torch.tensor([0.1, 0.02]))

    def encode(self, x, *, generator=None):
        z = x * self.shrink
        return genplug.Latent(sample=z, mean=z)

    def decode(self, z):
        return z / self.shrink


class GaussianPrior(torch.nn.Module):
    """A prior known to no plugin: a diagonal Gaussian fitted by maximum likelihood."""

    log_prob_kinds = ()

    def __init__(self, size: int) -> None:
        super().__init__()
        self.event_shape = (size,)
        self.mean = torch.nn.Parameter(torch.full((size,), 0.5))
        self.log_scale = torch.nn.Parameter(torch.full((size,), -1.0))

    def sample(self, n, *, generator=None):
        noise = torch.randn((n, *self.event_shape), generator=generator)
        return self.mean + self.log_scale.exp() * noise

    def loss(self, batch, *, generator=None):
        return (self.log_scale + 0.5 * ((batch - self.mean) / self.log_scale.exp()) ** 2).sum(1).mean()


# -- registration ------------------------------------------------------------------------


def test_entry_point_registers_latent_diffusion():
    reg = genplug.registry()
    info = reg.plugins["genplug-hybrid"]
    assert info.status == "ok", info.error
    spec = reg.architecture("latent-diffusion")
    assert (spec.plugin, spec.family, spec.provides) == ("genplug-hybrid", "hybrid", ("generator",))
    assert spec.default_weights == "genplug_hybrid:weights"
    assert spec.load_class() is LatentDiffusion
    assert issubclass(LatentDiffusion, genplug.Composite)


def test_registration_module_imports_no_torch():
    code = (
        "import sys, genplug, genplug_hybrid.plugin; genplug.registry(); "
        "assert 'torch' not in sys.modules, 'torch was imported'; "
        "assert 'genplug_hybrid.latent_diffusion' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- composing and sampling ----------------------------------------------------------------


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_compose_and_sample_with_each_sampler(tiny_vae, tiny_prior, sampler):
    model = LatentDiffusion(_config(sampler=sampler), encoder=tiny_vae(), prior=tiny_prior()).eval()
    assert isinstance(model, genplug.Generator) and model.event_shape == (1, 8, 8)
    a = genplug.sample(model, 5, generator=_g(0))
    assert a.shape == (5, 1, 8, 8) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, genplug.sample(model, 5, generator=_g(0)))
    assert not torch.equal(a, genplug.sample(model, 5, generator=_g(1)))
    # by hand: latents from the prior, then a draw from the VAE's p(x | z), with one generator:
    # through the Encoder protocol's decode_sample, and as it was drawn before it existed
    g = _g(0)
    with torch.no_grad():
        u = model.prior.sample(5, sampler=sampler, steps=4, generator=g)
        state = g.get_state()
        assert torch.equal(a, model.encoder.decode_sample(u, generator=g))
        g.set_state(state)
        assert torch.equal(a, model.encoder.likelihood.sample(model.encoder.decoder_params(u), generator=g))
    assert torch.equal(a * 16, (a * 16).round())  # draws of the discretized logistic: values k/16


def test_output_mean_decodes_with_the_encoders_decode(tiny_vae, tiny_prior):
    config = _config(output="mean", sampler="dpm-solver++")
    model = LatentDiffusion(config, encoder=tiny_vae(), prior=tiny_prior()).eval()
    with torch.no_grad():
        u = model.prior.sample(3, sampler="dpm-solver++", steps=4, generator=_g(0))
    mean = genplug.sample(model, 3, generator=_g(0))
    assert torch.equal(mean, model.encoder.decode(u))
    with torch.no_grad():
        draw = model.sample(3, generator=_g(0), output="draw")
    assert not torch.equal(draw, mean) and torch.equal(draw * 16, (draw * 16).round())
    with pytest.raises(genplug.GenplugError, match="output='blur'; choose 'draw'"):
        model.sample(3, output="blur")


def test_sampler_and_steps_override_the_config(tiny_vae, tiny_prior):
    config = _config(sampler="ddim", steps=3, output="mean")
    model = LatentDiffusion(config, encoder=tiny_vae(), prior=tiny_prior()).eval()
    with torch.no_grad():
        u = model.prior.sample(2, sampler="unipc", steps=5, generator=_g(3))
    assert torch.equal(genplug.sample(model, 2, sampler="unipc", steps=5, generator=_g(3)), model.decode(u))
    with pytest.raises(genplug.GenplugError, match="unknown sampler|not.*registered|no sampler"):
        genplug.sample(model, 2, sampler="no-such-sampler")


# -- composition-time errors --------------------------------------------------------------


def test_latent_shape_must_match_the_prior(tiny_vae, tiny_prior):
    with pytest.raises(genplug.IncompatibleError) as err:
        LatentDiffusion(_config(), encoder=tiny_vae(latent_dim=4), prior=tiny_prior((3,)))
    assert str(err.value) == (
        "the prior 'diffusion' draws samples of shape (3,), but the encoder 'vae' has latents of shape (4,); "
        "build the prior with data_shape=(4,)"
    )


def test_a_prior_the_sampler_cannot_run_is_refused(tiny_vae):
    not_a_denoiser = tiny_vae(latent_dim=3, data_shape=(4,))  # a VAE on 4-vectors: a Generator, no prediction_type
    with pytest.raises(genplug.IncompatibleError) as err:
        LatentDiffusion(_config(sampler="ddim"), encoder=tiny_vae(), prior=not_a_denoiser)
    message = str(err.value)
    assert message.startswith("cannot compose the prior 'vae' with sampler 'ddim': ")
    assert "prediction_type" in message
    # with no sampler named, the same prior composes and samples with its own procedure
    model = LatentDiffusion(_config(sampler=None, steps=None), encoder=tiny_vae(), prior=not_a_denoiser)
    assert genplug.sample(model, 2, generator=_g(0)).shape == (2, 1, 8, 8)
    with pytest.raises(genplug.IncompatibleError, match="sampler 'unipc' cannot run the prior 'vae'"):
        genplug.sample(model, 2, sampler="unipc")


def test_parts_that_are_not_an_encoder_or_a_generator_are_named(tiny_vae, tiny_prior):
    with pytest.raises(genplug.IncompatibleError, match=r"the encoder 'diffusion' is not an Encoder: it lacks"):
        LatentDiffusion(_config(), encoder=tiny_prior(), prior=tiny_prior())
    with pytest.raises(genplug.IncompatibleError, match=r"the prior 'Linear' is not a Generator"):
        LatentDiffusion(_config(), encoder=tiny_vae(), prior=torch.nn.Linear(4, 4))


def test_drawing_needs_an_encoder_with_a_likelihood(tiny_prior):
    with pytest.raises(genplug.IncompatibleError, match=r"output='draw' draws x ~ p\(x \| z\).*'StandIn' has not"):
        LatentDiffusion(_config(), encoder=StandIn(), prior=tiny_prior((2,)))


def test_latent_statistics_must_fit_the_encoder(tiny_vae, tiny_prior):
    config = _config(latent_mean=(0.0,) * 3, latent_std=(1.0,) * 3)
    with pytest.raises(genplug.IncompatibleError, match=r"3 latent statistics, but the encoder 'vae' has latents"):
        LatentDiffusion(config, encoder=tiny_vae(latent_dim=4), prior=tiny_prior())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prior": {"data_shape": (4,)}}, "must not set data_shape"),
        ({"prior": "big"}, "dict of diffusion config fields"),
        ({"latent_mean": (0.0, 0.0)}, "latent_mean and latent_std: set both together"),
        ({"latent_mean": (0.0,), "latent_std": (1.0, 1.0)}, "latent_mean has 1 values but latent_std has 2"),
        ({"latent_mean": (0.0,), "latent_std": (0.0,)}, "latent_std must be positive"),
    ],
)
def test_config_errors_name_the_field(fields, message):
    with pytest.raises(genplug.ConfigError, match=message):
        LatentDiffusionConfig(**fields)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"steps": 10**9}, "steps"),
        ({"latent_mean": (0.0,) * 70_000, "latent_std": (1.0,) * 70_000}, "latent_mean"),
        ({"latent_mean": (0.0,), "latent_std": (float("inf"),)}, "latent_std"),
        ({"latent": "median"}, "latent"),
        ({"output": 3}, "output"),
        ({"steps": "20"}, "steps"),
        ({"latent_mean": "0", "latent_std": (1.0,)}, "latent_mean"),
        ({"latent_mean": (0.0,), "latent_std": (True,)}, "latent_std"),
    ],
)
def test_config_refuses_huge_sizes_and_wrong_types_naming_the_field(fields, field):
    with pytest.raises(genplug.ConfigError, match=rf"LatentDiffusionConfig\.{field}\b"):
        LatentDiffusionConfig(**fields)


def test_a_huge_prior_is_refused_by_its_config_before_it_is_built(tiny_vae):
    with pytest.raises(genplug.ModelFileError, match=r"DiffusionConfig\.hidden must be an integer in \[1, 65536\]"):
        LatentDiffusion(_config(prior={"hidden": 10**6}), encoder=tiny_vae())


def test_unknown_prior_fields_are_named_by_create(tiny_vae):
    with pytest.raises(genplug.ModelFileError, match=r"unknown field 'width' for DiffusionConfig"):
        LatentDiffusion(_config(prior={"width": 8}), encoder=tiny_vae())


# -- standardisation and training ------------------------------------------------------------


def test_measure_latents_standardises_the_training_latents(tiny_vae, tiny_prior):
    model = LatentDiffusion(_config(latent="mean"), encoder=tiny_vae(), prior=tiny_prior())
    stats = model.measure_latents("digits")
    assert model.config.latent_mean == stats["latent_mean"] and len(stats["latent_std"]) == 4
    x = genplug.load_data("digits").x
    with torch.no_grad():
        u = model.encode(x)
        z = model.encoder.encode(x).mean
    assert torch.allclose(u.mean(0), torch.zeros(4), atol=1e-4)
    assert torch.allclose(u.std(0), torch.ones(4), atol=1e-4)
    assert torch.allclose(model.decode(u, output="mean"), model.encoder.decode(z), atol=1e-5)


def test_a_stand_in_encoder_with_a_diffusion_prior(tiny_prior):
    data = genplug.load_data("8gaussians")
    prior = tiny_prior((2,), hidden=64, mlp_blocks=2)
    model = LatentDiffusion(_config(steps=20, output="mean"), encoder=StandIn(), prior=prior)
    model.fit(data, steps=600, lr=1e-2, batch_size=256, ema=0.9, progress=False)
    z = data.x * StandIn().shrink  # std 0.2 and 0.04: far from the unit scale the noise schedule assumes
    assert model.config.latent_std == pytest.approx(tuple(z.double().std(0).tolist()), rel=1e-6)
    assert torch.equal(model.encoder.shrink, StandIn().shrink)  # the encoder is untouched
    samples = genplug.sample(model, 2000, generator=_g(1))
    assert torch.allclose(samples.mean(0), data.x.mean(0), atol=0.15), samples.mean(0)
    assert torch.allclose(samples.std(0), data.x.std(0), rtol=0.1), samples.std(0)


def test_a_stand_in_prior_learns_the_standardised_latents(tmp_path, tiny_vae):
    model = LatentDiffusion(
        _config(latent="mean", sampler=None, steps=None, output="mean"), encoder=tiny_vae(), prior=GaussianPrior(4)
    )
    # ema=None would keep train_defaults' 0.999 (the trainer skips None options): a short average instead
    model.fit("digits", steps=300, lr=0.05, batch_size=256, ema=0.5, progress=False)
    # the maximum-likelihood Gaussian of standardised latents is N(0, I)
    assert torch.allclose(model.prior.mean, torch.zeros(4), atol=0.05)
    assert torch.allclose(model.prior.log_scale.exp(), torch.ones(4), atol=0.05)
    with torch.no_grad():
        z = model.encoder.encode(genplug.load_data("digits").x).mean
        u = model.sample_latents(4000, generator=_g(2))
    assert torch.allclose((u * model.latent_scale + model.latent_shift).std(0), z.std(0), rtol=0.1)
    with pytest.raises(genplug.ModelFileError, match="the prior 'GaussianPrior' cannot be saved"):
        model.save_pretrained(tmp_path)


def test_training_step_is_the_priors_own_with_the_encoder_frozen(tiny_vae, tiny_prior):
    model = LatentDiffusion(_config(latent="mean"), encoder=tiny_vae(), prior=tiny_prior()).train()
    batch = genplug.load_data("digits").x[:64]
    encoder_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    optimizers = model.configure_optimizers(genplug.TrainConfig(lr=1e-3))
    assert [p for opt in optimizers.values() for group in opt.param_groups for p in group["params"]] == list(
        model.prior.parameters()
    )
    figures = model.training_step(batch, optimizers, generator=_g(0), step=0, total=1)
    assert set(figures) >= {"loss"} and not model.encoder.training
    assert all(torch.equal(v, encoder_before[k]) for k, v in model.encoder.state_dict().items())
    assert model.config.latent_mean is None  # the statistics are prepare()'s, measured on the whole data


def test_fit_measures_the_statistics_on_the_whole_training_set(tiny_vae, tiny_prior):
    model = LatentDiffusion(_config(), encoder=tiny_vae(), prior=tiny_prior())
    model.fit("digits", steps=1, batch_size=16, progress=False)
    expected = LatentDiffusion(_config(), encoder=tiny_vae(), prior=tiny_prior()).measure_latents("digits")
    assert (model.config.latent_mean, model.config.latent_std) == (expected["latent_mean"], expected["latent_std"])
    assert torch.equal(model.latent_shift, torch.tensor(expected["latent_mean"]))


def test_genplug_train_measures_the_statistics_on_the_whole_training_set(tmp_path):
    """The CLI builds the model itself and gives it no data but through the trainer's
    prepare(): the statistics must still be those of every training digit, not of a batch."""
    prior = '{"hidden": 16, "mlp_blocks": 1, "num_train_timesteps": 100}'
    command = [sys.executable, "-m", "genplug", "train", "latent-diffusion", "--data", "digits", "--steps", "2"]
    command += ["--batch-size", "16", "--ema", "none", "--out", str(tmp_path / "run"), "-c", f"prior={prior}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    model = LatentDiffusion(LatentDiffusionConfig(prior=json.loads(prior)))  # the packaged VAE, as the CLI's
    expected = model.measure_latents(genplug.load_data("digits", "train"))
    assert saved["latent_mean"] == pytest.approx(list(expected["latent_mean"]), rel=1e-12, abs=1e-12)
    assert saved["latent_std"] == pytest.approx(list(expected["latent_std"]), rel=1e-12, abs=1e-12)
    with torch.no_grad():  # not the first batch's (16 digits)
        first = model.latent(genplug.load_data("digits", "train").x[:16], generator=_g(0)).double()
    assert saved["latent_std"] != pytest.approx(first.std(0).tolist(), rel=1e-3)


def test_without_standardize_the_latents_are_left_alone(tiny_vae, tiny_prior):
    model = LatentDiffusion(_config(latent="mean", standardize=False), encoder=tiny_vae(), prior=tiny_prior())
    model.fit("digits", steps=2, progress=False)
    assert model.config.latent_mean is None
    x = genplug.load_data("digits").x[:8]
    with torch.no_grad():
        assert torch.equal(model.encode(x), model.encoder.encode(x).mean)


# -- files -----------------------------------------------------------------------------------


def _trained(tiny_vae, tiny_prior) -> LatentDiffusion:
    model = LatentDiffusion(_config(latent="sample", sampler="unipc"), encoder=tiny_vae(), prior=tiny_prior())
    model.fit("digits", steps=3, progress=False)
    return model.eval()


def test_save_and_load_round_trip(tmp_path, tiny_vae, tiny_prior):
    model = _trained(tiny_vae, tiny_prior)
    model.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "config.json").read_text())
    assert index["architecture"] == "latent-diffusion"
    assert index["plugin"]["name"] == "genplug-hybrid"
    assert index["config"]["latent_mean"] == list(model.config.latent_mean)
    assert {role: (c["architecture"], c["plugin"]["name"]) for role, c in index["components"].items()} == {
        "encoder": ("vae", "genplug-vae"),
        "prior": ("diffusion", "genplug-diffusion"),
    }
    loaded = genplug.load(tmp_path)
    assert type(loaded) is LatentDiffusion and loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert torch.equal(loaded.latent_scale, model.latent_scale)
    assert torch.equal(genplug.sample(loaded, 6, generator=_g(4)), genplug.sample(model, 6, generator=_g(4)))
    assert not any(p.requires_grad for p in loaded.encoder.parameters())


def test_a_missing_component_plugin_gives_the_pip_line(tmp_path, tiny_vae, tiny_prior):
    _trained(tiny_vae, tiny_prior).save_pretrained(tmp_path)
    index = json.loads((tmp_path / "config.json").read_text())
    index["components"]["prior"].update(architecture="maf", plugin={"name": "genplug-flow", "version": "0.2.0"})
    (tmp_path / "config.json").write_text(json.dumps(index))
    with pytest.raises(genplug.ModelFileError, match=r"Fix: pip install genplug-flow==0\.2\.0"):
        genplug.load(tmp_path)


def test_training_resumes_to_the_same_prior(tmp_path, tiny_vae, tiny_prior):
    def fresh() -> LatentDiffusion:
        return LatentDiffusion(_config(), encoder=tiny_vae(), prior=tiny_prior())

    options = {"lr": 1e-3, "batch_size": 64, "checkpoint_every": 3, "progress": False}
    straight = fresh().fit("digits", steps=6, out=tmp_path / "a", **options)
    fresh().fit("digits", steps=3, out=tmp_path / "b", **options)
    resumed = fresh().fit("digits", steps=6, out=tmp_path / "b", resume=True, **options)
    assert resumed.config == straight.config
    for key, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key
    assert isinstance(genplug.load(tmp_path / "b"), LatentDiffusion)
