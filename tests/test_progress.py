"""Progress on a terminal: `genplug run` and `genplug eval` count the model's network calls on
stderr when asked or when stderr is a terminal, and print nothing otherwise."""

from __future__ import annotations

import io
import re

import pytest
import torch
from click.testing import CliRunner

import genplug
from genplug import _progress
from genplug._cli import cli


@pytest.fixture
def diffusion_folder(tmp_path):
    torch.manual_seed(0)
    model = genplug.create("diffusion", data_shape=(2,), hidden=16, mlp_blocks=1, num_train_timesteps=100)
    model.save_pretrained(tmp_path / "tiny")
    return str(tmp_path / "tiny")


@pytest.fixture(autouse=True)
def _no_progress_setting(monkeypatch):
    monkeypatch.delenv("GENPLUG_PROGRESS", raising=False)


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_run_with_progress_counts_one_network_call_per_sampler_step(diffusion_folder, tmp_path):
    out = str(tmp_path / "x.npy")
    args = ("run", "diffusion", "-w", diffusion_folder, "-n", "4", "-s", "ddim", "-k", "7", "-o", out)
    result = invoke(*args, "--progress")
    assert "sampling diffusion" in result.stderr
    # the MLP's inner layers run inside its one call per step: only the outermost calls count
    assert re.findall(r"(\d+) network calls \[", result.stderr)[-1] == "7"
    assert "wrote 4 samples" in result.stdout and "network calls" not in result.stdout


def test_run_prints_no_progress_in_a_pipe(diffusion_folder, tmp_path):
    result = invoke("run", "diffusion", "-w", diffusion_folder, "-n", "4", "-k", "3", "-o", str(tmp_path / "x.npy"))
    assert result.stderr == ""


def test_the_environment_variable_turns_progress_on_and_the_option_off(diffusion_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("GENPLUG_PROGRESS", "1")
    out = str(tmp_path / "x.npy")
    assert "network calls" in invoke("run", "diffusion", "-w", diffusion_folder, "-n", "2", "-k", "2", "-o", out).stderr
    args = ("run", "diffusion", "-w", diffusion_folder, "-n", "2", "-k", "2", "-o", out, "--no-progress")
    assert invoke(*args).stderr == ""


def test_eval_with_progress_names_each_metric(diffusion_folder):
    args = ("eval", "diffusion", "-w", diffusion_folder, "--data", "moons", "-n", "20", "-k", "2")
    result = invoke(*args, "--metric", "energy", "--metric", "nll", "--progress")
    assert "eval diffusion" in result.stderr
    assert "energy (1/2)" in result.stderr and "nll (2/2)" in result.stderr
    assert "energy" in result.stdout and "network calls" not in result.stdout
    assert invoke(*args, "--metric", "energy").stderr == ""


def test_progress_follows_the_terminal_unless_told(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stderr", Terminal())
    assert _progress.wanted() is True
    assert _progress.wanted(False) is False
    monkeypatch.setenv("GENPLUG_PROGRESS", "0")
    assert _progress.wanted() is False
    monkeypatch.setattr("sys.stderr", io.StringIO())
    monkeypatch.delenv("GENPLUG_PROGRESS")
    assert _progress.wanted() is False
    assert _progress.wanted(True) is True


def test_the_hooks_are_removed_afterwards_even_when_sampling_fails(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    with _progress.network_calls(model, "test", show=True):
        model(torch.zeros(1, 2))
        model(torch.zeros(1, 2))
    assert "2 network calls" in __import__("sys").stderr.getvalue()
    with pytest.raises(RuntimeError), _progress.network_calls(model, "test", show=True):
        model(torch.zeros(1, 3))  # a shape error inside the first layer
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())
    with _progress.network_calls(model, "off", show=False) as note:
        note("nothing happens")
        assert not model._forward_pre_hooks
