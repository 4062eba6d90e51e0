"""The GAN's own behaviour: losses against their closed forms, the penalties against
autograd, training with every loss, labels reaching both networks, the generator-only
final folder and EMA, resume, truncation, and mode coverage on 8gaussians."""

from __future__ import annotations

import json
import math

import pytest
import torch
from genplug_gan import (
    GAN,
    LOSSES,
    GANConfig,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    minibatch_std,
    mode_seeking_loss,
    r1_penalty,
    truncated_normal,
)
from genplug_gan import plugin as gan_plugin
from genplug_gan.coverage import mode_coverage
from safetensors import safe_open

import genplug

POINTS = {"data_shape": (2,), "latent_dim": 8, "mlp_hidden": 64, "mlp_depth": 2}
SMALL_DIGITS = {"data_shape": (1, 8, 8), "latent_dim": 8, "hidden": 4}


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def train(model, data, out=None, **config):
    options = config.pop("options", {})
    values = {"steps": 8, "batch_size": 32, "lr": 1e-3, "checkpoint_every": 4, "ema": None, **config}
    genplug.train(model, data, genplug.TrainConfig(options=options, **values), out=out, progress=False)
    return model


def keys(path) -> list[str]:
    with safe_open(str(path), framework="pt") as f:
        return list(f.keys())


def test_the_plugin_registers_gan_without_torch_work():
    reg = genplug.Registry()
    info = reg.add_plugin(gan_plugin, name="genplug-gan")
    assert info.status == "ok", info.error
    with genplug.use_registry(reg):
        spec = genplug.registry().architecture("gan")
    assert (spec.family, spec.plugin, spec.provides) == ("gan", "genplug-gan", ("generator",))
    assert GAN.log_prob_kinds == ()


# -- losses and penalties ----------------------------------------------------------


def test_each_loss_matches_its_closed_form_on_fixed_logits():
    real, fake = torch.tensor([2.0, -0.5]), torch.tensor([-1.0, 3.0])
    sp = lambda t: math.log1p(math.exp(t))  # noqa: E731
    closed = {
        "non-saturating": ((sp(-2) + sp(0.5)) / 2 + (sp(-1) + sp(3)) / 2, (sp(1) + sp(-3)) / 2),
        "hinge": ((0 + 1.5) / 2 + (0 + 4) / 2, -(-1 + 3) / 2),
        "wgan-gp": ((-1 + 3) / 2 - (2 - 0.5) / 2, -(-1 + 3) / 2),
    }
    assert set(closed) == set(LOSSES)
    for kind, (d, gen) in closed.items():
        assert discriminator_loss(kind, real, fake).item() == pytest.approx(d, abs=1e-6), kind
        assert generator_loss(kind, fake).item() == pytest.approx(gen, abs=1e-6), kind
    with pytest.raises(genplug.GenplugError, match="unknown GAN loss 'wgan'"):
        discriminator_loss("wgan", real, fake)


def test_the_penalties_match_autograd_on_a_linear_critic():
    w = torch.tensor([3.0, 4.0], requires_grad=True)  # D(x) = w . x: grad_x D = w, |w| = 5
    critic = lambda x, label=None: x @ w  # noqa: E731
    real, fake = torch.randn(6, 2, generator=g(0)), torch.randn(6, 2, generator=g(1))
    gp = gradient_penalty(critic, real, fake, generator=g(2))
    assert gp.item() == pytest.approx((5 - 1) ** 2)
    (grad,) = torch.autograd.grad(gp, w)  # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    assert torch.allclose(grad, 2 * 4 * w.detach() / 5)
    r1 = r1_penalty(critic, real)
    assert r1.item() == pytest.approx(25.0)
    (grad,) = torch.autograd.grad(r1, w)  # d/dw |w|^2 = 2 w: the penalty trains the critic
    assert torch.allclose(grad, 2 * w.detach())


