"""genplug._lazy.lazy_attributes: the load-on-first-use names of the core and the plugins."""

from __future__ import annotations

import subprocess
import sys

import pytest

PACKAGE = {
    "__init__.py": (
        "from genplug._lazy import lazy_attributes\n"
        "__all__ = ['Thing', 'helpers']\n"
        "_LAZY = {'Thing': 'lazypkg.heavy', 'helpers': 'lazypkg.helpers'}\n"
        "__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)\n"
    ),
    "heavy.py": "import sys\nsys.modules[__package__].loads = getattr(sys.modules[__package__], 'loads', 0) + 1\n"
    "class Thing:\n    pass\n",
    "helpers.py": "VALUE = 3\n",
}


@pytest.fixture
def lazypkg(tmp_path, monkeypatch):
    root = tmp_path / "lazypkg"
    root.mkdir()
    for name, text in PACKAGE.items():
        (root / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    import lazypkg

    yield lazypkg
    for name in [n for n in sys.modules if n == "lazypkg" or n.startswith("lazypkg.")]:
        del sys.modules[name]


def test_a_name_loads_its_module_once_on_first_use(lazypkg):
    assert "lazypkg.heavy" not in sys.modules
    assert lazypkg.Thing.__name__ == "Thing"
    assert lazypkg.Thing is sys.modules["lazypkg.heavy"].Thing
    assert "Thing" in vars(lazypkg)  # kept: later reads do not come back to __getattr__
    assert lazypkg.loads == 1


def test_a_name_that_is_a_submodule_is_the_module(lazypkg):
    assert lazypkg.helpers.VALUE == 3


def test_dir_lists_the_lazy_names_and_unknown_names_raise(lazypkg):
    assert {"Thing", "helpers"} <= set(dir(lazypkg))
    with pytest.raises(AttributeError, match="module 'lazypkg' has no attribute 'nothing'"):
        _ = lazypkg.nothing


def test_importing_the_core_and_every_plugin_imports_no_torch():
    code = (
        "import sys, genplug, genplug.testing, genplug_diffusion, genplug_vae, genplug_hybrid, genplug_gan, "
        "genplug_flow, genplug_autoregressive; print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
