from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import genplug
from genplug._cli import cli


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(cli, list(args), catch_exceptions=False)


def test_list_json_has_the_four_sections(runner):
    result = invoke(runner, "list", "--json")
    assert result.exit_code == 0
    listing = json.loads(result.output)
    for key in ("plugins", "architectures", "samplers", "datasets"):
        assert isinstance(listing[key], list) and all("name" in item for item in listing[key])
    arch = {a["name"]: a for a in listing["architectures"]}["toy-gaussian"]
    assert arch == {
        "name": "toy-gaussian",
        "family": "other",
        "plugin": "genplug-toy",
        "provides": ["generator", "encoder"],
        "description": "a diagonal Gaussian with a learned mean and scale per dimension",
    }
    assert {"digits", "8gaussians", "checkerboard"} <= {d["name"] for d in listing["datasets"]}


def test_list_text(runner):
    result = invoke(runner, "list")
    assert result.exit_code == 0
    assert "Architectures:" in result.output and "toy-gaussian" in result.output


def test_info(runner):
    result = invoke(runner, "info", "toy-gaussian")
    assert result.exit_code == 0 and "hidden = 4" in result.output and "likelihood: exact" in result.output
    assert invoke(runner, "info", "digits").output.startswith("dataset digits from genplug")
    assert invoke(runner, "info", "nope").exit_code == 1


@pytest.mark.parametrize("suffix", [".png", ".npy", ".safetensors"])
def test_run_writes_each_format(runner, tmp_path, suffix):
    out = tmp_path / f"s{suffix}"
    result = invoke(runner, "run", "toy-gaussian", "-n", "7", "--seed", "3", "-o", str(out))
    assert result.exit_code == 0, result.output
    if suffix == ".npy":
        array = np.load(out)
        assert array.shape == (7, 2) and array.dtype == np.float32
    elif suffix == ".safetensors":
        from safetensors.torch import load_file

        assert load_file(str(out))["samples"].shape == (7, 2)
    else:
        assert Image.open(out).size == (512, 512)  # a scatter plot for 2-D samples


def test_same_seed_same_samples(runner, tmp_path):
    for name in ("a", "b"):
        invoke(runner, "run", "toy-gaussian", "-n", "5", "--seed", "9", "-o", str(tmp_path / f"{name}.npy"))
    invoke(runner, "run", "toy-gaussian", "-n", "5", "--seed", "10", "-o", str(tmp_path / "c.npy"))
    a, b, c = (np.load(tmp_path / f"{n}.npy") for n in "abc")
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def _bad(runner, *args):
    result = runner.invoke(cli, list(args))
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    return lines[-1]


