from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import genplug
from genplug import _files


def test_round_trip_is_exact(toy, tmp_path):
    toy.save_pretrained(tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "config.json").read_text())
    assert doc["architecture"] == "toy-gaussian"
    assert doc["plugin"] == {"name": "genplug-toy", "version": "0.0.1"}
    assert doc["format_version"] == 1 and doc["genplug_version"] == genplug.__version__
    assert doc["config"] == {"data_shape": [2], "hidden": 4, "classes": 0}
    loaded = genplug.load(tmp_path / "m")
    for key, value in toy.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(loaded.sample(8, generator=g1), toy.sample(8, generator=g2))
    assert type(toy).from_pretrained(tmp_path / "m").config == toy.config


def test_files_are_safetensors(toy, tmp_path):
    toy.save_pretrained(tmp_path)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "model.safetensors"), framework="pt") as f:
        assert set(f.keys()) == set(toy.state_dict())
        assert f.metadata()["genplug_architecture"] == "toy-gaussian"


def _tamper(folder: Path, change) -> None:
    tensors = _files.load_tensors(folder / "model.safetensors")
    change(tensors)
    _files.save_tensors(folder / "model.safetensors", tensors)


def test_loading_is_strict_and_names_every_problem(toy, tmp_path):
    toy.save_pretrained(tmp_path)

    def change(t):
        del t["mean"]
        t["surplus"] = torch.zeros(1)
        t["extra.weight"] = torch.zeros(1, 5)

    _tamper(tmp_path, change)
    with pytest.raises(genplug.ModelFileError) as err:
        genplug.load(tmp_path)
    message = str(err.value)
    assert "missing: mean" in message
    assert "unexpected: surplus" in message
    assert "wrong shape: extra.weight (file (1, 5), model (1, 4))" in message


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "corrupt or truncated"),
        (lambda p: p.write_bytes(b"\x00garbage"), "corrupt or truncated"),
        (lambda p: p.unlink(), "has no weights file model.safetensors"),
    ],
)
def test_damaged_weights_give_a_clear_error(toy, tmp_path, damage, match):
    toy.save_pretrained(tmp_path)
    damage(tmp_path / "model.safetensors")
    with pytest.raises(genplug.ModelFileError, match=match):
        genplug.load(tmp_path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"format_version": 1}', "no 'architecture' field"),
        ('{"format_version": 7, "architecture": "toy-gaussian"}', "format_version 7"),
        (
            '{"format_version": 1, "architecture": "toy-gaussian", "config": {"colour": 1}}',
            r"unknown field 'colour'",
        ),
    ],
)
def test_bad_config_json(toy, tmp_path, content, match):
    toy.save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(genplug.ModelFileError, match=match):
        genplug.load(tmp_path)


def test_not_a_model_folder(tmp_path):
    with pytest.raises(genplug.ModelFileError, match="has no config.json"):
        genplug.load(tmp_path)
    with pytest.raises(genplug.ModelFileError, match="cannot resolve 'no-such-thing'"):
        genplug.load("no-such-thing")


def test_missing_architecture_says_what_to_install(toy, tmp_path):
    toy.save_pretrained(tmp_path)
    doc = json.loads((tmp_path / "config.json").read_text())
    doc["architecture"] = "flow-matcher"
    doc["plugin"] = {"name": "genplug-flowmatch", "version": "2.1.0"}
    (tmp_path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(genplug.ModelFileError, match=r"Fix: pip install genplug-flowmatch==2\.1\.0"):
        genplug.load(tmp_path)


def test_save_is_atomic(toy, tmp_path, monkeypatch):
    toy.save_pretrained(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with torch.no_grad():
        toy.mean.add_(1.0)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(_files.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        toy.save_pretrained(tmp_path)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # same files, same bytes, no temporary left behind


def test_packaged_default_weights_resolve():
    folder = genplug.default_weights("toy-gaussian")
    assert (folder / "model.safetensors").exists()
    assert genplug.load("toy-gaussian").architecture == "toy-gaussian"


def test_no_pickle_anywhere():
    root = Path(genplug.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        for needle in ("torch.load(", "import pickle", "pickle.load", "allow_pickle=True", "weights_only"):
            assert needle not in text, f"{path} contains {needle}"


def test_cpu_model_loads_onto_requested_device(toy, tmp_path):
    toy.save_pretrained(tmp_path)
    assert genplug.load(tmp_path, device="cpu").device == torch.device("cpu")


def test_import_genplug_does_not_import_torch():
    code = "import sys, genplug; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_saved_files_are_readable_by_others(toy, tmp_path):
    toy.save_pretrained(tmp_path)
    for name in ("config.json", "model.safetensors"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644


def test_weights_of_another_dtype_are_refused_with_how_to_convert(toy, tmp_path):
    toy.double().save_pretrained(tmp_path)
    message = r"wrong dtype: mean \(file F64, model F32\).*saved in another dtype"
    with pytest.raises(genplug.ModelFileError, match=message):
        genplug.load(tmp_path)
