"""vae-gan: registration, composition and its errors, the two training steps, files, resume,
the packaged weights and the offline CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from genplug_hybrid import VAEGAN, VAEGANConfig

import genplug
from genplug.testing import check_architecture, run_genplug

TINY_VAE = {"latent_dim": 4, "hidden": 4, "downsamples": 1, "mlp_hidden": 16, "mlp_depth": 1}
TINY_GAN = {"hidden": 4, "latent_dim": 1, "batch_norm": False, "spectral_norm": True}


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _parts(classes: int = 0, gan_shape: tuple[int, ...] = (1, 8, 8), gan_classes: int | None = None) -> tuple:
    torch.manual_seed(0)
    vae = genplug.create("vae", data_shape=(1, 8, 8), classes=classes, **TINY_VAE)
    gan_classes = classes if gan_classes is None else gan_classes
    gan = genplug.create("gan", data_shape=gan_shape, classes=gan_classes, **TINY_GAN)
    return vae, gan


def _tiny(classes: int = 0, **fields) -> VAEGAN:
    vae, gan = _parts(classes)
    return VAEGAN(VAEGANConfig(**fields), vae=vae, gan=gan)


def _train(tmp_path: Path, *, steps: int = 4, classes: int = 0, resume: bool = False, **options) -> VAEGAN:
    model = _tiny(classes)
    config = genplug.TrainConfig(steps=steps, batch_size=32, lr=1e-3, seed=0, checkpoint_every=2, options=options)
    return genplug.train(model, "digits", config, out=tmp_path, resume=resume, progress=False)


# -- registration and the kit ------------------------------------------------------------


def test_entry_point_registers_vae_gan_as_a_generator_and_an_encoder():
    spec = genplug.registry().architecture("vae-gan")
    assert (spec.plugin, spec.family, spec.provides) == ("genplug-hybrid", "hybrid", ("generator", "encoder"))
    assert spec.default_weights == "genplug_hybrid:packaged/vae-gan"
    assert spec.load_class() is VAEGAN


def test_the_kit_passes_on_vectors():
    # the image configs (one conditional) run in test_packaged.py's conformance cases
    vae = {"latent_dim": 2, "mlp_hidden": 16}
    check_architecture("vae-gan", {"data_shape": (2,), "vae": vae, "gan": {"mlp_hidden": 16, "latent_dim": 1}})


# -- composition ---------------------------------------------------------------------------


def test_sampling_decodes_prior_draws_with_the_vaes_decoder():
    model = _tiny().eval()
    with torch.no_grad():
        mean = model.sample(5, generator=_g(3))
        z = torch.randn(5, 4, generator=_g(3))
        assert torch.equal(mean, model.vae.decode(z))  # the decoder mean, what the discriminator judged
        draw = model.sample(5, generator=_g(3), output="draw")
    assert torch.equal(draw * 16, (draw * 16).round()) and not torch.equal(draw, mean)  # a draw on the 17 levels
    assert model.encode(torch.zeros(2, 1, 8, 8)).mean.shape == (2, 4)
    assert model.log_prob_kinds == ("elbo", "iwae") and model.log_prob_discrete


def test_a_conditional_vae_makes_a_conditional_vae_gan_with_a_projection_discriminator():
    model = _tiny(classes=3)
    assert set(model.conditions) == {"label"} and model.gan.discriminator.embed is not None
    with torch.no_grad():
        threes = model.sample(4, generator=_g(0), label=2)
    assert torch.equal(threes, model.vae.decode(torch.randn(4, 4, generator=_g(0)), label=2))
    with pytest.raises(genplug.GenplugError, match="label=3 is out of range"):
        model.sample(2, label=3)


def test_create_builds_both_parts_from_the_config():
    model = genplug.create("vae-gan", vae={**TINY_VAE, "classes": 2}, gan=TINY_GAN)
    assert (model.vae.architecture, model.gan.architecture) == ("vae", "gan")
    assert model.vae.config.classes == model.gan.config.classes == 2
    assert not any(p.requires_grad for p in model.gan.generator.parameters())  # only the discriminator trains


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ({"gan_shape": (1, 16, 16)}, r"the gan 'gan' judges examples of shape \(1, 16, 16\), but the vae 'vae'"),
        ({"classes": 10, "gan_classes": 0}, r"the vae 'vae' has 10 classes, but the discriminator of the gan 'gan'"),
    ],
)
def test_parts_that_do_not_fit_are_refused_naming_both(parts, message):
    vae, gan = _parts(**parts)
    with pytest.raises(genplug.IncompatibleError, match=message):
        VAEGAN(VAEGANConfig(), vae=vae, gan=gan)


def test_parts_of_the_wrong_kind_are_named():
    vae, gan = _parts()
    with pytest.raises(genplug.IncompatibleError, match=r"the gan 'vae' has no discriminator .* the vae 'vae'"):
        VAEGAN(VAEGANConfig(), vae=vae, gan=vae)
    with pytest.raises(genplug.IncompatibleError, match=r"the vae 'gan' is not an Encoder"):
        VAEGAN(VAEGANConfig(), vae=gan, gan=gan)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"vae": {"latent": 3}}, r"VAEGANConfig.vae has unknown field\(s\) 'latent'"),
        ({"gan": {"data_shape": (2,)}}, r"VAEGANConfig.gan has unknown field\(s\) 'data_shape'"),
        ({"gan": {"classes": 3}}, r"VAEGANConfig.gan has unknown field\(s\) 'classes'.*set by the composite"),
        ({"output": "best"}, r"VAEGANConfig.output"),
    ],
)
def test_config_errors_name_the_field(fields, message):
    with pytest.raises(genplug.ConfigError, match=message):
        VAEGANConfig(**fields)


# -- training ------------------------------------------------------------------------------


def _step(model: VAEGAN, **options) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    model.train()
    optimizers = model.configure_optimizers(genplug.TrainConfig(lr=1e-2, options=options))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = genplug.load_data("digits", "train").x[:16]
    figures = model.training_step(x, optimizers, generator=_g(1), step=0, total=1)
    return figures, before


def _changed(model: VAEGAN, before: dict[str, torch.Tensor], prefix: str) -> bool:
    return any(not torch.equal(v, before[k]) for k, v in model.state_dict().items() if k.startswith(prefix))


def test_one_step_trains_the_discriminator_and_the_vae_not_the_gans_generator():
    model = _tiny()
    figures, before = _step(model)
    assert {"loss", "elbo", "kl", "d_loss", "d_real", "d_fake", "g_loss"} <= set(figures)
    for prefix in ("vae.encoder.", "vae.decoder.", "gan.discriminator."):
        assert _changed(model, before, prefix), prefix
    assert not _changed(model, before, "gan.generator.")
    assert int(model.vae.train_step) == 1


def test_adversarial_weight_zero_is_the_plain_vae():
    model = _tiny()
    figures, before = _step(model, adversarial_weight=0.0)
    assert "d_loss" not in figures and not _changed(model, before, "gan.")
    assert _changed(model, before, "vae.decoder.")


@pytest.mark.parametrize("options", [{}, {"adversarial_weight": 0.0, "feature_weight": 1.0}])
def test_the_adversarial_terms_train_the_decoder_not_the_encoder(monkeypatch, options):
    model = _tiny()
    zero = sum(p.sum() for p in model.vae.parameters()) * 0.0  # the VAE's own loss switched off
    monkeypatch.setattr(model.vae, "loss", lambda *a, **k: (zero, {}))
    figures, before = _step(model, **options)
    assert _changed(model, before, "vae.decoder.")
    assert not _changed(model, before, "vae.encoder.")  # z is detached in the adversarial terms
    assert ("feature" in figures) == bool(options)


def _seen_by_the_discriminator(augment: str) -> tuple[VAEGAN, torch.Tensor, list[torch.Tensor]]:
    """A step with ``augment``: the model, its batch and what the discriminator got, call by call."""
    model = _tiny()
    seen: list[torch.Tensor] = []
    model.gan.discriminator.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    model.train()
    optimizers = model.configure_optimizers(genplug.TrainConfig(lr=1e-2, options={"augment": augment}))
    x = genplug.load_data("digits", "train").x[:16]
    model.training_step(x, optimizers, generator=_g(1), step=0, total=1)
    return model, x, seen


def test_augment_shows_the_discriminator_augmented_data_and_decodings():
    _, x, plain = _seen_by_the_discriminator("")
    assert len(plain) == 3 and torch.equal(plain[0], x)  # reals, fakes for D, fakes for the VAE's loss
    model, x, seen = _seen_by_the_discriminator("translation")
    shifted = [not torch.equal(a, b) for a, b in zip(seen[0], x, strict=True)]
    assert sum(shifted) > 8  # most reals were moved (a draw of (0, 0) leaves one in place)
    assert not torch.equal(seen[1], plain[1]) and not torch.equal(seen[2], plain[2])
    # the decoder's update went through D on the augmented decodings
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.vae.decoder.parameters())


def test_augment_refuses_vectors_and_unknown_policies():
    vae = genplug.create("vae", data_shape=(2,), latent_dim=2, mlp_hidden=16)
    gan = genplug.create("gan", data_shape=(2,), mlp_hidden=16, latent_dim=1)
    model = VAEGAN(VAEGANConfig(data_shape=(2,)), vae=vae, gan=gan)
    optimizers = model.configure_optimizers(genplug.TrainConfig(lr=1e-2, options={"augment": "translation"}))
    with pytest.raises(genplug.GenplugError, match="works on images"):
        model.training_step(torch.randn(8, 2), optimizers, generator=_g(0))
    with pytest.raises(genplug.GenplugError, match="unknown augmentation .rotate. in augment=.rotate.; choose from"):
        _tiny().configure_optimizers(genplug.TrainConfig(lr=1e-2, options={"augment": "rotate"}))


def test_genplug_train_builds_a_vae_gan_for_the_data(tmp_path):
    model_config = {"vae": {**TINY_VAE, "classes": 10}, "gan": TINY_GAN}
    config = genplug.TrainConfig(steps=2, batch_size=16, seed=0)
    model = genplug.train("vae-gan", "digits", config, out=tmp_path, model_config=model_config, progress=False)
    assert model.vae.config.classes == 10  # trained on the digits' labels
    assert json.loads((tmp_path / "training.json").read_text())["architecture"] == "vae-gan"


# -- files ---------------------------------------------------------------------------------


def test_save_and_load_round_trip_of_the_vae_and_the_gan(tmp_path):
    model = _train(tmp_path / "run", steps=2, classes=10)
    model.save_pretrained(tmp_path / "m")
    index = json.loads((tmp_path / "m" / "config.json").read_text())
    assert (index["architecture"], index["plugin"]["name"]) == ("vae-gan", "genplug-hybrid")
    assert {role: (c["architecture"], c["plugin"]["name"]) for role, c in index["components"].items()} == {
        "vae": ("vae", "genplug-vae"),
        "gan": ("gan", "genplug-gan"),
    }
    loaded = genplug.load(tmp_path / "m")
    assert type(loaded) is VAEGAN and loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert torch.equal(genplug.sample(loaded, 6, generator=_g(4)), genplug.sample(model, 6, generator=_g(4)))


def test_resume_is_bit_identical_with_two_optimizers(tmp_path):
    options = {"feature_weight": 0.5}
    straight = _train(tmp_path / "a", **options)
    _train(tmp_path / "b", steps=2, **options)
    torch.manual_seed(1)  # a resumed run takes every tensor from the checkpoint
    resumed = _train(tmp_path / "b", resume=True, **options)
    a, b = (genplug.load(tmp_path / run / "checkpoint").state_dict() for run in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for key, value in straight.state_dict().items():  # and the final (EMA) weights
        assert torch.equal(resumed.state_dict()[key], value), key


# -- the packaged weights --------------------------------------------------------------------


@pytest.fixture(scope="module")
def packaged() -> VAEGAN:
    return genplug.load("vae-gan")


def test_the_packaged_weights_are_a_vae_and_a_gan(packaged: VAEGAN):
    folder = genplug.default_weights("vae-gan")
    for part in ("config.json", "training.json", "vae/model.safetensors", "gan/model.safetensors"):
        assert (folder / part).is_file(), part
    assert (packaged.vae.architecture, packaged.gan.architecture) == ("vae", "gan")
    assert packaged.config.output == "mean" and set(packaged.conditions) == {"label"}


def test_genplug_run_vae_gan_offline(tmp_path: Path, packaged: VAEGAN):
    result = run_genplug("run", "vae-gan", "-n", "4", "--seed", "3", "--label", "7", "-o", "x.npy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import numpy as np

    samples = torch.from_numpy(np.load(tmp_path / "x.npy"))
    expected = genplug.sample(packaged, 4, generator=_g(3), label=7)
    assert torch.allclose(samples, expected, atol=1e-6)