def test_the_gradient_penalty_matches_autograd_on_a_tiny_nonlinear_critic():
    torch.manual_seed(0)
    critic_net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    critic = lambda x, label=None: critic_net(x).squeeze(1)  # noqa: E731
    real, fake = torch.randn(4, 3, generator=g(0)), torch.randn(4, 3, generator=g(1))
    gp = gradient_penalty(critic, real, fake, generator=g(2))
    e = torch.rand(4, 1, generator=g(2))  # the same draws as the penalty's
    expected = 0.0
    for point in e * real + (1 - e) * fake:  # one example at a time, its gradient by autograd
        (grad,) = torch.autograd.grad(critic_net(point.requires_grad_(True)).sum(), point)
        expected += (grad.norm() - 1) ** 2 / 4
    assert gp.item() == pytest.approx(float(expected), rel=1e-5)
    gp.backward()  # the penalty reaches the critic's weights (double backward) ...
    grads = {name: p.grad for name, p in critic_net.named_parameters()}
    assert all(grads[k] is not None and grads[k].abs().sum() > 0 for k in ("0.weight", "0.bias", "2.weight"))
    assert grads["2.bias"] is None  # ... but not the output's offset, which leaves grad_x D unchanged


def test_the_mode_seeking_loss_matches_its_closed_form():
    x1, x2 = torch.tensor([[0.0, 1.0], [2.0, 2.0]]), torch.tensor([[1.0, 1.0], [2.0, 0.0]])
    z1, z2 = torch.tensor([[0.0], [1.0]]), torch.tensor([[2.0], [0.0]])
    # per pair: mean |x1 - x2| / mean |z1 - z2| = 0.5 / 2 and 1 / 1; their mean 0.625
    assert mode_seeking_loss(x1, x2, z1, z2).item() == pytest.approx(1 / (0.625 + 1e-5))


# -- training ------------------------------------------------------------------------


