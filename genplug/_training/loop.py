"""The training loop: ``genplug.train`` and ``genplug train`` are the same function.

``train(model, data, config, out=folder)`` runs ``model.training_step`` on seeded
mini-batches with a progress bar, keeps an optional exponential moving average (EMA) of
the weights, writes a checkpoint every ``checkpoint_every`` steps and, at the end, the
model folder (EMA weights when EMA is on). ``model`` may be a model object or the name of
an installed architecture (built from ``model_config``, its ``data_shape`` taken from the
data, its initial weights seeded by ``config.seed``). ``resume=True`` continues a killed
run from its last checkpoint and ends with the same weights as a run that was never
interrupted.

``out/`` after training::

    config.json, model.safetensors     the trained model (a model folder)
    checkpoint/                         the last checkpoint (see genplug._training.checkpoint)
    metrics.jsonl                       one line of figures per log_every steps
    training.json                       how it was trained: command, data, configs

Two runs cannot share one ``out`` folder (the second is refused while the first holds
its lock), a run that fails before its first checkpoint leaves no folder behind, and a
resumed run rewrites ``metrics.jsonl`` from the checkpoint's step on.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import torch

from genplug import _folder
from genplug._api import architecture_class, construct, resolve_device, sample
from genplug._configs import as_tuples, config_from_dict
from genplug._data import Data, load_data
from genplug._errors import GenplugError, shown
from genplug._files import atomic_write_bytes, atomic_write_json
from genplug._images import save_samples
from genplug._metrics import image_scores
from genplug._training.checkpoint import EMA, find_checkpoint, read_state, restore, save_checkpoint
from genplug._training.config import TrainConfig, config_for

__all__ = ["batch_indices", "configure_optimizers", "train"]

LOCK_NAME = ".genplug-train.lock"


def batches_per_epoch(n: int, batch_size: int) -> int:
    return max(1, n // batch_size)


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> torch.Tensor:
    """The example indices of ``step``: a seeded permutation per epoch, cut in batches.

    A pure function of its arguments, so a resumed run sees the same batches.
    """
    per_epoch = batches_per_epoch(n, batch_size)
    epoch, k = divmod(step, per_epoch)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    if batch_size >= n:
        return order
    return order[k * batch_size : (k + 1) * batch_size]


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock for the run; a second run on the same folder is refused at once."""
    try:
        import fcntl
    except ImportError:  # not on this platform: no lock
        yield
        return
    path = out / LOCK_NAME
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GenplugError(
                f"another training run is writing to {out}; wait for it to end, or give this one another --out"
            ) from None
        yield
    finally:
        handle.close()
        path.unlink(missing_ok=True)


def _clean_leftovers(out: Path) -> None:
    """Remove what a killed run may have left: a half-written checkpoint and atomic-write temporaries."""
    shutil.rmtree(out / "checkpoint.tmp", ignore_errors=True)
    for tmp in out.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def _rewind_metrics(path: Path, step: int) -> None:
    """Keep the lines of ``metrics.jsonl`` up to ``step``, so a resumed run writes no duplicates."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except (ValueError, AttributeError):
            continue  # a line cut by the kill
    atomic_write_bytes(path, "".join(f"{line}\n" for line in kept).encode())


def _build(
    architecture: str,
    data: Data,
    model_config: Mapping[str, Any],
    out: Path | None,
    resume: bool,
    seed: int,
) -> Any:
    """The model of ``architecture`` for ``data``: from the checkpoint's config when resuming."""
    cls = architecture_class(architecture)
    overrides = dict(model_config)
    if resume:
        checkpoint = find_checkpoint(out) if out is not None else None
        if checkpoint is None:
            raise GenplugError(f"--resume: no checkpoint in {out}; start the run without --resume")
        saved = _folder.read(checkpoint)
        if saved.architecture != architecture:
            raise GenplugError(f"--resume: the checkpoint in {checkpoint} is a {saved.architecture!r} model")
        clash = {k: v for k, v in overrides.items() if as_tuples(saved.config.get(k)) != as_tuples(v)}
        if clash:
            raise GenplugError(f"--resume: {clash} differs from the checkpoint's config {saved.config}")
        config = config_from_dict(cls.config_class, saved.config, source=saved.source)
    else:
        fields = attrs.fields_dict(cls.config_class)
        if "data_shape" in fields and "data_shape" not in overrides:
            overrides["data_shape"] = list(data.shape)
        for name in ("levels", "vocab_size"):  # what the data knows of itself, unless given (classes: opt in)
            if name in fields and name not in overrides and getattr(data, name, None) is not None:
                overrides[name] = getattr(data, name)
        config = config_from_dict(cls.config_class, overrides, source="--config", from_file=False)
    torch.manual_seed(seed)  # the initial weights
    return construct(cls, config, source=f"genplug train {architecture}")


