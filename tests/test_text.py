"""Text and tokens: tokenizers, tokenizer.json, text datasets, the shipped corpus, .txt samples."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import genplug
from genplug import _data, _images
from genplug._tokenizer import TOKENIZER_FILE, ByteTokenizer, CharTokenizer, load_tokenizer

ROOT = Path(__file__).resolve().parents[1]


# -- tokenizers ------------------------------------------------------------------------


def test_char_tokenizer_round_trips_its_vocabulary_in_sorted_order():
    tok = CharTokenizer.from_text("the cat sat.\n")
    assert tok.vocabulary == ("\n", " ", ".", "a", "c", "e", "h", "s", "t") and tok.vocab_size == 9
    text = "a cat sat. that cat.\n"
    ids = tok.encode(text)
    assert all(0 <= i < 9 for i in ids) and tok.decode(ids) == text
    assert tok.decode(torch.tensor(ids)) == tok.decode(ids)


def test_char_tokenizer_refuses_unseen_characters_unless_it_has_an_unknown():
    with pytest.raises(genplug.GenplugError, match=r"character 'z' \(U\+007A\) is not in") as info:
        CharTokenizer.from_text("abc").encode("abz")
    assert "\n" not in str(info.value)
    tok = CharTokenizer.from_text("abc", unknown="?")
    assert tok.vocab_size == 4 and tok.decode(tok.encode("abzé")) == "ab??"
    with pytest.raises(genplug.GenplugError, match="must be a character of the vocabulary"):
        CharTokenizer(["a", "b"], unknown="?")
    with pytest.raises(genplug.GenplugError, match="'a' repeats"):
        CharTokenizer(["a", "b", "a"])
    with pytest.raises(genplug.GenplugError, match="single characters"):
        CharTokenizer(["ab"])


def test_decode_refuses_ids_outside_the_vocabulary_and_non_integers():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(genplug.GenplugError, match=r"id 3 is outside .*\(ids 0\.\.2\)"):
        tok.decode([0, 3])
    with pytest.raises(genplug.GenplugError, match="id -1 is outside"):
        ByteTokenizer().decode([-1])
    with pytest.raises(genplug.GenplugError, match="integer ids"):
        tok.decode([0.5])
    with pytest.raises(genplug.GenplugError, match="1-D sequence"):
        tok.decode(torch.zeros(2, 2, dtype=torch.long))


def test_byte_tokenizer_round_trips_any_text_and_replaces_broken_utf8():
    tok = ByteTokenizer()
    text = "naïve café ☕ 𝔘\n"
    assert tok.vocab_size == 256 and tok.decode(tok.encode(text)) == text
    assert tok.encode("é") == [195, 169]
    assert tok.decode([195]) == "\ufffd"  # a sample that cuts a character in two


@pytest.mark.parametrize("tok", [CharTokenizer.from_text("héllo\n", unknown="?"), ByteTokenizer()], ids=repr)
def test_tokenizers_save_and_load_as_plain_json(tmp_path, tok):
    path = tok.save(tmp_path)
    assert path == tmp_path / TOKENIZER_FILE
    doc = json.loads(path.read_text())
    assert doc["kind"] == tok.kind
    loaded = load_tokenizer(tmp_path)
    assert loaded == tok and type(loaded) is type(tok)
    assert loaded.decode(loaded.encode("héllo")) == "héllo"


BAD_TOKENIZERS = {
    "not JSON": b"{kind: char",
    "a list": b'["char"]',
    "unknown kind": b'{"kind": "bpe", "vocabulary": ["a"]}',
    "no kind": b'{"vocabulary": ["a"]}',
    "extra field": b'{"kind": "byte", "pickle": "cos\\nsystem"}',
    "vocabulary not a list": b'{"kind": "char", "vocabulary": "abc"}',
    "vocabulary missing": b'{"kind": "char"}',
    "entry of two characters": b'{"kind": "char", "vocabulary": ["a", "bc"]}',
    "entry not a string": b'{"kind": "char", "vocabulary": ["a", 1]}',
    "repeated entry": b'{"kind": "char", "vocabulary": ["a", "a"]}',
    "empty vocabulary": b'{"kind": "char", "vocabulary": []}',
    "lone surrogate": b'{"kind": "char", "vocabulary": ["\\ud800"]}',
    "unknown outside": b'{"kind": "char", "vocabulary": ["a"], "unknown": "b"}',
    "unknown not a string": b'{"kind": "char", "vocabulary": ["a"], "unknown": 0}',
    "too large": b'{"kind": "char", "vocabulary": ["a"], "pad": "' + b"x" * (1 << 20) + b'"}',
    "deeply nested": b'{"kind": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("content", BAD_TOKENIZERS.values(), ids=BAD_TOKENIZERS.keys())
def test_a_crafted_tokenizer_file_is_refused_in_one_line(tmp_path, content):
    (tmp_path / TOKENIZER_FILE).write_bytes(content)
    with pytest.raises(genplug.ModelFileError) as info:
        load_tokenizer(tmp_path)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400 and str(tmp_path) in message


def test_a_tokenizer_file_that_is_not_a_regular_file_is_refused(tmp_path):
    (tmp_path / TOKENIZER_FILE).mkdir()
    with pytest.raises(genplug.ModelFileError, match="is a folder"):
        load_tokenizer(tmp_path)
    with pytest.raises(genplug.ModelFileError, match="does not exist"):
        load_tokenizer(tmp_path / "elsewhere")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        (tmp_path / "linked").mkdir()
        (tmp_path / "linked" / TOKENIZER_FILE).symlink_to(tmp_path / "fifo")
        with pytest.raises(genplug.ModelFileError, match="not a regular file"):
            load_tokenizer(tmp_path / "linked")


# -- text data -------------------------------------------------------------------------


def test_a_text_file_becomes_windows_split_into_two_contiguous_stretches(tmp_path):
    text = "".join(f"line {i} of the file.\n" for i in range(40)) + "Zé"  # Z and é only at the end
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    train, test = _data.text_data(path, "train", length=16), _data.text_data(path, "test", length=16)
    count = len(text) // 16
    assert train.kind == test.kind == "text" and train.shape == (16,) and len(test) == count // 10
    assert len(train) + len(test) == count and train.x.dtype == torch.long
    tok = train.tokenizer
    assert tok == test.tokenizer == CharTokenizer.from_text(text) and train.vocab_size == tok.vocab_size
    # the windows are the file in order: train first, then test, nothing shared or shuffled
    joined = "".join(tok.decode(row) for row in torch.cat([train.x, test.x]))
    assert joined == text[: count * 16]
    assert "é" in tok.vocabulary  # the vocabulary is the whole file's, so the test split encodes
    loaded = genplug.load_data(path, "test")
    assert loaded.shape == (_data.TEXT_WINDOW,) and loaded.kind == "text"


def test_a_text_file_too_short_or_not_utf8_is_refused(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("x" * 100)
    with pytest.raises(genplug.GenplugError, match="at least two windows of 64"):
        genplug.load_data(short)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café ".encode("latin-1") * 100)
    with pytest.raises(genplug.GenplugError, match="not UTF-8 text .*save it as UTF-8"):
        genplug.load_data(latin)
    with pytest.raises(genplug.GenplugError, match="positive number of characters"):
        _data.text_data(short, length=0)


def test_tinytext_is_the_shipped_corpus_in_windows():
    train, test = _data.tinytext("train"), _data.tinytext("test")
    assert train.name == "tinytext" and train.kind == "text" and train.shape == (64,)
    assert len(train) > 5000 and len(test) == (len(train) + len(test)) // 10
    assert train.vocab_size == train.tokenizer.vocab_size < 64
    assert train.tokenizer.decode(test.x[-1]).count(".") >= 1


def _make_corpus():
    spec = importlib.util.spec_from_file_location("make_corpus", ROOT / "scripts" / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_corpus_is_rebuilt_exactly_by_its_script():
    make_corpus = _make_corpus()
    asset = ROOT / "genplug" / "_assets" / "tinytext.txt.gz"
    assert make_corpus.ASSET == asset and asset.stat().st_size < 200_000
    assert gzip.decompress(asset.read_bytes()).decode("utf-8") == make_corpus.corpus()
    assert make_corpus.corpus(seed=1, stories=3) != make_corpus.corpus(seed=2, stories=3)


def test_splitmix64_matches_its_reference_values():
    # the published first outputs for seed 1234567 (Rosetta Code, Pseudo-random numbers/Splitmix64)
    rng = _make_corpus().SplitMix64(1234567)
    assert [rng.next() for _ in range(3)] == [6457827717110365317, 3203168211198807973, 9817491932198370423]


# -- the user's other files carry their levels and vocabulary --------------------------


def test_user_files_carry_levels_and_vocabulary(tmp_path):
    np.save(tmp_path / "tokens.npy", np.random.default_rng(0).integers(0, 12, size=(40, 7)))
    tokens = genplug.load_data(tmp_path / "tokens.npy", "test")
    assert tokens.kind == "tokens" and tokens.vocab_size == 12 and tokens.x.dtype == torch.long
    np.save(tmp_path / "negative.npy", np.array([[0, -1], [2, 3]]))
    with pytest.raises(genplug.GenplugError, match="negative or no token ids"):
        genplug.load_data(tmp_path / "negative.npy")
    np.save(tmp_path / "images.npy", np.full((10, 1, 4, 4), 255, dtype=np.uint8))
    images = genplug.load_data(tmp_path / "images.npy")
    assert images.kind == "image" and images.levels == 256 and float(images.x.max()) == 1.0
    np.save(tmp_path / "wide.npy", np.zeros((10, 1, 4, 4), dtype=np.int32))
    with pytest.raises(genplug.GenplugError, match="as uint8"):
        genplug.load_data(tmp_path / "wide.npy")
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((4, 4), i * 100, dtype=np.uint8)).save(folder / f"{i}.png")
    assert genplug.load_data(folder).levels == 256


# -- .txt samples ----------------------------------------------------------------------


def test_token_samples_are_written_as_text_one_per_line(tmp_path):
    tok = CharTokenizer(["a", "b", "\n", "\\"])
    x = torch.tensor([[0, 1, 2], [3, 0, 0]])
    path = genplug.save_samples(x, tmp_path / "s.txt", tokenizer=tok)
    assert path.read_text(encoding="utf-8") == "ab\\n\n\\\\aa\n"
    assert genplug.save_samples(x, tmp_path / "ids.txt").read_text() == "0 1 2\n3 0 0\n"
    with pytest.raises(genplug.GenplugError, match="holds token samples"):
        genplug.save_samples(torch.rand(2, 3), tmp_path / "f.txt")
    with pytest.raises(genplug.GenplugError, match=r"shaped \(N, T\)"):
        genplug.save_samples(torch.zeros(2, 3, 4, dtype=torch.long), tmp_path / "f.txt")
    with pytest.raises(genplug.GenplugError, match="outside"):
        genplug.save_samples(torch.tensor([[7]]), tmp_path / "f.txt", tokenizer=tok)
    assert not (tmp_path / "f.txt").exists()


def test_a_text_sample_round_trips_through_the_file(tmp_path):
    data = _data.tinytext("test")
    path = _images.save_samples(data.x[:5], tmp_path / "t.txt", tokenizer=data.tokenizer)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5
    assert [line.replace("\\n", "\n") for line in lines] == [data.tokenizer.decode(row) for row in data.x[:5]]