@pytest.mark.parametrize("loss", LOSSES)
def test_each_loss_trains_on_8gaussians_without_nan(loss, tmp_path):
    torch.manual_seed(0)
    model = GAN(GANConfig(**POINTS, spectral_norm=loss == "hinge"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    options = {"loss": loss, "d_steps": 2, "r1_weight": 1.0, "r1_interval": 4} if loss != "wgan-gp" else {"loss": loss}
    options["mode_seeking"] = 1.0 if loss == "hinge" else 0.0
    train(model, "8gaussians", out=tmp_path, steps=12, log_every=1, options=options)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    figures = {k for line in lines for k in line}
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= figures
    assert ("gp" in figures) == (loss == "wgan-gp") and ("r1" in figures) == (loss != "wgan-gp")
    assert ("mode_seeking" in figures) == (loss == "hinge")
    after = model.state_dict()
    for net in ("generator.", "discriminator."):
        assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(net)), net
    assert torch.isfinite(genplug.sample(model, 100, generator=g(0))).all()


def test_the_discriminator_gets_its_own_learning_rate_and_betas():
    model = GAN(GANConfig(**POINTS))
    config = genplug.TrainConfig(lr=1e-4, options={"d_lr_ratio": 4.0, "beta1": 0.0, "beta2": 0.9})
    optimizers = model.configure_optimizers(config)
    assert optimizers["generator"].param_groups[0]["lr"] == 1e-4
    assert optimizers["discriminator"].param_groups[0]["lr"] == pytest.approx(4e-4)
    assert optimizers["discriminator"].param_groups[0]["betas"] == (0.0, 0.9)
    g_params = {id(p) for p in optimizers["generator"].param_groups[0]["params"]}
    assert g_params == {id(p) for p in model.generator.parameters()}
    whole = genplug.TrainConfig(options={"beta1": 0, "beta2": 1 - 1e-3})  # -t beta1=0 parses as an int
    assert model.configure_optimizers(whole)["generator"].param_groups[0]["betas"] == (0.0, 0.999)


def test_bad_training_options_are_one_line():
    model = GAN(GANConfig(**POINTS))
    with pytest.raises(genplug.GenplugError, match="GANTrainOptions.loss"):
        train(model, "8gaussians", options={"loss": "wgan"})
    with pytest.raises(genplug.GenplugError, match="cannot feed d_steps=8"):
        train(model, "8gaussians", batch_size=4, options={"d_steps": 8})


def test_bad_configs_name_the_field():
    with pytest.raises(genplug.ConfigError, match="network='conv' needs images"):
        GANConfig(data_shape=(2,), network="conv")
    with pytest.raises(genplug.ConfigError, match="GANConfig.latent_dim"):
        GANConfig(latent_dim=0)
    with pytest.raises(genplug.ConfigError, match="GANConfig.hidden=60000"):
        GANConfig(data_shape=(3, 32, 32), hidden=60_000)


def test_the_conv_networks_fit_8_to_32_pixel_images():
    for side, stages in ((8, 1), (16, 2), (32, 3), (28, 2)):
        model = GAN(GANConfig(data_shape=(3, side, side), latent_dim=4, hidden=4))
        assert model.config.stages == stages
        x = model.sample(2, generator=g(0))
        assert x.shape == (2, 3, side, side) and 0 <= x.min() and x.max() <= 1
        assert model.discriminator(x).shape == (2,)


# -- conditions ----------------------------------------------------------------------


def test_the_batch_labels_reach_both_networks():
    torch.manual_seed(0)
    model = GAN(GANConfig(**SMALL_DIGITS, classes=10))
    seen = {"generator": [], "discriminator": []}
    for name in seen:
        net = getattr(model, name)
        net.register_forward_pre_hook(lambda m, args, name=name: seen[name].append(args[1]))
    train(model, "digits", steps=2)
    digits = genplug.load_data("digits", "train")
    assert all(label is not None for labels in seen.values() for label in labels)
    assert set(torch.cat(seen["discriminator"]).tolist()) <= set(digits.y.tolist())
    x3 = genplug.sample(model, 4, label=3, generator=g(0))
    x5 = genplug.sample(model, 4, label=5, generator=g(0))
    assert not torch.equal(x3, x5)
    with pytest.raises(genplug.GenplugError):
        genplug.sample(model, 2, label=10)


def test_minibatch_std_lets_the_discriminator_see_a_batch_without_variety():
    torch.manual_seed(0)
    model = GAN(GANConfig(**SMALL_DIGITS, minibatch_std=True, classes=3)).eval()
    x, y = genplug.load_data("digits", "test").x[:8], torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    phi = model.discriminator.body(2 * x - 1)
    spread = minibatch_std(phi)[:, -1]  # (8,): rows i and i + 2 share a group of 4
    assert torch.allclose(spread, phi.view(4, 2, -1).std(0, unbiased=False).mean(1).repeat(4), atol=1e-6)
    same = x[:1].expand(8, -1, -1, -1)
    assert torch.allclose(minibatch_std(model.discriminator.body(2 * same - 1))[:, -1], torch.tensor(1e-4))
    # the score of an example depends on the others in its batch: a collapsed batch scores differently
    assert not torch.allclose(model.discriminator(x, y)[:1], model.discriminator(x[:1].expand(8, -1, -1, -1), y)[:1])
    plain = GAN(GANConfig(**SMALL_DIGITS, classes=3)).eval()
    assert torch.allclose(plain.discriminator(x, y)[:1], plain.discriminator(x[:1].expand(8, -1, -1, -1), y)[:1])


def test_without_a_label_every_class_is_drawn_equally_often():
    model = GAN(GANConfig(**POINTS, classes=4))
    seen = []
    model.generator.register_forward_pre_hook(lambda m, args: seen.append(args[1]))
    model.sample(40, generator=g(0))
    assert torch.bincount(seen[0], minlength=4).tolist() == [10] * 4  # Condition.draw_labels
    assert not torch.equal(seen[0], torch.arange(40) % 4)


def test_an_unconditional_model_refuses_a_label():
    model = GAN(GANConfig(**POINTS))
    with pytest.raises(genplug.GenplugError, match="unconditional"):
        model.sample(2, label=torch.tensor([0, 1]))


# -- the final folder, EMA, resume -------------------------------------------------------


def test_the_final_folder_holds_the_generator_alone_and_samples(tmp_path):
    torch.manual_seed(0)
    model = train(GAN(GANConfig(**SMALL_DIGITS, batch_norm=True)), "digits", out=tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["modules"] == ["generator"]
    assert all(k.startswith("generator.") for k in keys(tmp_path / "model.safetensors"))
    assert any(k.startswith("discriminator.") for k in keys(tmp_path / "checkpoint" / "model.safetensors"))
    loaded = genplug.load(tmp_path)
    assert torch.equal(genplug.sample(loaded, 5, generator=g(1)), genplug.sample(model, 5, generator=g(1)))
    assert not loaded.training and loaded.sample(1, generator=g(1)).shape == (1, 1, 8, 8)  # batch norm in eval mode


def test_ema_averages_the_generator_only(tmp_path):
    torch.manual_seed(0)
    train(GAN(GANConfig(**SMALL_DIGITS)), "digits", out=tmp_path, ema=0.9)
    from genplug._files import load_tensors

    ema = load_tensors(tmp_path / "checkpoint" / "ema.safetensors")
    assert ema and all(k.startswith("generator.") for k in ema)
    raw, final = genplug.load(tmp_path / "checkpoint"), genplug.load(tmp_path)
    name = "generator.body.project.weight"
    assert not torch.equal(final.state_dict()[name], raw.state_dict()[name])  # averaged
    bn = "generator.body.net.0.running_mean"
    assert torch.equal(final.state_dict()[bn], raw.state_dict()[bn])  # a buffer: copied


def test_resume_is_bit_identical_with_two_optimizers(tmp_path):
    options = {"loss": "wgan-gp", "d_steps": 2, "d_lr_ratio": 2.0}
    torch.manual_seed(0)
    train(GAN(GANConfig(**POINTS)), "8gaussians", out=tmp_path / "a", options=options)
    torch.manual_seed(0)
    train(GAN(GANConfig(**POINTS)), "8gaussians", out=tmp_path / "b", steps=4, options=options)
    torch.manual_seed(1)  # a resumed run takes every tensor from the checkpoint
    config = genplug.TrainConfig(steps=8, batch_size=32, lr=1e-3, checkpoint_every=4, options=options)
    genplug.train(GAN(GANConfig(**POINTS)), "8gaussians", config, out=tmp_path / "b", resume=True, progress=False)
    a, b = (genplug.load(tmp_path / run / "checkpoint").state_dict() for run in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_spectral_norm_state_survives_save_and_load(tmp_path):
    torch.manual_seed(0)
    model = train(GAN(GANConfig(**SMALL_DIGITS, spectral_norm=True)), "digits", options={"loss": "hinge"})
    model.save_pretrained(tmp_path)
    loaded = genplug.load(tmp_path)
    state = model.state_dict()
    assert any(k.endswith("_u") for k in state)  # the power iteration's vectors are saved
    assert all(torch.equal(state[k], v) for k, v in loaded.state_dict().items())
    x = genplug.load_data("digits", "test").x[:8]
    model.eval()
    assert torch.equal(model.discriminator(x), loaded.discriminator(x))


# -- sampling ------------------------------------------------------------------------


def test_truncation_keeps_latents_inside_the_threshold_and_is_seeded():
    z = truncated_normal((2000, 4), 0.5, generator=g(0))
    assert z.abs().max() <= 0.5 and torch.equal(z, truncated_normal((2000, 4), 0.5, generator=g(0)))
    model = GAN(GANConfig(**POINTS))
    x = genplug.sample(model, 8, sampler_options={"truncation": 0.7}, generator=g(0))
    assert torch.equal(x, model.sample(8, truncation=0.7, generator=g(0)))
    assert not torch.equal(x, model.sample(8, generator=g(0)))
    with pytest.raises(genplug.GenplugError, match="truncation must be a positive number"):
        model.sample(2, truncation=0)
    with pytest.raises(genplug.GenplugError, match="sampler options 'truncation' and 'walk', got 'eta'"):
        genplug.sample(model, 2, sampler_options={"eta": 0.5})


# -- mode coverage -------------------------------------------------------------------


def test_mode_coverage_tells_the_data_from_a_collapsed_or_blurred_model():
    data = genplug.load_data("8gaussians", "test").x
    modes, near = mode_coverage(data)
    assert modes == 8 and near > 0.98
    collapsed = data[torch.cdist(data, data[:1]).squeeze(1) < 1.0]  # the samples of one mode
    assert mode_coverage(collapsed) == (1, 1.0)
    blurred = 3 * torch.randn(2000, 2, generator=g(0))
    modes, near = mode_coverage(blurred)
    assert near < 0.5


def test_a_short_hinge_run_covers_every_mode_of_8gaussians():
    # Measured (1000 steps, 2000 samples): seeds 0-4 all covered 8 modes with 84-93% of
    # samples within 3 std and energy distance 0.013-0.045 (floor 0.006). About 3 s.
    torch.manual_seed(0)
    model = train(GAN(GANConfig(**POINTS)), "8gaussians", steps=1000, batch_size=128, options={"loss": "hinge"})
    modes, near = mode_coverage(genplug.sample(model, 2000, generator=g(0)))
    assert modes == 8 and near >= 0.8, (modes, near)
    energy = genplug.evaluate(model, "8gaussians", n=1000, metrics=["energy"])["energy"]
    assert energy < 0.06, energy