def test_bad_input_gets_one_line(runner, tmp_path):
    out = str(tmp_path / "x.png")
    assert "unknown architecture 'nope'; known: " in _bad(runner, "run", "nope", "-o", out)
    assert "cannot resolve" in _bad(runner, "run", "toy-gaussian", "--weights", str(tmp_path / "missing"), "-o", out)
    (tmp_path / "empty").mkdir()
    assert "has no config.json" in _bad(runner, "run", "toy-gaussian", "--weights", str(tmp_path / "empty"), "-o", out)
    assert "0 is not in the range 1<=x<=1000000" in _bad(runner, "run", "toy-gaussian", "-n", "0", "-o", out)
    assert "unknown sampler 'warp'" in _bad(runner, "run", "toy-gaussian", "-s", "warp", "-o", out)
    assert "does not exist" in _bad(runner, "run", "toy-gaussian", "-o", str(tmp_path / "no" / "x.png"))
    assert "suffix '.gif'" in _bad(runner, "run", "toy-gaussian", "-o", str(tmp_path / "x.gif"))
    assert "takes no steps" in _bad(runner, "run", "toy-gaussian", "--steps", "5", "-o", out)
    assert "no CUDA GPU" in _bad(runner, "run", "toy-gaussian", "--device", "cuda:7", "-o", out) or os.environ.get(
        "GENPLUG_TEST_DEVICE"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output(runner, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    assert "not writable" in _bad(runner, "run", "toy-gaussian", "-o", str(locked / "x.png"))


def test_malformed_weights_folder(runner, toy, tmp_path):
    toy.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"oops")
    assert "corrupt or truncated" in _bad(
        runner, "run", "toy-gaussian", "-w", str(tmp_path), "-o", str(tmp_path / "a.png")
    )


def test_train_eval_resume(runner, tmp_path):
    out = tmp_path / "run"
    result = invoke(runner, "train", "toy-gaussian", "--data", "moons", "--steps", "30", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").exists() and (out / "checkpoint" / "trainer_state.json").exists()
    training = json.loads((out / "training.json").read_text())
    assert training["train_config"]["steps"] == 30 and training["data"] == "moons"
    result = invoke(runner, "train", "toy-gaussian", "--data", "moons", "--steps", "40", "--out", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "checkpoint" / "trainer_state.json").read_text())["step"] == 40
    result = invoke(
        runner, "eval", "toy-gaussian", "-w", str(out), "--data", "moons", "--json", "--save", str(tmp_path / "e.json")
    )
    figures = json.loads(result.output)
    assert figures["nll_exact_nats"] == json.loads((tmp_path / "e.json").read_text())["nll_exact_nats"]
    assert 2.0 < figures["nll_exact_nats"] < 6.0


def test_train_config_override_and_bad_key(runner, tmp_path):
    result = invoke(
        runner, "train", "toy-gaussian", "--data", "moons", "--steps", "2", "-c", "hidden=6", "--out", str(tmp_path)
    )
    assert result.exit_code == 0
    assert json.loads((tmp_path / "config.json").read_text())["config"]["hidden"] == 6
    assert "unknown field 'colour'" in _bad(runner, "train", "toy-gaussian", "--data", "moons", "-c", "colour=1")
    assert "unknown dataset 'nope'" in _bad(runner, "train", "toy-gaussian", "--data", "nope")
    assert "no checkpoint" in _bad(
        runner, "train", "toy-gaussian", "--data", "moons", "--resume", "--out", str(tmp_path / "new")
    )


def test_parse_pairs_reads_json_values_and_names_the_flag_of_a_bad_pair(runner):
    got = genplug.parse_pairs(["hidden=6", "name=x", "mults=[1, 2]", "on=true", "eq=a=b", " k =1"])
    assert got == {"hidden": 6, "name": "x", "mults": [1, 2], "on": True, "eq": "a=b", "k": 1}
    for bad in ("hidden", "=3"):
        with pytest.raises(genplug.ConfigError, match=f"--train {bad!r}: write KEY=VALUE"):
            genplug.parse_pairs([bad], "--train")
    message = _bad(runner, "train", "toy-gaussian", "--data", "moons", "-c", "hidden")
    assert "'hidden': write KEY=VALUE, e.g. --config hidden=128" in message and "Traceback" not in message


def test_subprocess_run_and_help_stay_light(tmp_path):
    out = tmp_path / "g.png"
    done = subprocess.run(
        [sys.executable, "-m", "genplug", "run", "toy-gaussian", "-n", "16", "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert out.exists()
    code = (
        "import sys\nfrom genplug._cli import main\nsys.argv=['genplug','list']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'LIGHT')"
    )
    listing = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert listing.stdout.strip().endswith("LIGHT"), listing.stdout + listing.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "genplug", "run", "nope", "-o", "x.png"], capture_output=True, text=True
    )
    assert (
        bad.returncode == 1
        and bad.stderr.strip().splitlines() == ["Error: unknown architecture 'nope'; known: toy-gaussian."]
        or "unknown architecture 'nope'" in bad.stderr
    )


def test_labels_reach_the_model_in_training_and_sampling(runner, tmp_path):
    out = tmp_path / "cond"
    result = runner.invoke(
        cli, ["train", "toy-gaussian", "--data", "digits", "--steps", "60", "-c", "classes=10", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    model = genplug.load(out)
    assert set(model.conditions) == {"label"}
    threes = genplug.sample(model, 200, label=3, generator=torch.Generator().manual_seed(0))
    sevens = genplug.sample(model, 200, label=7, generator=torch.Generator().manual_seed(0))
    data = genplug.load_data("digits")
    for label, drawn in ((3, threes), (7, sevens)):  # each class's samples are nearest that class's mean
        means = torch.stack([data.x[data.y == k].mean(0) for k in range(10)])
        distances = ((drawn.mean(0, keepdim=True) - means) ** 2).flatten(1).sum(1)
        assert int(distances.argmin()) == label
    path = tmp_path / "threes.npy"
    result = runner.invoke(cli, ["run", "toy-gaussian", "-w", str(out), "--label", "3", "-n", "4", "-o", str(path)])
    assert result.exit_code == 0, result.output
    again = tmp_path / "again.npy"
    result = runner.invoke(
        cli, ["run", "toy-gaussian", "-w", str(out), "--condition", "label=3", "-n", "4", "-o", str(again)]
    )
    assert result.exit_code == 0 and path.read_bytes() == again.read_bytes()


def test_bad_conditions_get_one_line(runner, tmp_path):
    out = str(tmp_path / "x.npy")
    assert "takes no class label" in _bad(runner, "run", "toy-gaussian", "--label", "3", "-o", out)
    assert "takes no condition 'colour'" in _bad(runner, "run", "toy-gaussian", "--condition", "colour=1", "-o", out)
    assert "single sampling procedure; it takes no sampler options" in _bad(
        runner, "run", "toy-gaussian", "--sampler-option", "eta=0.5", "-o", out
    )
    model = genplug.create("toy-gaussian", data_shape=(2,), classes=10)
    with pytest.raises(
        genplug.GenplugError, match="label=10 is out of range: model 'toy-gaussian' takes labels 0 to 9"
    ):
        genplug.sample(model, 2, label=10)
    with pytest.raises(genplug.GenplugError, match="3 labels for 2 samples"):
        genplug.sample(model, 2, label=[1, 2, 3])
    with pytest.raises(genplug.GenplugError, match="has no labels"):
        genplug.train(model, "moons", {"steps": 2}, progress=False)
