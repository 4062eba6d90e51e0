"""The Hub: the real ``huggingface_hub`` client against a Hub-compatible server on 127.0.0.1.

Nothing in ``huggingface_hub`` is mocked: every test goes through HTTP to
:class:`hub_server.HubServer`, which records the requests it receives.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from hub_server import HubServer, hub_environment

import genplug
from genplug._cli.hub import download, push
from genplug._hub.card import model_card
from genplug._hub.push import push_folder
from genplug._hub.transport import snapshot

# huggingface_hub 2.4 PUTs LFS bytes with httpx2's data= (its own deprecation), not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture(scope="module")
def hub_server():
    with HubServer() as server:
        yield server


@pytest.fixture
def hub(hub_server, monkeypatch, tmp_path):
    """The test Hub, with HF_ENDPOINT pointing at it and an empty HF cache in tmp_path."""
    hub_environment(monkeypatch, hub_server, tmp_path / "hf")
    return hub_server


def new_repo(name: str = "model") -> str:
    return f"alice/{name}-{uuid.uuid4().hex[:8]}"


def toy_model(seed: int, data_shape: tuple[int, ...] = (2,)):
    """A toy-gaussian whose every tensor holds seeded random values."""
    model = genplug.create("toy-gaussian", data_shape=data_shape)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.copy_(torch.randn(tensor.shape, generator=g))
    return model


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def load_error(ref: str, **kwargs) -> str:
    with pytest.raises(genplug.ModelFileError) as info:
        genplug.load(ref, **kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def commit_files(hub: HubServer, repo_id: str, files: dict[str, bytes]) -> str:
    """Create ``repo_id`` holding ``files`` with the real client (for repos genplug would not push)."""
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=hub.url)
    api.create_repo(repo_id, exist_ok=True)
    ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=data) for p, data in files.items()]
    return api.create_commit(repo_id, ops, commit_message="by hand").oid


def toy_files(tmp_path: Path, seed: int = 0) -> dict[str, bytes]:
    """The files of a saved toy model: name -> bytes."""
    toy_model(seed).save_pretrained(tmp_path / "toy-files")
    return {p.name: p.read_bytes() for p in (tmp_path / "toy-files").iterdir()}


# -- push and load ------------------------------------------------------------------------


def test_push_then_load_gives_identical_tensors(hub):
    repo = new_repo()
    model = toy_model(seed=1)
    commit = model.push_to_hub(repo)

    assert commit == hub.head(repo)
    files = hub.files(repo)
    assert {"config.json", "model.safetensors", "README.md"} <= set(files)
    loaded = genplug.load(repo)
    assert type(loaded) is type(model)
    assert same_weights(loaded, model)
    assert loaded.config == model.config


def test_load_fetches_into_the_hf_cache(hub, tmp_path):
    repo = new_repo()
    commit = toy_model(seed=2).push_to_hub(repo)
    folder = snapshot(repo)
    cache = tmp_path / "hf" / "hub"
    assert folder == cache / f"models--{repo.replace('/', '--')}" / "snapshots" / commit
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]  # no card, no samples
    assert (cache / f"models--{repo.replace('/', '--')}" / "refs" / "main").read_text() == commit


def test_push_model_card_has_metadata_and_says_what_is_missing(hub):
    repo = new_repo()
    toy_model(seed=3).push_to_hub(repo)
    card = hub.files(repo)["README.md"].decode()
    front, _, body = card.removeprefix("---\n").partition("\n---\n")
    meta = front.splitlines()
    assert "library_name: genplug" in meta
    assert "license: other" in meta
    assert {"- genplug", "- toy-gaussian", "- genplug-toy"} <= set(meta)
    assert f'genplug.load("{repo}")' in body
    assert "was not recorded" in body  # no training.json
    assert "has not been evaluated" in body  # no eval.json
    assert "data_shape" in body
    # 2-D points: a scatter plot drawn at push time, seeded
    assert png_size(hub.files(repo)["samples.png"]) == (512, 512)
    assert "seed 0" in body


def test_push_folder_card_uses_training_and_eval_records(hub, tmp_path):
    folder = tmp_path / "run"
    toy_model(seed=4, data_shape=(1, 4, 4)).save_pretrained(folder)
    command = "genplug train toy-gaussian --data digits --steps 20 --out run"
    training = {"command": command, "data": "digits", "train_config": {"steps": 20, "lr": 0.05, "seed": 0}}
    evaluation = {
        "architecture": "toy-gaussian",
        "weights": "run",
        "data": "digits",
        "n": 100,
        "seed": 0,
        "sampler": None,
        "steps": None,
        "fd_digits": 12.5,
        "nll_nats": 3.25,
        "nll_kind": "exact",
    }
    (folder / "training.json").write_text(json.dumps(training))
    (folder / "eval.json").write_text(json.dumps(evaluation))
    (folder / "checkpoint").mkdir()  # a trainer's leftovers stay local
    (folder / "checkpoint" / "state.safetensors").write_bytes(b"not uploaded")
    repo = new_repo()

    commit = push_folder(folder, repo, card_info={"license": "bsd-3-clause"})

    files = hub.files(repo, commit)
    assert set(files) == {
        ".gitattributes",
        "config.json",
        "model.safetensors",
        "training.json",
        "eval.json",
        "samples.png",
        "README.md",
    }
    card = files["README.md"].decode()
    assert "license: bsd-3-clause" in card
    assert "pipeline_tag: unconditional-image-generation" in card
    assert f"```bash\n{command}\n```" in card
    assert "| fd_digits | 12.5 |" in card and "| nll_nats | 3.25 |" in card and "| nll_kind | exact |" in card
    assert f"genplug eval toy-gaussian --weights {repo} --data digits -n 100 --seed 0" in card
    width, height = png_size(files["samples.png"])  # 64 tiles of 4x4 scaled to 32x32, 8 by 8, 2 px gutters
    assert (width, height) == (8 * 34 + 2, 8 * 34 + 2)
    assert json.loads(files["training.json"]) == training


def test_push_keeps_a_readme_of_the_folder(hub, tmp_path):
    folder = tmp_path / "m"
    toy_model(seed=5).save_pretrained(folder)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# my own card\n")
    repo = new_repo()
    push_folder(folder, repo, samples=False)
    assert hub.files(repo)["README.md"] == b"---\nlicense: mit\n---\n# my own card\n"
    assert "samples.png" not in hub.files(repo)


def test_push_refuses_a_folder_without_safetensors_before_any_request(hub, tmp_path):
    folder = tmp_path / "pickled"
    toy_model(seed=6).save_pretrained(folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    before = len(hub.requests)
    with pytest.raises(genplug.ModelFileError, match=r"model\.safetensors does not exist.*pytorch_model\.bin.*pickles"):
        push_folder(folder, new_repo())
    (folder / "model.safetensors").write_bytes(b"\x00" * 4)
    with pytest.raises(genplug.ModelFileError, match="is not a readable safetensors file"):
        push_folder(folder, new_repo())
    assert hub.requests[before:] == []


def test_model_card_of_an_architecture_not_installed_here():
    doc = {
        "format_version": 1,
        "architecture": "ghost-net",
        "plugin": {"name": "genplug-ghost", "version": "0.3.0"},
        "genplug_version": "0.1.0",
        "config": {"data_shape": [2]},
    }
    card = model_card(doc, repo_id="org/ghost")
    assert "- genplug-ghost" in card and "- ghost-net" in card
    assert "pip install genplug genplug-ghost" in card


# -- revisions, cache, offline ----------------------------------------------------------------


def test_revision_pinning_branch_and_tag(hub):
    from huggingface_hub import HfApi

    repo = new_repo()
    v1, v2, v3 = toy_model(seed=10), toy_model(seed=11), toy_model(seed=12)
    first = v1.push_to_hub(repo)
    second = v2.push_to_hub(repo, commit_message="second")
    assert first != second
    on_dev = v3.push_to_hub(repo, revision="dev")
    HfApi(endpoint=hub.url).create_tag(repo, tag="v1.0", revision=first)

    assert same_weights(genplug.load(repo), v2)
    assert same_weights(genplug.load(f"{repo}@{first}"), v1)
    assert same_weights(genplug.load(f"{repo}@{second}"), v2)
    assert same_weights(genplug.load(f"{repo}@dev"), v3)
    assert same_weights(genplug.load(f"{repo}@{on_dev}"), v3)
    assert same_weights(genplug.load(f"{repo}@v1.0"), v1)
    assert same_weights(genplug.load(f"hub:{repo}@main"), v2)


def test_a_cached_commit_loads_without_any_network_call(hub, monkeypatch):
    repo = new_repo()
    model = toy_model(seed=13)
    commit = model.push_to_hub(repo)
    toy_model(seed=14).push_to_hub(repo)
    genplug.load(f"{repo}@{commit}")  # fills the cache

    before = len(hub.requests)
    assert same_weights(genplug.load(f"{repo}@{commit}"), model)
    assert hub.requests[before:] == []
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())  # and no Hub at all
    assert same_weights(genplug.load(f"{repo}@{commit}"), model)


def test_offline_mode_loads_from_the_cache(hub, monkeypatch):
    repo = new_repo()
    model = toy_model(seed=15)
    model.push_to_hub(repo)
    genplug.load(repo)

    before = len(hub.requests)
    assert same_weights(genplug.load(repo, local_files_only=True), model)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert same_weights(genplug.load(repo), model)
    assert hub.requests[before:] == []

    message = load_error(new_repo("never-fetched"))
    assert "offline mode is on" in message and "genplug download" in message


def test_branch_falls_back_to_the_cache_when_the_hub_is_unreachable(hub, monkeypatch, caplog):
    repo = new_repo()
    model = toy_model(seed=16)
    model.push_to_hub(repo)
    genplug.load(repo)
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    with caplog.at_level(logging.WARNING, logger="genplug"):
        assert same_weights(genplug.load(repo), model)
    assert "cannot reach the Hub" in caplog.text and "using the cached copy" in caplog.text


def test_a_local_folder_wins_over_the_hub_id_and_hub_prefix_forces_the_hub(hub, monkeypatch, tmp_path, caplog):
    repo = new_repo()
    remote, local = toy_model(seed=17), toy_model(seed=18)
    remote.push_to_hub(repo)
    monkeypatch.chdir(tmp_path)
    local.save_pretrained(tmp_path / repo)
    with caplog.at_level(logging.WARNING, logger="genplug"):
        assert same_weights(genplug.load(repo), local)
    assert f"hub:{repo}" in caplog.text
    assert same_weights(genplug.load(f"hub:{repo}"), remote)


# -- errors ----------------------------------------------------------------------------------


def test_repo_not_found(hub):
    message = load_error("nobody/nothing-here")
    assert "'nobody/nothing-here' was not found" in message and "HF_TOKEN" in message


def test_revision_not_found(hub):
    repo = new_repo()
    toy_model(seed=20).push_to_hub(repo)
    message = load_error(f"{repo}@no-such-branch")
    assert "revision 'no-such-branch' was not found" in message


def test_file_missing_in_the_repo(hub, tmp_path):
    repo = new_repo()
    commit_files(hub, repo, {"config.json": toy_files(tmp_path)["config.json"]})
    message = load_error(repo)
    assert "has no model.safetensors" in message and f"genplug push DIR {repo}" in message
    repo = new_repo()
    commit_files(hub, repo, {"notes.txt": b"hello"})
    assert "has no config.json, so it is not a genplug model repository" in load_error(repo)


def test_no_network(hub, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv("HF_ENDPOINT", url)
    message = load_error("alice/anything")
    assert f"cannot reach the Hub at {url}" in message
    assert "HF_HUB_OFFLINE=1" in message and "cache" in message


def test_architecture_not_installed_names_the_pip_line(hub, tmp_path):
    from safetensors.torch import save_file

    folder = tmp_path / "ghost"
    folder.mkdir()
    doc = {
        "format_version": 1,
        "architecture": "ghost-net",
        "plugin": {"name": "genplug-ghost", "version": "0.3.0"},
        "genplug_version": "0.1.0",
        "config": {},
    }
    (folder / "config.json").write_text(json.dumps(doc))
    save_file({"w": torch.zeros(2)}, str(folder / "model.safetensors"))
    repo = new_repo("ghost")
    push_folder(folder, repo)  # no sample grid (cannot load it here), still uploaded

    message = load_error(repo)
    assert "Fix: pip install genplug-ghost==0.3.0" in message
    result = CliRunner().invoke(download, [repo])
    assert result.exit_code == 0, result.output
    assert "pip install genplug-ghost==0.3.0" in result.output


def test_a_pickle_only_repo_is_refused_with_the_reason(hub, tmp_path):
    repo = new_repo("pickled")
    files = toy_files(tmp_path)
    commit_files(hub, repo, {"config.json": files["config.json"], "pytorch_model.bin": b"\x80\x04pickle"})
    message = load_error(repo)
    assert "only as pytorch_model.bin" in message
    assert "safetensors only" in message and "arbitrary code" in message
    assert not any(path.endswith("pytorch_model.bin") for _, path in hub.requests if _ in ("GET", "HEAD"))


# -- hybrids --------------------------------------------------------------------------------


def hybrid_folder(root: Path) -> Path:
    folder = root / "hybrid"
    toy_model(seed=30).save_pretrained(folder / "encoder")
    toy_model(seed=31, data_shape=(3,)).save_pretrained(folder / "prior")
    toy = {"architecture": "toy-gaussian", "plugin": {"name": "genplug-toy", "version": "0.0.1"}}
    index = {
        "format_version": 1,
        "architecture": "composite",
        "components": {"encoder": {"path": "encoder", **toy}, "prior": {"path": "prior", **toy}},
    }
    (folder / "config.json").write_text(json.dumps(index))
    return folder


def test_hybrid_push_and_download_fetch_every_component(hub, tmp_path, monkeypatch):
    local = hybrid_folder(tmp_path)
    repo = new_repo("hybrid")
    commit = push_folder(local, repo)
    remote = hub.files(repo)
    for part in ("encoder", "prior"):
        assert remote[f"{part}/model.safetensors"] == (local / part / "model.safetensors").read_bytes()

    result = CliRunner().invoke(download, [repo])
    assert result.exit_code == 0, result.output
    assert commit in result.output
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = snapshot(repo)
    for path in ("config.json", "encoder/config.json", "encoder/model.safetensors", "prior/model.safetensors"):
        assert (folder / path).read_bytes() == (local / path).read_bytes()


def test_a_composite_round_trip_through_the_hub(hub, monkeypatch):
    model = genplug.compose(encoder=toy_model(seed=32), prior=toy_model(seed=33))
    repo = new_repo("composite")
    model.push_to_hub(repo)
    assert {"encoder/model.safetensors", "prior/model.safetensors"} <= set(hub.files(repo))

    loaded = genplug.load(repo)
    assert isinstance(loaded, genplug.Composite)
    assert same_weights(loaded.encoder, model.encoder) and same_weights(loaded.prior, model.prior)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert same_weights(genplug.load(repo).prior, model.prior)


def test_hybrid_with_a_missing_component_file(hub, tmp_path):
    local = hybrid_folder(tmp_path)
    repo = new_repo("broken-hybrid")
    commit_files(
        hub,
        repo,
        {
            p: (local / p).read_bytes()
            for p in ("config.json", "encoder/config.json", "encoder/model.safetensors", "prior/config.json")
        },
    )
    with pytest.raises(genplug.ModelFileError, match=r"has no prior/model\.safetensors"):
        snapshot(repo)


# -- the commands ---------------------------------------------------------------------------


def test_cli_push_then_download_then_offline_load(hub, tmp_path, monkeypatch):
    folder = tmp_path / "m"
    model = toy_model(seed=40)
    model.save_pretrained(folder)
    repo = new_repo("cli")
    runner = CliRunner()

    result = runner.invoke(push, [str(folder), repo, "--revision", "exp", "-m", "first try", "--license", "mit"])
    assert result.exit_code == 0, result.output
    commit = hub.head(repo, "exp")
    assert commit in result.output
    assert "license: mit" in hub.files(repo, "exp")["README.md"].decode()

    result = runner.invoke(download, [f"{repo}@exp"])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert same_weights(genplug.load(f"{repo}@exp"), model)


def test_cli_errors_are_one_line(hub, tmp_path, monkeypatch):
    runner = CliRunner()
    result = runner.invoke(download, ["nobody/nothing-here"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: Hub repository 'nobody/nothing-here' was not found")
    assert result.output.count("\n") == 1

    result = runner.invoke(download, ["toy-gaussian"])
    assert result.exit_code == 1 and "nothing to download" in result.output

    folder = tmp_path / "m"
    toy_model(seed=41).save_pretrained(folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(hub.requests)
    result = runner.invoke(push, [str(folder), new_repo(), "--no-samples"])
    assert result.exit_code == 1 and "offline mode is on" in result.output
    assert hub.requests[before:] == []
    monkeypatch.delenv("HF_HUB_OFFLINE")

    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    result = runner.invoke(push, [str(folder), new_repo(), "--no-samples"])
    assert result.exit_code == 1
    assert "cannot reach the Hub" in result.output and result.output.count("\n") == 1


def test_hub_modules_import_neither_torch_nor_huggingface_hub():
    code = (
        "import sys, genplug._hub.transport, genplug._hub.card, genplug._cli.hub; "
        "print(sorted(m for m in ('torch', 'huggingface_hub') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
