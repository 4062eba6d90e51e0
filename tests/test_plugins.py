from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types

import pytest

import genplug


def _plugin(name: str, *, arch: str = "thing", api: int = 1, fail: bool = False) -> types.ModuleType:
    module = types.ModuleType(name)
    module.GENPLUG_API = api

    @genplug.hookimpl
    def register_architectures(register):
        if fail:
            raise RuntimeError("boom in registration")
        register(
            genplug.ArchitectureSpec(name=arch, family="other", description="d", model="genplug_toy.model:ToyGaussian")
        )

    module.register_architectures = register_architectures
    return module


def test_installed_plugin_is_found_through_its_entry_point():
    reg = genplug.registry()
    assert reg.plugins["genplug-toy"].status == "ok"
    assert reg.plugins["genplug-toy"].module == "genplug_toy.plugin"
    spec = reg.architectures["toy-gaussian"]
    assert spec.plugin == "genplug-toy"
    assert reg.plugins["genplug"].status == "ok"  # the core's built-ins, through the same manager
    assert "digits" in reg.datasets and reg.datasets["digits"].plugin == "genplug"


def test_registration_does_not_import_model_code():
    code = "import sys, genplug; genplug.registry(); print('genplug_toy.model' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_failing_plugin_is_isolated():
    reg = genplug.Registry()
    reg.add_plugin(_plugin("bad", arch="bad-thing", fail=True), name="genplug-bad")
    reg.add_plugin(_plugin("good", arch="good-thing"), name="genplug-good")
    assert reg.plugins["genplug-bad"].status == "failed"
    assert reg.plugins["genplug-bad"].error == "RuntimeError: boom in registration"
    assert "Traceback" in reg.plugins["genplug-bad"].traceback
    assert "bad-thing" not in reg.architectures
    assert reg.architectures["good-thing"].plugin == "genplug-good"


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("GENPLUG_STRICT_PLUGINS", "1")
    reg = genplug.Registry()
    with pytest.raises(genplug.PluginError, match="plugin genplug-bad failed"):
        reg.add_plugin(_plugin("bad", fail=True), name="genplug-bad")


def test_name_collision_names_both_distributions():
    reg = genplug.Registry()
    reg.add_plugin(_plugin("a", arch="same"), name="genplug-a")
    info = reg.add_plugin(_plugin("b", arch="same"), name="genplug-b")
    assert info.status == "failed"
    assert "registered by both genplug-a and genplug-b" in info.error
    assert reg.architectures["same"].plugin == "genplug-a"


def test_incompatible_api_version_is_skipped():
    reg = genplug.Registry()
    info = reg.add_plugin(_plugin("future", arch="future-thing", api=99), name="genplug-future")
    assert info.status == "incompatible"
    assert "written for genplug API 99" in info.error and f"provides API {genplug.API_VERSION}" in info.error
    assert "future-thing" not in reg.architectures


def test_register_rejects_wrong_objects():
    module = types.ModuleType("wrong")

    @genplug.hookimpl
    def register_samplers(register):
        register({"name": "not-a-spec"})

    module.register_samplers = register_samplers
    reg = genplug.Registry()
    info = reg.add_plugin(module, name="genplug-wrong")
    assert info.status == "failed" and "takes a genplug.SamplerSpec" in info.error


def test_protocol_checked_when_the_class_loads():
    reg = genplug.Registry()
    module = types.ModuleType("enc")

    @genplug.hookimpl
    def register_architectures(register):
        register(
            genplug.ArchitectureSpec(
                name="fake-encoder",
                family="other",
                description="d",
                model="genplug._metrics:DigitClassifier",
                provides=("encoder",),
            )
        )

    module.register_architectures = register_architectures
    reg.add_plugin(module, name="genplug-enc")
    with pytest.raises(
        genplug.PluginError, match=r"fake-encoder.*genplug-enc.*Encoder protocol: missing decode, encode, latent_shape"
    ):
        reg.architectures["fake-encoder"].load_class()