def train(
    model: Any,
    data: str | Path | Data,
    config: TrainConfig | Mapping[str, Any] | None = None,
    *,
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    model_config: Mapping[str, Any] | None = None,
    command: str | None = None,
) -> Any:
    """Train ``model`` on ``data`` and return it.

    Arguments:
        model: a :class:`genplug.Model` (or anything with ``training_step``,
            ``configure_optimizers`` and the model-folder members), or the name of an
            installed architecture to build.
        data: a dataset name, a path, or :class:`genplug.Data`; its ``train`` split is used.
        config: a :class:`TrainConfig`, or a dict of options over the model's
            ``train_defaults`` (``{"steps": 500}``); ``None`` takes the defaults.
        out: the folder for checkpoints, metrics and the final model; ``None`` writes nothing.
        resume: continue from ``out/checkpoint``; an error if there is none.
        progress: show a progress bar on a terminal.
        model_config: config fields when ``model`` is an architecture name.
        command: the command line to record in ``training.json``.
    """
    from tqdm.auto import tqdm  # the progress bar, only when training

    out_dir = Path(out) if out is not None else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise GenplugError(f"--out {out_dir} is a file; give a folder")
    if model_config and not isinstance(model, str):
        raise GenplugError("model_config only applies when model is an architecture name")
    if not isinstance(config, TrainConfig):
        source = architecture_class(model) if isinstance(model, str) else model
        config = config_for(source, **dict(config or {}))
    device = resolve_device(config.device)
    data = data if isinstance(data, Data) else load_data(data, "train")
    if len(data) == 0:
        raise GenplugError(f"the data {shown(data.name)} has no examples to train on")
    created = out_dir is not None and not out_dir.exists()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with _locked(out_dir) if out_dir is not None else contextlib.nullcontext():
            if out_dir is not None:
                _clean_leftovers(out_dir)
            if isinstance(model, str):
                architecture = model
                model = _build(model, data, model_config or {}, out_dir, resume, config.seed)
            else:
                architecture = getattr(model, "architecture", type(model).__name__)
            started = time.perf_counter()
            first = _loop(model, data, config, device, out_dir, resume, progress, tqdm)
            if out_dir is not None:
                record = {
                    "command": command,
                    "architecture": architecture,
                    "data": data.name,
                    "train_config": attrs.asdict(config),
                    "steps": config.steps,
                    "seconds": round(time.perf_counter() - started, 1),  # wall time of this run: steps first..steps
                    "first_step": first,
                    "threads": torch.get_num_threads(),
                }
                atomic_write_json(out_dir / "training.json", record)
    except BaseException:
        if created and out_dir is not None and find_checkpoint(out_dir) is None:
            shutil.rmtree(out_dir, ignore_errors=True)  # a run that failed before its first checkpoint leaves nothing
        raise
    return model


def configure_optimizers(model: Any, config: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    """``model.configure_optimizers(config)``; a model written for the first contract
    (``configure_optimizers(lr)``) gets the learning rate instead."""
    params = list(inspect.signature(model.configure_optimizers).parameters)
    optimizers = model.configure_optimizers(config.lr if params[:1] == ["lr"] else config)
    if not isinstance(optimizers, dict) or not optimizers:
        raise GenplugError(
            f"{type(model).__name__}.configure_optimizers must return a dict of optimizers by name, got "
            f"{type(optimizers).__name__}"
        )
    for optimizer in optimizers.values():
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])  # the schedule scales this; saved with the optimizer
    return optimizers


