"""--precision, --accumulate, --compile, --workers and --threads: what each changes, and what it must not."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

import genplug
from genplug._cli import cli
from genplug._training import loop
from genplug._training.distributed import Group
from genplug._training.steps import Stepper


def _toy():
    torch.manual_seed(0)
    return genplug.create("toy-gaussian", data_shape=(2,))


def _vae():
    torch.manual_seed(0)
    return genplug.create("vae", data_shape=(2,), latent_dim=2, mlp_hidden=32)


def test_micro_batches_give_the_weights_of_the_whole_batch():
    config = {"steps": 15, "batch_size": 50, "lr": 0.05}
    whole = genplug.train(_toy(), "moons", config, progress=False)
    micro = genplug.train(_toy(), "moons", {**config, "accumulate": 3}, progress=False)  # 17 + 17 + 16 examples
    for key, value in whole.state_dict().items():
        assert torch.allclose(micro.state_dict()[key], value, atol=1e-6, rtol=0), key
    assert not torch.equal(whole.mean, _toy().mean)


def test_micro_batches_refuse_a_model_that_steps_an_optimizer_twice_per_batch():
    torch.manual_seed(0)
    gan = genplug.create("gan", data_shape=(2,), mlp_hidden=8, mlp_depth=1, latent_dim=2)
    config = {"steps": 2, "batch_size": 32, "accumulate": 2, "options": {"d_steps": 2}}
    with pytest.raises(genplug.GenplugError, match="steps its optimizer 'discriminator' more than once"):
        genplug.train(gan, "moons", config, progress=False)


def test_a_batch_too_small_to_cut_is_refused():
    with pytest.raises(genplug.GenplugError, match="cannot be cut in 1 process.*give --batch-size 4 or more"):
        genplug.train(_toy(), "moons", {"steps": 2, "batch_size": 3, "accumulate": 4}, progress=False)


class _Probe(genplug.Model):
    """A linear model that records the dtype its layer computes in."""

    architecture = "probe"

    def __init__(self) -> None:
        torch.nn.Module.__init__(self)
        self.layer = torch.nn.Linear(2, 2)
        self.seen: list[torch.dtype] = []

    def loss(self, batch, *, generator=None):
        out = self.layer(batch)
        self.seen.append(out.dtype)
        return out.float().pow(2).mean()


@pytest.mark.parametrize(("precision", "dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_precision_autocasts_the_training_step(precision, dtype):
    probe = _Probe()
    (optimizer,) = probe.configure_optimizers(0.1).values()
    stepper = Stepper(
        {"model": optimizer}, group=Group(), accumulate=1, precision=precision, clip_grad=None,
        device=torch.device("cpu"),
    )  # fmt: skip
    stepper.run(lambda x, y: probe.training_step(x, {"model": optimizer}), torch.randn(4, 2), None, 4)
    assert probe.seen == [dtype]
    assert probe.layer.weight.dtype == torch.float32  # the weights stay float32


def test_bf16_changes_a_short_run_by_no_more_than_its_seed_does():
    test = genplug.load_data("moons", "test").x

    def nll(precision, seed):
        config = {"steps": 120, "batch_size": 128, "lr": 3e-3, "seed": seed, "precision": precision}
        model = genplug.train(_vae(), "moons", config, progress=False)
        with torch.no_grad():
            return -model.log_prob(test, generator=torch.Generator().manual_seed(0)).mean().item()

    fp32, other_seed, bf16 = nll("fp32", 0), nll("fp32", 1), nll("bf16", 0)
    noise = abs(fp32 - other_seed)  # measured: 3.254 and 3.362 nats
    assert fp32 < 3.5  # it trained (about 4.6 nats at the start)
    assert bf16 != fp32 and abs(bf16 - fp32) < noise, (fp32, other_seed, bf16)  # measured: 3.254 (1e-4 apart)


def test_fp16_scales_the_loss_and_skips_a_step_that_overflows():
    torch.manual_seed(0)
    layer = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    stepper = Stepper(
        {"model": optimizer}, group=Group(), accumulate=1, precision="fp16", clip_grad=None, device=torch.device("cpu")
    )
    x = torch.randn(8, 2)

    def step(scale):
        def run(xb, yb):
            optimizer.zero_grad()
            (layer(xb).float().mean() * scale).backward()
            optimizer.step()
            return {}

        return run

    before = layer.weight.detach().clone()
    stepper.run(step(float("inf")), x, None, 8)
    assert torch.equal(layer.weight, before) and stepper.loss_scale.scale == 2.0**15  # skipped, scale halved
    stepper.run(step(1.0), x, None, 8)
    expected = before - 0.1 * x.mean(0, keepdim=True)  # d mean(w x + b) / dw, unscaled
    assert torch.allclose(layer.weight, expected, atol=1e-3)
    assert torch.autograd.backward.__module__ == "torch.autograd"  # the scaling is undone after the step


def test_fp16_trains_the_toy_model_and_resumes(tmp_path):
    config = {"steps": 10, "batch_size": 32, "lr": 0.05, "precision": "fp16", "checkpoint_every": 5}
    straight = genplug.train(_toy(), "moons", config, progress=False)
    genplug.train(_toy(), "moons", {**config, "steps": 5}, out=tmp_path, progress=False)
    state = json.loads((tmp_path / "checkpoint" / "trainer_state.json").read_text())
    assert state["loss_scale"] == {"scale": 2.0**16, "good": 5}
    resumed = genplug.train(_toy(), "moons", config, out=tmp_path, resume=True, progress=False)
    assert torch.equal(resumed.mean, straight.mean) and not torch.equal(straight.mean, _toy().mean)


def test_compile_compiles_each_submodule_in_place(monkeypatch):
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self).__name__))
    vae = _vae()
    genplug.train(vae, "moons", {"steps": 1, "batch_size": 8, "compile": True}, progress=False)
    assert compiled == [type(m).__name__ for m in vae.children()] and compiled
    assert set(vae.state_dict()) == set(_vae().state_dict())  # the weights keep their names


def test_run_options_may_change_on_resume_and_the_rest_may_not(tmp_path):
    config = {"steps": 10, "batch_size": 32, "lr": 0.05, "checkpoint_every": 5}
    straight = genplug.train(_toy(), "moons", config, progress=False)
    genplug.train(_toy(), "moons", {**config, "steps": 5}, out=tmp_path, progress=False)
    resumed = genplug.train(
        _toy(), "moons", {**config, "threads": 1, "workers": 3}, out=tmp_path, resume=True, progress=False
    )
    assert torch.equal(resumed.mean, straight.mean)
    with pytest.raises(genplug.GenplugError, match="only steps, device, compile, workers, threads may change"):
        genplug.train(_toy(), "moons", {**config, "precision": "bf16"}, out=tmp_path, resume=True, progress=False)


def test_the_command_takes_the_options_and_records_them(tmp_path):
    args = ["train", "toy-gaussian", "--data", "moons", "--steps", "4", "--batch-size", "16", "--out", str(tmp_path)]
    extra = ["--precision", "bf16", "--accumulate", "2", "--workers", "0", "--threads", "1"]
    result = CliRunner().invoke(cli, args + extra)
    assert result.exit_code == 0, result.output
    recorded = json.loads((tmp_path / "training.json").read_text())["train_config"]
    assert (recorded["precision"], recorded["accumulate"], recorded["workers"], recorded["threads"]) == (
        "bf16", 2, 0, 1,
    )  # fmt: skip
    assert recorded["compile"] is False
    bad = CliRunner().invoke(cli, args + ["--precision", "fp8"])
    assert bad.exit_code != 0 and "fp8" in bad.output


def test_threads_default_to_the_cores_shared_by_the_local_processes(monkeypatch):
    set_to = []
    monkeypatch.setattr(torch, "set_num_threads", set_to.append)
    monkeypatch.setattr(loop, "cores", lambda: 16)
    loop._set_threads(genplug.TrainConfig(), Group())  # one process: torch's own setting
    loop._set_threads(genplug.TrainConfig(), Group(rank=1, world=8, local_rank=1, local_world=4))
    loop._set_threads(genplug.TrainConfig(threads=3), Group(rank=1, world=8, local_rank=1, local_world=4))
    assert set_to == [4, 3]
