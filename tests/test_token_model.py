"""A tiny token model end to end: trained on a text file from the command line, its
tokenizer saved in its folder, its samples written as text."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

import genplug
from genplug._cli import cli
from genplug.testing import conformance_cases

TEXT = "the cat sat on the mat. the dog sat on the log. " * 40


def test_the_bigram_passes_the_token_checks_of_the_kit():
    cases = [c for c in conformance_cases("genplug-toy") if "toy-bigram" in c.id]
    assert cases
    for case in cases:
        case.run()


def test_train_a_token_model_on_a_text_file_and_write_samples_txt(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT)
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(cli, ["train", "toy-bigram", "--data", str(corpus), "--steps", "150", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "config.json").read_text())
    vocab = sorted(set(TEXT))
    assert doc["tokenizer"] == "tokenizer.json" and doc["config"]["vocab_size"] == len(vocab)  # filled from the data
    assert doc["config"]["data_shape"] == [64]

    samples = tmp_path / "samples.txt"
    result = runner.invoke(cli, ["run", "toy-bigram", "-w", str(out), "-n", "5", "-o", str(samples)])
    assert result.exit_code == 0, result.output
    lines = samples.read_text().splitlines()
    assert len(lines) == 5 and all(len(line) == 64 and set(line) <= set(vocab) for line in lines)
    words = " ".join(lines).split()
    assert sum(w in ("the", "sat", "on") for w in words) > len(words) / 4  # a bigram of this text says its words

    result = runner.invoke(cli, ["eval", "toy-bigram", "-w", str(out), "--data", str(corpus), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["nll_exact_space"] == "discrete" and 0 < figures["nll_exact_bits_per_char"] < 3


def test_a_folder_with_a_damaged_tokenizer_is_refused(tmp_path):
    model = genplug.create("toy-bigram", data_shape=(8,), vocab_size=4)
    model.tokenizer = genplug.CharTokenizer.from_text("abcd")
    model.save_pretrained(tmp_path)
    assert genplug.load(tmp_path).tokenizer.decode([0, 3]) == "ad"
    (tmp_path / "tokenizer.json").write_text('{"kind": "char", "vocabulary": 7}')
    with pytest.raises(genplug.ModelFileError):
        genplug.load(tmp_path)


def test_an_inference_only_folder_holds_and_loads_the_named_modules(tmp_path):
    # a GAN keeps its generator and drops its discriminator; here the toy's `extra` layer stands in
    model = genplug.create("toy-gaussian", data_shape=(2,), classes=3)
    genplug.save_model(model, tmp_path / "all")
    from genplug import _folder

    _folder.save(model, tmp_path / "part", modules=("extra",))
    from safetensors import safe_open

    with safe_open(str(tmp_path / "part" / "model.safetensors"), framework="pt") as f:
        assert set(f.keys()) == {"extra.weight", "extra.bias"}
    loaded = genplug.load(tmp_path / "part")
    assert torch.equal(loaded.extra.weight, model.extra.weight)
