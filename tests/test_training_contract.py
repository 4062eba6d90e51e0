"""The training contract a model sees: its optimizers from the whole TrainConfig, its own
options, the step, a schedule, clipping, EMA of named modules, previews, eval-mode sampling."""

from __future__ import annotations

import json

import attrs
import pytest
import torch

import genplug
from genplug.validators import in_range


@attrs.frozen
class TwoNetConfig:
    data_shape: tuple[int, ...] = (2,)


@attrs.frozen
class TwoNetOptions:
    d_steps: int = attrs.field(default=1, validator=in_range(1, 10, integer=True))  # critic steps per generator step
    beta1: float = 0.5


class TwoNets(genplug.Model):
    """The shape of a GAN: a generator with batch norm, a critic with its own optimizer."""

    architecture = "two-nets"
    config_class = TwoNetConfig
    train_options_class = TwoNetOptions
    ema_modules = ("generator",)
    inference_modules = ("generator",)

    def __init__(self, config):
        super().__init__(config)
        self.generator = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
        self.critic = torch.nn.Linear(2, 1)
        self.seen: list[tuple[int, int]] = []

    def sample(self, n, *, generator=None):
        return self.generator(torch.randn(n, 2, generator=generator))

    def configure_optimizers(self, config):
        options = config.model_options(self)
        self.options = options
        betas = (options.beta1, 0.999)
        return {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas),
            "critic": torch.optim.Adam(self.critic.parameters(), lr=config.lr * 2, betas=betas),
        }

    def training_step(self, batch, optimizers, *, generator=None, step=0, total=1):
        self.seen.append((step, total))
        for _ in range(self.options.d_steps):
            optimizers["critic"].zero_grad(set_to_none=True)
            fake = self.sample(len(batch), generator=generator).detach()
            loss_d = (self.critic(fake) - self.critic(batch)).mean()
            loss_d.backward()
            optimizers["critic"].step()
        optimizers["generator"].zero_grad(set_to_none=True)
        loss_g = -self.critic(self.sample(len(batch), generator=generator)).mean()
        loss_g.backward()
        optimizers["generator"].step()
        return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach())}


@pytest.fixture
def two_nets():
    class Plugin:
        @genplug.hookimpl
        def register_architectures(self, register):
            register(
                genplug.ArchitectureSpec(name="two-nets", family="gan", description="test", model=f"{__name__}:TwoNets")
            )

    reg = genplug.Registry()
    reg.add_plugin(__import__("genplug._builtins", fromlist=["x"]), name="genplug")
    reg.add_plugin(Plugin(), name="genplug-two-nets")
    with genplug.use_registry(reg):
        torch.manual_seed(0)
        yield TwoNets(TwoNetConfig())


def _config(**kw):
    return genplug.TrainConfig(**{"steps": 8, "batch_size": 32, "lr": 1e-2, "checkpoint_every": 4, **kw})


def test_the_model_gets_its_options_the_step_and_the_total(two_nets):
    genplug.train(two_nets, "moons", _config(options={"d_steps": 3, "beta1": 0.0}), progress=False)
    assert two_nets.options == TwoNetOptions(d_steps=3, beta1=0.0)
    assert two_nets.seen == [(s, 8) for s in range(8)]


def test_unknown_or_bad_training_options_are_one_line(two_nets):
    with pytest.raises(genplug.GenplugError, match="unknown field 'd_step' for TwoNetOptions"):
        genplug.train(two_nets, "moons", _config(options={"d_step": 3}), progress=False)
    with pytest.raises(genplug.GenplugError, match=r"d_steps must be an integer in \[1, 10\]"):
        genplug.train(two_nets, "moons", _config(options={"d_steps": 0}), progress=False)
    from genplug_toy.model import ToyConfig, ToyGaussian

    plain = ToyGaussian(ToyConfig())
    with pytest.raises(genplug.GenplugError, match="declares no training options"):
        genplug.train(plain, "moons", _config(options={"d_steps": 3}), progress=False)


