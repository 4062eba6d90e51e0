"""Folders of images and .npy files are read from disk as training goes, through a
DataLoader with workers, and train exactly as the same data in memory does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import genplug
from genplug._data import split_indices
from genplug._streams import Stream, open_data


def _config(**kw):
    return genplug.TrainConfig(**{"steps": 12, "lr": 0.05, "batch_size": 16, "checkpoint_every": 6, **kw})


def _toy(shape):
    torch.manual_seed(0)
    return genplug.create("toy-gaussian", data_shape=shape)


@pytest.fixture
def folder(tmp_path):
    """40 random 6x5 RGB PNGs."""
    path = tmp_path / "images"
    path.mkdir()
    g = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(g.integers(0, 256, (5, 6, 3), dtype=np.uint8)).save(path / f"{i:03d}.png")
    return path


def _same_weights(a, b):
    for key, value in a.state_dict().items():
        assert torch.equal(b.state_dict()[key], value), key


def test_a_folder_streams_and_trains_as_the_same_images_in_memory(folder):
    stream = open_data(folder)
    assert isinstance(stream, Stream) and stream.shape == (3, 5, 6) and len(stream) == 36  # 90% of 40
    memory = genplug.load_data(folder)
    assert torch.equal(stream.load().x, memory.x)  # the same split, the same values
    streamed = genplug.train(_toy((3, 5, 6)), folder, _config(workers=1), progress=False)
    in_memory = genplug.train(_toy((3, 5, 6)), memory, _config(), progress=False)
    _same_weights(streamed, in_memory)


@pytest.mark.parametrize(
    ("array", "kind"),
    [
        (np.random.default_rng(1).integers(0, 256, (50, 1, 4, 4), dtype=np.uint8), "image"),
        (np.random.default_rng(2).normal(size=(50, 2)), "points"),
    ],
)
def test_a_npy_file_is_memory_mapped_and_trains_as_in_memory(tmp_path, array, kind):
    path = tmp_path / "x.npy"
    np.save(path, array)
    stream = open_data(path)
    assert isinstance(stream, Stream) and stream.kind == kind
    memory = genplug.load_data(path)
    assert torch.equal(stream.load().x, memory.x) and stream.levels == memory.levels
    shape = tuple(array.shape[1:])
    _same_weights(
        genplug.train(_toy(shape), path, _config(workers=0), progress=False),
        genplug.train(_toy(shape), memory, _config(), progress=False),
    )


def test_a_token_npy_streams_with_its_vocabulary(tmp_path):
    path = tmp_path / "tokens.npy"
    np.save(path, np.arange(60, dtype=np.int32).reshape(20, 3) % 7)
    stream = open_data(path)
    assert stream.kind == "tokens" and stream.vocab_size == 7 and stream[0].dtype == torch.long
    np.save(path, -np.ones((4, 3), dtype=np.int32))
    with pytest.raises(genplug.GenplugError, match="negative or no token ids"):
        open_data(path)


def test_resuming_a_streamed_run_is_bit_identical(folder, tmp_path):
    straight = genplug.train(_toy((3, 5, 6)), folder, _config(workers=1), out=tmp_path / "a", progress=False)
    genplug.train(_toy((3, 5, 6)), folder, _config(steps=6, workers=1), out=tmp_path / "b", progress=False)
    resumed = genplug.train(
        _toy((3, 5, 6)), folder, _config(workers=2), out=tmp_path / "b", resume=True, progress=False
    )  # more workers on resume: how data is read may change, what is read may not
    _same_weights(straight, resumed)


def test_a_stream_reads_only_the_images_a_batch_asks_for(folder):
    (folder / "039.png").write_bytes(b"not a png")  # opening the folder does not read it
    stream = open_data(folder, "train" if 39 in split_indices(40, "train") else "test")
    bad = [i for i in range(len(stream)) if int(stream.rows[i]) == 39]
    good = [i for i in range(len(stream)) if i not in bad]
    assert stream.__getitems__(good).shape == (len(good), 3, 5, 6)
    with pytest.raises(genplug.GenplugError, match="cannot read image .*039.png"):
        stream.__getitems__(good + bad)


def test_an_image_of_another_size_is_named_when_its_batch_is_read(folder):
    Image.fromarray(np.zeros((7, 6, 3), dtype=np.uint8)).save(folder / "039.png")
    stream = open_data(folder, "train" if 39 in split_indices(40, "train") else "test")
    with pytest.raises(genplug.GenplugError, match=r"039.png is \(3, 7, 6\).*\(3, 5, 6\); resize them to one size"):
        stream.load()


def test_a_worker_error_reaches_the_trainer_as_one_clear_error(folder):
    for file in sorted(folder.iterdir())[1:]:
        file.write_bytes(b"broken")
    with pytest.raises(genplug.GenplugError) as caught:
        genplug.train(_toy((3, 5, 6)), folder, _config(workers=1), progress=False)
    assert str(caught.value).startswith("cannot read image") and "Traceback" not in str(caught.value)


def test_prepare_sees_a_sample_in_memory_and_only_a_model_that_defines_it(folder, monkeypatch):
    from genplug import _streams

    def refuse(self):
        raise AssertionError("a model without prepare loaded a sample")

    monkeypatch.setattr(_streams.Stream, "sample", refuse)
    genplug.train(_toy((3, 5, 6)), folder, _config(steps=1, workers=0), progress=False)  # ToyGaussian: none
    monkeypatch.undo()

    seen = []

    class Prepared(type(_toy((2,)))):
        def prepare(self, data):
            seen.append((type(data).__name__, len(data), tuple(data.x.shape[1:])))

    monkeypatch.setattr(_streams, "PREPARE_EXAMPLES", 10)
    model = Prepared(_toy((3, 5, 6)).config)
    genplug.train(model, folder, _config(steps=1, workers=0), progress=False)
    assert seen == [("Data", 10, (3, 5, 6))]
