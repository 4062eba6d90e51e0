"""vae-flow-prior: the kit, the bound, joint training, files and compose-time errors, the
packaged weights offline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from genplug_hybrid import VAEFlowPrior, VAEFlowPriorConfig

import genplug
from genplug._cli import cli
from genplug.testing import check_architecture, no_network

TINY_VAE = {"data_shape": (1, 8, 8), "latent_dim": 3, "hidden": 4, "downsamples": 1, "mlp_hidden": 16, "mlp_depth": 1}
# init="random": every MADE layer has a gradient at step 0 (nsf's default, the identity, zeroes the last one)
TINY_FLOW = {"transforms": 2, "hidden": 8, "bins": 4, "init": "random"}


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tiny(**fields) -> VAEFlowPrior:
    torch.manual_seed(0)
    return VAEFlowPrior(VAEFlowPriorConfig(**{"vae": dict(TINY_VAE), "flow": dict(TINY_FLOW), **fields}))


def digits(n: int) -> torch.Tensor:
    return genplug.load_data("digits", "test").x[:n]


def identity_flow(model: VAEFlowPrior) -> VAEFlowPrior:
    """Zero the last layer of every MADE: every spline gets equal bins and slope 1, the identity map."""
    with torch.no_grad():
        for made in model.prior.layers:
            made[-1].weight.zero_()
            made[-1].bias.zero_()
    return model


def test_the_conformance_kit_passes_with_a_frozen_vae():
    # test_packaged.py runs the kit on conformance_configs (joint training); here the VAE is
    # frozen and the flow alone trains: the kit's training check then covers the flow's parameters
    check_architecture("vae-flow-prior", {"vae": TINY_VAE, "flow": TINY_FLOW, "train_encoder": False})


def test_registered_as_a_hybrid_generator_and_encoder():
    spec = genplug.registry().architecture("vae-flow-prior")
    assert (spec.plugin, spec.family, spec.provides) == ("genplug-hybrid", "hybrid", ("generator", "encoder"))
    assert spec.load_class() is VAEFlowPrior and issubclass(VAEFlowPrior, genplug.Composite)


def test_genplug_info_describes_it():
    result = CliRunner().invoke(cli, ["info", "vae-flow-prior"])
    assert result.exit_code == 0, result.output
    assert "likelihood: elbo, iwae" in result.output and "training defaults: lr=0.001" in result.output


def test_with_an_identity_flow_the_bound_is_the_plain_vaes():
    model = identity_flow(tiny()).eval()
    z = torch.randn(50, 3, generator=g(5)) * 3
    base = -0.5 * (z**2).sum(1) - 1.5 * math.log(2 * math.pi)
    assert torch.allclose(model.prior.log_prob(z), base, atol=1e-5)  # the flow is the identity: N(0, I)
    x, k = digits(8), 2000
    with torch.no_grad():
        ours = model.bounds(x, k=k, generator=g(1))
        vae = model.encoder.bounds(x, k=k, generator=g(1))  # the same draws: log p(x | z) agrees exactly
        mean, scale = model.encoder.posterior(x)
        eps = torch.randn((k, *mean.shape), generator=g(1))
        per_draw = -0.5 * ((mean + scale * eps) ** 2).sum(-1)  # the Monte-Carlo term's draws, (k, B)
    # the ELBO differs from the VAE's by the Monte-Carlo error of E_q[log N(z)] alone: within
    # 4 standard errors (about 0.06 nats here), far below a wrong constant, sign or entropy
    tolerance = 4 * per_draw.std(0) / math.sqrt(k)
    assert ((ours["elbo"] - vae["elbo"]).abs() < tolerance).all(), (ours["elbo"] - vae["elbo"], tolerance)
    # the importance weights are p(x | z) N(z) / q(z | x) on the same draws: the IWAE bound agrees exactly
    assert torch.allclose(ours["iwae"], vae["iwae"], atol=1e-4)


def test_the_bound_is_the_elbo_of_the_flow_prior():
    model = tiny().eval()
    x = digits(4)
    with torch.no_grad():
        mean, scale = model.encoder.posterior(x)
        z = mean + scale * torch.randn(mean.shape, generator=g(2))
        q = torch.distributions.Normal(mean, scale)
        log_px = model.encoder.likelihood.log_prob(x, model.encoder.decoder_params(z))
        expected = log_px + model.prior.log_prob(z) + q.entropy().sum(1)  # analytic entropy, one draw
        assert torch.allclose(model.log_prob(x, kind="elbo", generator=g(2)), expected, atol=1e-4)
        iwae = log_px + model.prior.log_prob(z) - q.log_prob(z).sum(1)  # one importance sample
        assert torch.allclose(model.log_prob(x, kind="iwae", k=1, generator=g(2)), iwae, atol=1e-4)
        assert model.log_prob_label("iwae") == "iwae-100" and model.log_prob_label() == "elbo"
    assert model.log_prob_discrete  # the VAE's discretized logistic: a bound on a discrete probability
    assert not tiny(vae={"data_shape": (2,), "latent_dim": 3, "mlp_hidden": 8}).log_prob_discrete


def test_gradients_reach_both_the_vae_and_the_flow():
    model = tiny().train()
    loss, figures = model.loss(digits(16), generator=g(0), step=5000)  # past the warm-up: beta = 1
    loss.backward()
    assert figures["beta"] == 1.0 and math.isclose(loss.item(), -figures["elbo"], rel_tol=1e-5)
    for part in ("encoder", "prior"):
        for name, p in getattr(model, part).named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{part}.{name} has no gradient"


def test_training_steps_move_both_parts_and_follow_the_vaes_warm_up():
    model = tiny(vae={**TINY_VAE, "warmup_steps": 10})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizers = model.configure_optimizers(genplug.TrainConfig(lr=1e-3))
    x = digits(16)
    figures = [model.training_step(x, optimizers, generator=g(0), step=step) for step in range(3)]
    assert [f["beta"] for f in figures] == pytest.approx([0.1, 0.2, 0.3])  # beta_t = (step + 1) / warmup_steps
    state = model.state_dict()
    for part in ("encoder.encoder", "encoder.decoder", "prior.layers"):
        assert any(not torch.equal(before[k], state[k]) for k in state if k.startswith(part)), part
    assert int(model.encoder.train_step) == 3  # the VAE records the steps taken, as its own steps do


def test_save_and_load_round_trip_of_the_three_plugins_parts(tmp_path):
    model = tiny().eval()
    model.save_pretrained(tmp_path / "m")
    index = genplug._folder.read(tmp_path / "m")
    parts = {c.role: (c.architecture, c.plugin["name"]) for c in index.components}
    assert (index.architecture, index.plugin["name"]) == ("vae-flow-prior", "genplug-hybrid")
    assert parts == {"encoder": ("vae", "genplug-vae"), "prior": ("nsf", "genplug-flow")}
    loaded = genplug.load(tmp_path / "m")
    assert type(loaded) is VAEFlowPrior and loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = digits(4)
    with torch.no_grad():
        assert torch.equal(loaded.sample(4, generator=g(3)), model.sample(4, generator=g(3)))
        assert torch.equal(loaded.log_prob(x, generator=g(4)), model.log_prob(x, generator=g(4)))


def test_a_flow_of_the_wrong_dimension_is_refused_naming_both_parts():
    torch.manual_seed(0)
    vae = genplug.create("vae", **TINY_VAE)
    flow = genplug.create("nsf", data_shape=(5,), **TINY_FLOW)
    with pytest.raises(genplug.IncompatibleError) as info:
        VAEFlowPrior(VAEFlowPriorConfig(), encoder=vae, prior=flow)
    assert str(info.value) == (
        "the prior 'nsf' draws samples of shape (5,), but the encoder 'vae' has latents of shape (3,); "
        "build the prior with data_shape=(3,)"
    )


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ("diffusion", "the prior 'diffusion' has no exact log_prob, which the ELBO of the VAE 'vae' needs"),
        ("flow-encoder", "the encoder 'nsf' is not a VAE (it lacks posterior, decoder_params, likelihood, "),
        ("conditional", "the encoder 'vae' is class-conditional (classes=3), but the flow 'nsf' is an unconditional"),
    ],
)
def test_parts_that_do_not_fit_are_refused_naming_both(parts, message):
    torch.manual_seed(0)
    vae = genplug.create("vae", **TINY_VAE, **({"classes": 3} if parts == "conditional" else {}))
    prior = genplug.create("nsf", data_shape=(3,), **TINY_FLOW)
    if parts == "diffusion":  # a Generator of the right shape, without a density
        prior = genplug.create("diffusion", data_shape=(3,), hidden=8, mlp_blocks=1, num_train_timesteps=10)
    if parts == "flow-encoder":  # an Encoder of the right latent shape, without a posterior or a decoder
        vae = genplug.create("nsf", data_shape=(3,), hidden=4)
    with pytest.raises(genplug.IncompatibleError) as info:
        VAEFlowPrior(VAEFlowPriorConfig(), encoder=vae, prior=prior)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"flow": {"data_shape": (4,)}}, "VAEFlowPriorConfig.flow must not set data_shape"),
        ({"vae": [1, 2]}, "VAEFlowPriorConfig.vae must be a dict of vae config fields"),
        ({"output": "blur"}, "VAEFlowPriorConfig.output='blur'; choose one of 'draw', 'mean'"),
    ],
)
def test_bad_configs_are_refused_in_one_line(fields, message):
    with pytest.raises(genplug.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        VAEFlowPriorConfig(**fields)


# -- the packaged weights ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def packaged() -> VAEFlowPrior:
    return genplug.load("vae-flow-prior")


def test_packaged_weights_are_a_hybrid_folder_that_loads(packaged: VAEFlowPrior):
    folder = genplug.default_weights("vae-flow-prior")
    assert folder.parts[-3:] == ("genplug_hybrid", "packaged", "vae-flow-prior")
    for part in ("config.json", "training.json", "encoder/model.safetensors", "prior/model.safetensors"):
        assert (folder / part).is_file(), part
    assert (packaged.encoder.architecture, packaged.prior.architecture) == ("vae", "nsf")
    x = digits(16)
    with torch.no_grad():
        samples = packaged.sample(8, generator=g(0))
        elbo = packaged.log_prob(x, generator=g(0))
    assert samples.shape == (8, 1, 8, 8) and torch.equal(samples * 16, (samples * 16).round())
    assert (-elbo.mean() / (64 * math.log(2))).item() < 3.0  # a trained model: well under 3 bits/dim


def test_genplug_run_vae_flow_prior_works_offline(tmp_path, monkeypatch, packaged: VAEFlowPrior):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with no_network():  # any socket raises
        grid = CliRunner().invoke(cli, ["run", "vae-flow-prior", "-n", "4", "-o", str(tmp_path / "x.png")])
        raw = CliRunner().invoke(
            cli, ["run", "vae-flow-prior", "-n", "4", "--seed", "3", "-o", str(tmp_path / "x.npy")]
        )
    assert grid.exit_code == 0 and raw.exit_code == 0, grid.output + raw.output
    assert (tmp_path / "x.png").stat().st_size > 0
    samples = torch.from_numpy(np.load(tmp_path / "x.npy"))
    assert torch.equal(samples, genplug.sample(packaged, 4, generator=g(3)))
