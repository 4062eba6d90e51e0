"""vq-transformer: genplug-vae's VQ-VAE, frozen, with genplug-autoregressive's transformer
as a prior over its codes; composed, sampled with decoding samplers, saved and loaded,
bounded, and refused with both parts named when they do not fit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from genplug_hybrid import VQTransformer, VQTransformerConfig

import genplug
from genplug.testing import check_architecture, run_genplug

TINY_PRIOR = {"n_layer": 1, "n_head": 2, "n_embd": 16}


def tiny_vq(**config):
    torch.manual_seed(0)
    fields = {"hidden": 4, "embedding_dim": 2, "num_codes": 8, **config}
    vq = genplug.create("vq-vae", **fields)
    vq.train()
    vq.loss(genplug.load_data("digits", "train").x[:64], generator=torch.Generator().manual_seed(0))  # fill codebook
    return vq.eval()


def tiny(**config) -> VQTransformer:
    encoder = config.pop("encoder", None) or tiny_vq()
    torch.manual_seed(1)
    return VQTransformer(VQTransformerConfig(prior=TINY_PRIOR, **config), encoder=encoder)


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_the_prior_is_a_transformer_over_the_codes_in_raster_order():
    model = tiny()
    assert model.prior.architecture == "transformer"
    assert (model.prior.vocab_size, model.prior.sequence_length) == (8, 16)
    x = genplug.load_data("digits", "test").x[:3]
    with torch.no_grad():
        codes = model.encoder.encode(x).codes  # (3, 4, 4)
        assert torch.equal(model.encode(x), codes.flatten(1))  # raster order: row by row
        assert torch.equal(model.decode(codes.flatten(1), output="mean"), model.encoder.decode_codes(codes))


@pytest.mark.parametrize("sampler", ["ancestral", "top-k", "top-p", "min-p", "greedy"])
def test_every_decoding_sampler_draws_seeded_samples(sampler):
    model = tiny().eval()
    with torch.no_grad():
        a = genplug.sample(model, 3, sampler=sampler, generator=g(0))
        b = genplug.sample(model, 3, sampler=sampler, generator=g(0))
    assert a.shape == (3, 1, 8, 8) and torch.equal(a, b)


def test_sampler_options_reach_the_decoding_sampler():
    model = tiny(output="mean").eval()
    with torch.no_grad():
        greedy = model.sample_latents(4, sampler="greedy", generator=g(0))
        nucleus = model.sample_latents(4, sampler="top-p", sampler_options={"p": 1e-6}, generator=g(0))
        wide = model.sample_latents(4, sampler="top-p", sampler_options={"p": 1.0}, generator=g(0))
    assert torch.equal(nucleus, greedy)  # a nucleus of one token is the most probable token
    assert not torch.equal(wide, greedy)
    with pytest.raises(genplug.ConfigError, match="p must be a number in"):
        model.sample(2, sampler="top-p", sampler_options={"p": 2.0})


def test_steps_are_refused():
    with pytest.raises(genplug.GenplugError, match="take no steps"):
        tiny().sample(2, steps=10)


def test_save_and_load_round_trip_a_composite_of_three_plugins(tmp_path: Path):
    model = tiny().eval()
    model.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "config.json").read_text())
    assert index["architecture"] == "vq-transformer" and index["plugin"]["name"] == "genplug-hybrid"
    parts = {role: (c["architecture"], c["plugin"]["name"]) for role, c in index["components"].items()}
    assert parts == {"encoder": ("vq-vae", "genplug-vae"), "prior": ("transformer", "genplug-autoregressive")}
    loaded = genplug.load(tmp_path)
    assert type(loaded) is VQTransformer
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key  # the codebook's buffers included
    with torch.no_grad():
        assert torch.equal(loaded.sample(4, generator=g(3)), model.sample(4, generator=g(3)))


def test_training_trains_the_prior_and_leaves_the_vq_vae_and_its_codebook_alone():
    model = tiny()
    encoder_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    prior_before = {k: v.clone() for k, v in model.prior.state_dict().items()}
    model.fit("digits", steps=3, batch_size=16, progress=False)
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, encoder_before[key]), key  # weights and EMA codebook: frozen
    assert any(not torch.equal(v, prior_before[k]) for k, v in model.prior.state_dict().items())


def test_the_elbo_is_a_lower_bound_on_the_exact_log_probability():
    """On a model small enough to sum over every grid of codes: log p(x) = logsumexp_z log p(z) p(x | z)."""
    torch.manual_seed(0)
    vq = genplug.create("vq-vae", data_shape=(1, 4, 4), hidden=4, embedding_dim=2, num_codes=2, res_blocks=0)
    model = tiny(encoder=vq).eval()  # 2 codes on a 2x2 grid: 16 code grids
    x = vq.conformance_batch(5, generator=g(0))
    every = torch.cartesian_prod(*[torch.arange(2)] * 4)  # (16, 4)
    with torch.no_grad():
        log_pz = model.prior.log_prob(every)  # (16,)
        assert math.isclose(float(log_pz.logsumexp(0)), 0.0, abs_tol=1e-5)  # the prior sums to one
        log_px_z = torch.stack([vq.log_likelihood(x, z.view(1, 2, 2).expand(5, 2, 2)) for z in every])  # (16, 5)
        exact = (log_pz[:, None] + log_px_z).logsumexp(0)
        elbo = model.log_prob(x)
        codes = vq.encode(x).codes.flatten(1)
        expected = model.prior.log_prob(codes) + vq.log_likelihood(x)
    assert torch.allclose(elbo, expected)
    assert (elbo <= exact + 1e-5).all() and (elbo < exact).any()
    assert torch.allclose(model.code_nll(x), -model.prior.log_prob(codes))


def test_compose_errors_name_both_parts():
    vq = tiny_vq()
    wrong_vocab = genplug.create("transformer", data_shape=(16,), vocab_size=5, **TINY_PRIOR)
    with pytest.raises(genplug.IncompatibleError, match=r"transformer.*vocab_size 5.*vq-vae.*8 codes"):
        VQTransformer(VQTransformerConfig(), encoder=vq, prior=wrong_vocab)
    wrong_length = genplug.create("transformer", data_shape=(9,), vocab_size=8, **TINY_PRIOR)
    with pytest.raises(genplug.IncompatibleError, match=r"prior 'transformer'.*\(9,\).*encoder 'vq-vae'.*\(16,\)"):
        VQTransformer(VQTransformerConfig(), encoder=vq, prior=wrong_length)
    not_next_token = genplug.create("diffusion", data_shape=(16,), hidden=8, mlp_blocks=1)
    with pytest.raises(genplug.IncompatibleError, match=r"prior 'diffusion'.*next-token.*encoder 'vq-vae'"):
        VQTransformer(VQTransformerConfig(), encoder=vq, prior=not_next_token)
    vae = genplug.create("vae", latent_dim=2, hidden=4, mlp_hidden=8)
    with pytest.raises(genplug.IncompatibleError, match=r"encoder 'vae' has none.*code_shape"):
        VQTransformer(VQTransformerConfig(), encoder=vae)


def test_config_errors_name_the_field():
    with pytest.raises(genplug.ConfigError, match="must not set vocab_size"):
        VQTransformerConfig(prior={"vocab_size": 8})
    with pytest.raises(genplug.ConfigError, match="adapter"):
        VQTransformerConfig(adapter="flatten")
    with pytest.raises(genplug.ConfigError, match="output"):
        VQTransformerConfig(output="best")


def test_conformance_kit_on_a_tiny_vq_vae(tmp_path: Path):
    tiny_vq().save_pretrained(tmp_path / "vq")
    check_architecture("vq-transformer", {"encoder": str(tmp_path / "vq"), "prior": TINY_PRIOR})


# -- the packaged weights ------------------------------------------------------------------


def test_the_packaged_weights_are_a_hybrid_folder_of_the_packaged_vq_vae_and_a_transformer():
    folder = genplug.default_weights("vq-transformer")
    assert folder.parent.name == "packaged" and folder.name == "vq-transformer"
    for part in ("config.json", "training.json", "encoder/model.safetensors", "prior/model.safetensors"):
        assert (folder / part).is_file(), part
    model = genplug.load("vq-transformer")
    packaged_vq = genplug.load("vq-vae")
    for key, value in packaged_vq.state_dict().items():  # stage 1 is the packaged VQ-VAE, frozen
        assert torch.equal(model.encoder.state_dict()[key], value), key
    assert model.prior.config.classes == 10 and "label" in model.conditions
    assert json.loads((folder / "training.json").read_text())["cpu_seconds"] > 0


def test_genplug_run_vq_transformer_offline_with_a_decoding_sampler(tmp_path: Path):
    options = ("--sampler", "top-p", "--sampler-option", "p=0.9", "--label", "3", "--seed", "2")
    raw = run_genplug("run", "vq-transformer", "-n", "4", *options, "-o", "x.npy", cwd=tmp_path)  # a subprocess
    assert raw.returncode == 0, raw.stderr
    import numpy as np

    samples = torch.from_numpy(np.load(tmp_path / "x.npy"))
    model = genplug.load("vq-transformer")
    expected = genplug.sample(
        model, 4, sampler="top-p", sampler_options={"p": 0.9}, label=3, generator=torch.Generator().manual_seed(2)
    )
    assert torch.allclose(samples, expected)


def test_genplug_run_writes_a_grid_and_refuses_steps(tmp_path: Path):
    from click.testing import CliRunner

    from genplug._cli import cli

    runner = CliRunner()
    grid = runner.invoke(cli, ["run", "vq-transformer", "-n", "4", "-o", str(tmp_path / "x.png")])
    assert grid.exit_code == 0, grid.output
    assert (tmp_path / "x.png").stat().st_size > 0
    steps = runner.invoke(cli, ["run", "vq-transformer", "-n", "2", "--steps", "5", "-o", str(tmp_path / "y.png")])
    assert steps.exit_code != 0 and "steps" in steps.output