def _clip(optimizers: dict[str, torch.optim.Optimizer], max_norm: float) -> None:
    """Clip each optimizer's gradients to ``max_norm`` right before it steps, whatever
    ``training_step`` does in between (two optimizers, several steps per batch)."""

    def hook(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, max_norm)

    for optimizer in optimizers.values():
        optimizer.register_step_pre_hook(hook)


def _label_condition(model: Any, data: Data) -> str | None:
    """The name of the model's class condition that the data's labels feed, if any."""
    conditions = getattr(model, "conditions", None) or {}
    names = [name for name, c in conditions.items() if getattr(c, "kind", None) == "class"]
    if not names:
        return None
    if data.y is None:
        name = getattr(model, "architecture", type(model).__name__)
        raise GenplugError(
            f"model {name!r} is conditioned on a class label ({names[0]}), but the data {shown(data.name)} has no "
            "labels; train it on labelled data such as digits"
        )
    classes = conditions[names[0]].classes
    if classes is not None and int(data.y.max()) >= classes:
        raise GenplugError(f"the data's labels go up to {int(data.y.max())}, but the model takes {classes} classes")
    return names[0]


def _step_keywords(model: Any) -> set[str]:
    params = inspect.signature(model.training_step).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return {"step", "total", "*"}
    return set(params)


def _keep_prepared_config(model: Any, checkpoint: Path) -> None:
    """A resumed run keeps the config fields its fresh run's ``prepare`` filled in (a
    latent-diffusion's latent statistics): ``prepare`` is not called again on resume."""
    cls = getattr(model, "config_class", None)
    if cls is None or not attrs.has(cls) or getattr(model, "config", None) is None:
        return
    saved = config_from_dict(cls, _folder.read(checkpoint).config, source=str(checkpoint))
    filled = {
        name: getattr(saved, name)
        for name in attrs.fields_dict(cls)
        if getattr(model.config, name) is None and getattr(saved, name) is not None
    }
    if filled:
        model.config = attrs.evolve(model.config, **filled)


def _preview(model: Any, out: Path, step: int, seed: int) -> dict[str, float]:
    """A sample grid in ``out/previews`` and, for digit-shaped models, FD: figures for metrics.jsonl."""
    shape = tuple(getattr(model, "event_shape", ()) or ())
    is_image, is_points = len(shape) == 3 and shape[0] in (1, 3), shape == (2,)
    if not (is_image or is_points):
        return {}
    rng = torch.get_rng_state()  # the preview must not change the training's random draws
    try:
        g = torch.Generator(getattr(model, "device", "cpu")).manual_seed(seed)
        x = sample(model, 64 if is_image else 1000, generator=g).float().cpu()
    finally:
        torch.set_rng_state(rng)
    folder = out / "previews"
    folder.mkdir(exist_ok=True)
    if x.is_floating_point():  # a preview: images clamped to [0, 1] for display (genplug run refuses instead)
        save_samples(x.clamp(0, 1) if is_image else x, folder / f"step-{step:07d}.png")
    figures: dict[str, float] = {}
    if shape == (1, 8, 8) and x.is_floating_point():
        scores = image_scores(x.clamp(0, 1), load_data("digits", "test"))
        figures = {"preview_fd": scores["fd"], "preview_coverage": scores["coverage"]}
    return figures


