from __future__ import annotations

import json

import pytest
import torch

import genplug
from genplug._training import config as train_config
from genplug._training import loop


def _fresh():
    torch.manual_seed(0)
    return genplug.create("toy-gaussian", data_shape=(2,))


def _config(**kw):
    return genplug.TrainConfig(**{"steps": 20, "lr": 0.05, "batch_size": 32, "checkpoint_every": 5, **kw})


def test_training_learns_the_data(tmp_path):
    model = genplug.train(_fresh(), "8gaussians", _config(steps=150), progress=False)
    # 8 gaussians on a circle of radius 2.8: per-axis std about 2.0, mean 0
    assert model.log_scale.exp().min() > 1.5 and model.mean.abs().max() < 0.3


def test_resume_matches_an_uninterrupted_run(tmp_path):
    straight = genplug.train(_fresh(), "moons", _config(), out=tmp_path / "a", progress=False)
    genplug.train(_fresh(), "moons", _config(steps=10), out=tmp_path / "b", progress=False)
    resumed = genplug.train(_fresh(), "moons", _config(), out=tmp_path / "b", resume=True, progress=False)
    for key, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key
    lines = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [10, 20]  # log_every=50: the last step of each part


def test_resume_survives_a_kill_between_checkpoint_swaps(tmp_path):
    genplug.train(_fresh(), "moons", _config(steps=10), out=tmp_path, progress=False)
    (tmp_path / "checkpoint").rename(tmp_path / "checkpoint.old")  # killed after the first rename
    resumed = genplug.train(_fresh(), "moons", _config(), out=tmp_path, resume=True, progress=False)
    straight = genplug.train(_fresh(), "moons", _config(), progress=False)
    assert torch.equal(resumed.mean, straight.mean)


def test_resume_refuses_other_options(tmp_path):
    genplug.train(_fresh(), "moons", _config(steps=10), out=tmp_path, progress=False)
    with pytest.raises(genplug.GenplugError, match="resume with the same options"):
        genplug.train(_fresh(), "moons", _config(lr=0.1), out=tmp_path, resume=True, progress=False)


def test_ema_weights_are_exported(tmp_path):
    model = genplug.train(_fresh(), "moons", _config(ema=0.9), out=tmp_path, progress=False)
    raw = genplug.load(tmp_path / "checkpoint")
    ema = genplug.load(tmp_path)
    assert torch.equal(ema.mean, model.mean)
    assert not torch.equal(raw.mean, ema.mean)


def test_shape_mismatch_is_caught_before_training():
    model = genplug.create("toy-gaussian", data_shape=(3,))
    with pytest.raises(genplug.GenplugError, match=r"shape \(2,\), but the model expects \(3,\)"):
        genplug.train(model, "moons", _config(), progress=False)


def test_divergence_is_reported():
    with pytest.raises(genplug.GenplugError, match="training diverged"):
        genplug.train(_fresh(), "moons", _config(lr=1e30, steps=50), progress=False)


def test_batches_are_a_pure_function_of_the_step():
    a = loop.batch_indices(7, 100, 32, seed=1)
    assert torch.equal(a, loop.batch_indices(7, 100, 32, seed=1))
    epoch = torch.cat([loop.batch_indices(s, 100, 32, seed=1) for s in range(3)])
    assert len(set(epoch.tolist())) == 96  # one epoch draws without replacement


def test_bad_train_config():
    with pytest.raises(genplug.GenplugError, match="TrainConfig.ema is a decay"):
        genplug.TrainConfig(ema=1.5)
    with pytest.raises(genplug.GenplugError, match="unknown training option"):
        train_config.config_for(_fresh(), momentum=0.9)


def _vae_with_dropout():
    torch.manual_seed(0)
    return genplug.create("vae", data_shape=(2,), latent_dim=2, dropout=0.3)


def test_resume_is_bit_identical_with_dropout(tmp_path):
    # dropout draws from torch's global generator: the checkpoint keeps its state
    config = _config(steps=12, checkpoint_every=6, lr=1e-3)
    straight = genplug.train(_vae_with_dropout(), "moons", config, out=tmp_path / "a", progress=False)
    genplug.train(_vae_with_dropout(), "moons", _config(steps=6, checkpoint_every=6, lr=1e-3), out=tmp_path / "b")
    torch.manual_seed(123)  # whatever happened in between
    resumed = genplug.train(_vae_with_dropout(), "moons", config, out=tmp_path / "b", resume=True, progress=False)
    for key, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_a_resumed_run_writes_each_step_once(tmp_path):
    genplug.train(_fresh(), "moons", _config(steps=10, log_every=5), out=tmp_path, progress=False)
    with (tmp_path / "metrics.jsonl").open("a") as f:  # a line written after the checkpoint, then killed
        f.write('{"step": 15, "loss": 1.0}\n{"step": 1')
    genplug.train(_fresh(), "moons", _config(log_every=5), out=tmp_path, resume=True, progress=False)
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20]


def test_resume_refuses_fewer_steps_than_the_checkpoint(tmp_path):
    genplug.train(_fresh(), "moons", _config(steps=10), out=tmp_path, progress=False)
    with pytest.raises(genplug.GenplugError, match="at step 10, past --steps 5"):
        genplug.train(_fresh(), "moons", _config(steps=5), out=tmp_path, resume=True, progress=False)


def test_a_failed_run_leaves_no_folder_behind(tmp_path):
    with pytest.raises(genplug.GenplugError, match="training diverged"):
        genplug.train(_fresh(), "moons", _config(lr=1e30, steps=50), out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_second_run_on_one_folder_is_refused(tmp_path):
    import fcntl

    tmp_path.mkdir(exist_ok=True)
    with open(tmp_path / loop.LOCK_NAME, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another process is training here
        with pytest.raises(genplug.GenplugError, match="another training run is writing to"):
            genplug.train(_fresh(), "moons", _config(), out=tmp_path, progress=False)


def test_an_architecture_name_trains_as_genplug_train_does(tmp_path):
    model = genplug.train(
        "toy-gaussian", "moons", {"steps": 5, "seed": 3}, out=tmp_path, model_config={"hidden": 6}, progress=False
    )
    assert model.config.data_shape == (2,) and model.config.hidden == 6  # data_shape from the data
    record = json.loads((tmp_path / "training.json").read_text())
    assert record["architecture"] == "toy-gaussian" and record["train_config"]["seed"] == 3
    assert genplug.load(tmp_path).config == model.config