def test_invalid_spec_fields_are_named():
    with pytest.raises(genplug.PluginError, match="must be an import path"):
        genplug.ArchitectureSpec(name="x", family="other", description="d", model="not a path")
    for folder in ("pkg", "pkg:../up", "pkg:/absolute", "pkg:a//b"):
        with pytest.raises(genplug.PluginError, match="must be a packaged folder 'package:relative/folder'"):
            genplug.ArchitectureSpec(name="x", family="other", description="d", model="a:B", default_weights=folder)
    nested = genplug.ArchitectureSpec(name="x", family="other", description="d", model="a:B", default_weights="p:a/b")
    assert nested.default_weights == "p:a/b"
    with pytest.raises(genplug.PluginError, match="not a valid name"):
        genplug.SamplerSpec(name="Bad Name", family="diffusion", description="d", sampler="a:b")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GENPLUG_LOAD_PLUGINS": ""}, "blocked"),
        ({"GENPLUG_LOAD_PLUGINS": "genplug-toy"}, "ok"),
        ({"GENPLUG_BLOCK_PLUGINS": "genplug-toy"}, "blocked"),
    ],
)
def test_environment_selects_plugins(monkeypatch, env, expected):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reg = genplug.registry()
    assert reg.plugins["genplug-toy"].status == expected
    assert ("toy-gaussian" in reg.architectures) == (expected == "ok")
    assert reg.plugins["genplug"].status == "ok"  # built-ins always load


@pytest.fixture
def broken_distribution(tmp_path):
    """A real distribution on sys.path whose entry point fails to import."""
    (tmp_path / "genplug_broken.py").write_text("import this_module_does_not_exist\n")
    info = tmp_path / "genplug_broken-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: genplug-broken\nVersion: 0.3.0\n")
    (info / "entry_points.txt").write_text("[genplug]\nbroken = genplug_broken\n")
    return tmp_path


def _run_cli(args, path, **env):
    import os

    environ = {**os.environ, "PYTHONPATH": str(path), **env}
    return subprocess.run([sys.executable, "-m", "genplug", *args], capture_output=True, text=True, env=environ)


def test_broken_installed_plugin_does_not_take_the_cli_down(broken_distribution):
    result = _run_cli(["list", "--json"], broken_distribution)
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert plugins["genplug-broken"]["status"] == "failed"
    assert plugins["genplug-broken"]["error"] == "ModuleNotFoundError: No module named 'this_module_does_not_exist'"
    assert plugins["genplug-toy"]["status"] == "ok"

    verbose = _run_cli(["list", "--verbose"], broken_distribution)
    assert verbose.returncode == 0
    assert "Traceback" in verbose.stderr and "this_module_does_not_exist" in verbose.stderr

    doctor = _run_cli(["doctor"], broken_distribution)
    assert doctor.returncode == 1 and "Traceback" in doctor.stdout

    run = _run_cli(["run", "toy-gaussian", "-n", "3", "-o", str(broken_distribution / "s.npy")], broken_distribution)
    assert run.returncode == 0, run.stderr


def test_strict_env_makes_broken_plugin_fatal(broken_distribution):
    result = _run_cli(["list"], broken_distribution, GENPLUG_STRICT_PLUGINS="1")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "plugin genplug-broken failed (GENPLUG_STRICT_PLUGINS is set)" in result.stderr


def test_plugin_commands_hook(tmp_path):
    (tmp_path / "genplug_cmd.py").write_text(
        textwrap.dedent(
            """
            import click
            import genplug

            @genplug.hookimpl
            def register_commands(cli):
                @cli.command()
                def hello():
                    "Say hello."
                    click.echo("hello from a plugin")
            """
        )
    )
    info = tmp_path / "genplug_cmd-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: genplug-cmd\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[genplug]\ncmd = genplug_cmd\n")
    result = _run_cli(["hello"], tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "hello from a plugin"