def test_the_schedule_sets_each_optimizer_lr_from_its_own_base(two_nets):
    config = _config(schedule="cosine", warmup_steps=2, steps=10)
    genplug.train(two_nets, "moons", config, progress=False)
    assert config.lr_factor(0) == 0.5 and config.lr_factor(1) == 1.0
    # after the last step each optimizer sits at its own base times the last factor
    assert [round(config.lr_factor(s), 4) for s in (2, 6, 9)] == [1.0, 0.5, 0.0381]


def test_gradients_are_clipped_before_every_step():
    torch.manual_seed(0)
    model = genplug.create("toy-gaussian", data_shape=(2,))
    norms = []
    original = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm):
        total = original(params, max_norm)
        norms.append(float(torch.cat([p.grad.flatten() for p in params]).norm()))
        return total

    torch.nn.utils.clip_grad_norm_ = spy
    try:
        genplug.train(model, "moons", _config(clip_grad=1e-3, lr=1e-2), progress=False)
    finally:
        torch.nn.utils.clip_grad_norm_ = original
    assert len(norms) == 8 and max(norms) <= 1e-3 * 1.001


def test_ema_averages_the_named_modules_and_copies_buffers(two_nets, tmp_path):
    genplug.train(two_nets, "moons", _config(ema=0.9), out=tmp_path, progress=False)
    from genplug._files import load_tensors

    ema = load_tensors(tmp_path / "checkpoint" / "ema.safetensors")
    assert all(k.startswith("generator.") for k in ema)  # the critic is never averaged
    raw = genplug.load(tmp_path / "checkpoint")  # raw weights; the final folder holds the average
    final = genplug.load(tmp_path)
    assert torch.equal(final.generator[1].running_mean, raw.generator[1].running_mean)  # a buffer: copied
    assert not torch.equal(final.generator[0].weight, raw.generator[0].weight)  # a parameter: averaged


def test_the_final_folder_holds_the_inference_modules_alone(two_nets, tmp_path):
    genplug.train(two_nets, "moons", _config(), out=tmp_path, progress=False)
    doc = json.loads((tmp_path / "config.json").read_text())
    assert doc["modules"] == ["generator"]
    from safetensors import safe_open

    with safe_open(str(tmp_path / "model.safetensors"), framework="pt") as f:
        assert not any(k.startswith("critic.") for k in f.keys())
    with safe_open(str(tmp_path / "checkpoint" / "model.safetensors"), framework="pt") as f:
        assert any(k.startswith("critic.") for k in f.keys())  # the checkpoint keeps both
    loaded = genplug.load(tmp_path)
    assert torch.equal(loaded.generator[0].weight, two_nets.generator[0].weight)


def test_ema_none_turns_off_a_model_default(tmp_path):
    config = genplug.TrainConfig(ema="none")
    assert config.ema is None
    assert (
        genplug._training.config.config_for(type("M", (), {"train_defaults": {"ema": 0.999}}), ema="none").ema is None
    )


def test_sampling_puts_a_batch_norm_generator_in_eval_mode_and_back(two_nets):
    two_nets.train()
    one = genplug.sample(two_nets, 1, generator=torch.Generator().manual_seed(0))  # n=1 works in eval mode
    many = genplug.sample(two_nets, 5, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(one[0], many[0], atol=1e-6)  # a sample does not depend on n
    assert two_nets.training  # restored


def test_previews_write_a_grid_and_fd_into_the_run(tmp_path):
    torch.manual_seed(0)
    model = genplug.create("toy-gaussian", data_shape=(1, 8, 8))
    genplug.train(model, "digits", _config(preview_every=4, lr=0.05), out=tmp_path, progress=False)
    assert sorted(p.name for p in (tmp_path / "previews").iterdir()) == ["step-0000004.png", "step-0000008.png"]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "preview_fd" in line] == [4, 8]
    assert all(line["preview_fd"] > 0 for line in lines if "preview_fd" in line)
