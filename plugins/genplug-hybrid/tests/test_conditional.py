"""latent-diffusion with a class-conditional prior: the label and the guidance reach the
prior, training feeds it the data's labels, and bad labels are refused in one line."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from genplug_hybrid import LatentDiffusion, LatentDiffusionConfig

import genplug
from genplug._cli import cli

CONDITIONAL = {"classes": 10, "label_dropout": 0.2, "guidance": 2.0}


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def hybrid(tiny_vae, tiny_prior):
    def build(**prior) -> LatentDiffusion:
        config = LatentDiffusionConfig(steps=4, sampler="ddim")
        return LatentDiffusion(config, encoder=tiny_vae(), prior=tiny_prior(**prior)).eval()

    return build


def test_a_conditional_prior_makes_a_conditional_hybrid(hybrid):
    assert hybrid(**CONDITIONAL).conditions["label"].classes == 10
    assert hybrid().conditions == {}


def test_the_label_and_guidance_reach_the_prior(hybrid):
    model = hybrid(**CONDITIONAL)
    with torch.no_grad():  # labels far apart, so that each one moves the prior's samples visibly
        model.prior.net.label_embed.table.weight.normal_(generator=g(1))
    options = {"guidance": 3.0}
    got = genplug.sample(model, 5, label=4, sampler_options=options, generator=g())
    generator = g()
    u = model.prior.sample(5, sampler="ddim", steps=4, sampler_options=options, label=4, generator=generator)
    assert torch.equal(got, model.decode(u, generator=generator))
    with torch.no_grad():  # the latents (a draw from the decoder may round small differences away)
        other = model.sample_latents(5, label=7, sampler_options=options, generator=g())
        unguided = model.sample_latents(5, label=4, sampler_options={"guidance": 1.0}, generator=g())
    assert not torch.allclose(u, other) and not torch.allclose(u, unguided)


def test_training_feeds_the_data_labels_to_the_prior(hybrid):
    model = hybrid(**CONDITIONAL)
    seen = []
    loss = model.prior.loss

    def spy(batch, *, generator=None, label=None):
        seen.append(label)
        return loss(batch, generator=generator, label=label)

    model.prior.loss = spy
    genplug.train(model, "digits", genplug.TrainConfig(steps=2, batch_size=8, seed=0), progress=False)
    assert len(seen) == 2 and all(s is not None and s.shape == (8,) for s in seen)


@pytest.mark.parametrize(
    ("prior", "call", "message"),
    [
        (CONDITIONAL, {"label": 10}, "label=10 is out of range"),
        ({}, {"label": 1}, "takes no condition 'label'"),
        ({"classes": 10}, {"label": 1, "sampler_options": {"guidance": 3.0}}, "trained without label dropout"),
    ],
)
def test_bad_labels_and_guidance_are_refused_in_one_line(hybrid, prior, call, message):
    with pytest.raises(genplug.GenplugError, match=message) as info:
        genplug.sample(hybrid(**prior), 2, **call)
    assert "\n" not in str(info.value)


def test_genplug_run_latent_diffusion_takes_a_label_and_guidance(tmp_path, hybrid):
    folder = tmp_path / "model"
    hybrid(**CONDITIONAL).save_pretrained(folder)
    out = tmp_path / "x.png"
    args = ["--label", "3", "--sampler-option", "guidance=2.5", "-n", "2", "-o", str(out)]
    result = CliRunner().invoke(cli, ["run", "latent-diffusion", "--weights", str(folder), *args])
    assert result.exit_code == 0, result.output
    bad = CliRunner().invoke(cli, ["run", "latent-diffusion", "-w", str(folder), "--label", "12", "-o", str(out)])
    assert bad.exit_code == 1 and "label=12 is out of range" in bad.output
