from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from genplug._cli import cli


def test_new_plugin_installs_lists_samples_and_passes_its_tests(tmp_path):
    result = CliRunner().invoke(cli, ["new-plugin", "flow-matching", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "genplug-flow-matching"
    assert (root / "genplug_flow_matching" / "model.py").exists()

    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(root),
        ],
        check=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}

    def genplug(*args):
        return subprocess.run([sys.executable, "-m", "genplug", *args], capture_output=True, text=True, env=env)

    listing = json.loads(genplug("list", "--json").stdout)
    plugin = {p["name"]: p for p in listing["plugins"]}["genplug-flow-matching"]
    assert plugin["status"] == "ok"
    assert {a["name"]: a["plugin"] for a in listing["architectures"]}["flow-matching"] == "genplug-flow-matching"

    trained = genplug("train", "flow-matching", "--data", "moons", "--steps", "50", "--out", str(tmp_path / "run"))
    assert trained.returncode == 0, trained.stderr
    ran = genplug("run", "flow-matching", "-w", str(tmp_path / "run"), "-n", "9", "-o", str(tmp_path / "s.npy"))
    assert ran.returncode == 0, ran.stderr
    assert np.load(tmp_path / "s.npy").shape == (9, 2)

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout  # two configs of the architecture and its registration, none skipped


@pytest.mark.parametrize("name", ["Bad_Name", "9lives", "x--y"])
def test_new_plugin_rejects_bad_names(tmp_path, name):
    result = CliRunner().invoke(cli, ["new-plugin", name, "--dir", str(tmp_path)])
    assert result.exit_code == 1 and "is not valid" in result.output


def test_new_plugin_refuses_to_overwrite(tmp_path):
    CliRunner().invoke(cli, ["new-plugin", "mine", "--dir", str(tmp_path)])
    result = CliRunner().invoke(cli, ["new-plugin", "mine", "--dir", str(tmp_path)])
    assert result.exit_code == 1 and "already exists" in result.output