def _loop(
    model: Any,
    data: Data,
    config: TrainConfig,
    device: torch.device,
    out_dir: Path | None,
    resume: bool,
    progress: bool,
    tqdm: Any,
) -> int:
    """Run the steps; returns the step this run started from (0, or the checkpoint's)."""
    expected = tuple(getattr(model, "event_shape", data.shape))
    if tuple(data.shape) != expected:
        raise GenplugError(
            f"the data {shown(data.name)} has examples of shape {data.shape}, but the model expects "
            f"{expected}; build the model with data_shape={data.shape}."
        )
    config.model_options(model)  # the model's own options, checked before anything runs
    if getattr(data, "tokenizer", None) is not None and getattr(model, "tokenizer", "absent") is None:
        model.tokenizer = data.tokenizer  # saved with the model, so its samples decode to text
    label = _label_condition(model, data)
    keywords = _step_keywords(model)
    model.to(device)
    if not resume and callable(getattr(model, "prepare", None)):
        model.prepare(data)  # once, on a fresh run: e.g. statistics measured on the whole data
    model.train()
    optimizers = configure_optimizers(model, config)
    if config.clip_grad is not None:
        _clip(optimizers, config.clip_grad)
    modules = getattr(model, "ema_modules", None)
    ema = EMA(model, config.ema, modules=modules, warmup=config.ema_warmup) if config.ema else None
    generator = torch.Generator(device).manual_seed(config.seed)
    torch.manual_seed(config.seed)  # torch's global generator: dropout draws from it
    start = 0
    figures: dict[str, float] = {}

    if resume:
        checkpoint = find_checkpoint(out_dir) if out_dir is not None else None
        if checkpoint is None:
            raise GenplugError(f"--resume: no checkpoint in {out_dir}; start the run without --resume")
        state = read_state(checkpoint)
        saved = TrainConfig(**state["train_config"])
        if attrs.evolve(saved, steps=config.steps, device=config.device) != config:
            raise GenplugError(
                f"--resume: the checkpoint in {checkpoint} was trained with {saved}, not {config}; "
                "resume with the same options (only --steps and --device may change)"
            )
        if config.steps < int(state["step"]):
            raise GenplugError(
                f"--resume: the checkpoint in {checkpoint} is at step {state['step']}, past --steps {config.steps}; "
                f"give --steps {state['step']} or more"
            )
        start, figures = restore(checkpoint, model, optimizers, ema, generator, device)
        _keep_prepared_config(model, checkpoint)

    x = data.x.to(device)
    y = data.y.to(device) if label is not None else None
    log_file = None
    if out_dir is not None:
        metrics = out_dir / "metrics.jsonl"
        if resume:
            _rewind_metrics(metrics, start)
        log_file = metrics.open("a" if resume else "w")
    bar = tqdm(total=config.steps, initial=start, disable=not progress or None, desc=f"train {model.architecture}")
    running: dict[str, float] = {}
    try:
        for step in range(start, config.steps):
            for optimizer in optimizers.values():
                for group in optimizer.param_groups:
                    group["lr"] = group["initial_lr"] * config.lr_factor(step)
            index = batch_indices(step, len(x), config.batch_size, config.seed).to(device)
            extra: dict[str, Any] = {k: v for k, v in (("step", step), ("total", config.steps)) if k in keywords}
            if label is not None:
                extra[label] = y[index]
            figures = model.training_step(x[index], optimizers, generator=generator, **extra)
            if ema is not None:
                ema.update(model)
            for k, v in figures.items():
                if not math.isfinite(v):
                    raise GenplugError(f"training diverged at step {step + 1}: {k}={v}; lower the learning rate (--lr)")
                running[k] = v if k not in running else 0.9 * running[k] + 0.1 * v
            bar.update(1)
            line = dict(figures)
            if config.preview_every and out_dir is not None and (step + 1) % config.preview_every == 0:
                line.update(_preview(model, out_dir, step + 1, config.seed))
                model.train()
            if (step + 1) % config.log_every == 0 or step + 1 == config.steps or len(line) > len(figures):
                bar.set_postfix({k: f"{v:.4g}" for k, v in running.items()})
                if log_file is not None:
                    log_file.write(json.dumps({"step": step + 1, **line}) + "\n")
                    log_file.flush()
            if out_dir is not None and ((step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps):
                save_checkpoint(out_dir / "checkpoint", model, optimizers, ema, generator, step + 1, config, figures)
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()
            if os.path.getsize(out_dir / "metrics.jsonl") == 0 and find_checkpoint(out_dir) is None:
                (out_dir / "metrics.jsonl").unlink()
    if ema is not None:
        ema.apply(model)
    model.eval()
    if out_dir is not None:  # the final folder: the inference modules alone when the model names them
        _folder.save(model, out_dir, modules=getattr(model, "inference_modules", None))
    return start
