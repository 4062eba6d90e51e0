"""Two processes on CPU (gloo) under torchrun train as one process with the same global batch does.

One launch of ``tests/ddp_runs.py``: the ``genplug train`` command, then resume,
micro-batches, the VAE, the GAN and the VQ-VAE in one group.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import genplug

HERE = Path(__file__).resolve().parent


def _torchrun(*args: str, cwd: Path) -> str:
    """Run torchrun with 2 processes; on a timeout, end it and its workers (their own session)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    return stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    stdout = _torchrun(str(HERE / "ddp_runs.py"), str(out), cwd=out)
    assert stdout.count("saved toy-gaussian to") == 1  # rank 0 alone says it
    return out


def _single(model, data, config):
    return genplug.train(model, data, config, progress=False)


def _toy():
    torch.manual_seed(0)
    return genplug.create("toy-gaussian", data_shape=(2,))


def _close(a, b, atol):
    for key, value in a.state_dict().items():
        assert torch.allclose(b.state_dict()[key], value, atol=atol, rtol=0), key


def test_two_processes_give_the_weights_of_one_with_the_same_global_batch(runs):
    one = _single(_toy(), "moons", {"steps": 20, "batch_size": 64, "lr": 0.05})
    two = genplug.load(runs / "toy")
    _close(one, two, atol=1e-5)
    assert not torch.equal(one.mean, _toy().mean)  # it trained
    state = json.loads((runs / "toy" / "checkpoint" / "trainer_state.json").read_text())
    assert len(state["rank_states"]) == 2 and state["rank_states"][0]["generator_state"] == state["generator_state"]
    record = json.loads((runs / "toy" / "training.json").read_text())
    assert record["processes"] == 2
    assert [json.loads(line)["step"] for line in (runs / "toy" / "metrics.jsonl").read_text().splitlines()] == [20]


def test_every_process_ends_with_the_same_weights(runs):
    report = json.loads((runs / "report.json").read_text())
    assert report["world"] == 2
    for name in ("toy-resumed", "toy-accumulate", "vae", "gan", "vq-vae"):  # vq-vae: its EMA codebook too
        assert report[name] == [0.0, 0.0], name


def test_a_resumed_group_run_ends_as_an_uninterrupted_one(runs):
    straight, resumed = genplug.load(runs / "toy"), genplug.load(runs / "toy-resumed")
    for key, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_micro_batches_over_processes_give_the_same_weights(runs):
    _close(genplug.load(runs / "toy"), genplug.load(runs / "toy-accumulate"), atol=1e-5)


def test_the_vae_trains_in_two_processes_and_its_loss_tracks_one_process(runs):
    torch.manual_seed(0)
    vae = genplug.create("vae", data_shape=(2,), latent_dim=2, mlp_hidden=32)
    config = {"steps": 100, "batch_size": 128, "lr": 3e-3, "log_every": 10, "checkpoint_every": 100}
    genplug.train(vae, "moons", config, out=runs / "vae-one", progress=False)

    def curve(folder):
        return [json.loads(line)["loss"] for line in (runs / folder / "metrics.jsonl").read_text().splitlines()]

    one, two = curve("vae-one"), curve("vae")
    assert len(one) == len(two) == 10
    assert two[-1] < two[0] - 0.8  # it trained: about 4.6 -> 3.3 nats
    late_one, late_two = sum(one[4:]) / 6, sum(two[4:]) / 6  # steps 50..100: batch noise about 0.05
    assert abs(late_one - late_two) < 0.15, (one, two)  # measured: 3.373 and 3.328


def test_the_gan_steps_both_optimizers_in_two_processes(runs):
    gan = genplug.load(runs / "gan" / "checkpoint")
    torch.manual_seed(0)
    fresh = genplug.create("gan", data_shape=(2,), mlp_hidden=16, mlp_depth=1, latent_dim=4)
    for part in ("generator", "discriminator"):
        moved = [
            not torch.equal(p, q)
            for p, q in zip(getattr(gan, part).parameters(), getattr(fresh, part).parameters(), strict=True)
        ]
        assert all(moved), part
