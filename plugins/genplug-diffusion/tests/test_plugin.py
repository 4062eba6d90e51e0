"""Registration through the real entry point, and genplug's conformance kit."""

from __future__ import annotations

import subprocess
import sys

import pytest

import genplug
from genplug.testing import conformance_cases

SAMPLERS = ("ddim", "ddpm", "dpm-solver++", "unipc")


def test_entry_point_registers_the_architecture_and_samplers():
    reg = genplug.registry()
    info = reg.plugins["genplug-diffusion"]
    assert info.status == "ok", info.traceback
    assert info.module == "genplug_diffusion.plugin"
    spec = reg.architecture("diffusion")
    assert spec.plugin == "genplug-diffusion"
    assert spec.family == "diffusion"
    assert spec.default_weights == "genplug_diffusion:weights"
    for name in SAMPLERS:
        sampler = reg.sampler(name)
        assert sampler.plugin == "genplug-diffusion"
        assert sampler.family == "diffusion"
        assert sampler.requires == {"prediction_type": ("epsilon", "v_prediction"), "time": ("discrete",)}


def test_registered_requirements_are_the_samplers_own():
    from genplug_diffusion.samplers.base import REQUIRES

    for name in SAMPLERS:
        sampler = genplug.registry().sampler(name).create()
        assert sampler.name == name
        assert sampler.requires == REQUIRES == genplug.registry().sampler(name).requires


def test_registration_module_imports_no_torch():
    code = (
        "import sys, genplug_diffusion.plugin, genplug; "
        "genplug.registry(); "
        "assert 'torch' not in sys.modules, 'torch was imported'; "
        "assert 'genplug_diffusion.model' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names_load_lazily():
    import genplug_diffusion

    for name in genplug_diffusion.__all__:
        assert getattr(genplug_diffusion, name) is not None
    assert genplug_diffusion.DiffusionModel.architecture == "diffusion"


@pytest.mark.parametrize("case", conformance_cases("genplug-diffusion"), ids=str)
def test_conformance(case):
    case.run()
