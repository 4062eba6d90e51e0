"""The training loop: ``genplug.train`` and ``genplug train`` are the same function.

``train(model, data, config, out=folder)`` runs ``model.training_step`` on seeded
mini-batches with a progress bar, keeps an optional exponential moving average (EMA) of
the weights, writes a checkpoint every ``checkpoint_every`` steps and, at the end, the
model folder (EMA weights when EMA is on). ``model`` may be a model object or the name of
an installed architecture (built from ``model_config``, its ``data_shape`` taken from the
data, its initial weights seeded by ``config.seed``). ``resume=True`` continues a killed
run from its last checkpoint and ends with the same weights as a run that was never
interrupted.

Under ``torchrun`` (or in a process group the caller started) the same call trains in
every process: each reads its slice of each step's batch (``batch_size`` is the batch of
all processes together), the gradients are summed before every optimizer step (see
:mod:`genplug._training.steps`), and rank 0 alone writes the folder below.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import torch

from genplug import _folder
from genplug._api import architecture_class, construct
from genplug._configs import as_tuples, config_from_dict
from genplug._data import Data
from genplug._errors import GenplugError, shown
from genplug._files import atomic_write_json
from genplug._model import Model
from genplug._streams import Stream, open_data
from genplug._training.batches import batch_indices, batches, cores, step_size
from genplug._training.checkpoint import EMA, find_checkpoint, random_states, read_state, restore, save_checkpoint
from genplug._training.config import RUN_FIELDS, TrainConfig, config_for
from genplug._training.distributed import Group, broadcast_module, gather, join, mean_figures, rank_seed
from genplug._training.outdir import LOCK_NAME, clean_leftovers, locked, preview, rewind_metrics
from genplug._training.steps import Stepper

__all__ = ["LOCK_NAME", "batch_indices", "configure_optimizers", "train"]


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
            A folder of images or a ``.npy`` file is read from disk as training goes.
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
    group, device = join(config.device)
    _set_threads(config, group)
    data = open_data(data, "train")
    if len(data) == 0:
        raise GenplugError(f"the data {shown(data.name)} has no examples to train on")
    writes = out_dir if group.main else None  # rank 0 alone writes
    created = writes is not None and not writes.exists()
    if writes is not None:
        writes.mkdir(parents=True, exist_ok=True)
    try:
        with locked(writes) if writes is not None else contextlib.nullcontext():
            if writes is not None:
                clean_leftovers(writes)
            group.barrier()  # the others read a checkpoint only once rank 0 has cleaned up
            if isinstance(model, str):
                architecture = model
                model = _build(model, data, model_config or {}, out_dir, resume, config.seed)
            else:
                architecture = getattr(model, "architecture", type(model).__name__)
            started = time.perf_counter()
            first = _loop(model, data, config, device, group, out_dir, resume, progress, tqdm)
            if writes is not None:
                record = {
                    "command": command,
                    "architecture": architecture,
                    "data": data.name,
                    "train_config": attrs.asdict(config),
                    "steps": config.steps,
                    "seconds": round(time.perf_counter() - started, 1),  # wall time of this run: first..steps
                    "first_step": first,
                    "threads": torch.get_num_threads(),
                    "processes": group.world,
                }
                atomic_write_json(writes / "training.json", record)
    except BaseException:
        if created and writes is not None and find_checkpoint(writes) is None:
            shutil.rmtree(writes, ignore_errors=True)  # a run that failed before its first checkpoint: nothing
        raise
    return model


def _set_threads(config: TrainConfig, group: Group) -> None:
    """``config.threads``, or with several processes on this machine its cores shared among
    them (torchrun would leave each one thread); one process keeps torch's own setting."""
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    elif group.local_world > 1:
        torch.set_num_threads(max(1, cores() // group.local_world))


def _workers(config: TrainConfig, data: Any, group: Group) -> int:
    """Reader processes for data on disk: ``config.workers``, or up to 4 from the cores left."""
    if isinstance(data, Data):
        return 0
    if config.workers is not None:
        return config.workers
    return min(4, max(1, cores() // group.local_world // 2))


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


def _compile(model: Any) -> None:
    """``torch.compile`` each submodule in place (a ``training_step`` calls them, not the
    model's ``forward``); the weights' names do not change."""
    children = list(model.children())
    for module in children or [model]:
        module.compile()


def _resume(
    model: Any, optimizers: dict, ema: EMA | None, generator: torch.Generator, stepper: Stepper,
    config: TrainConfig, device: torch.device, group: Group, out_dir: Path | None,
) -> tuple[int, dict[str, float]]:  # fmt: skip
    """Check that the checkpoint in ``out_dir`` was trained as ``config`` says, and load it."""
    checkpoint = find_checkpoint(out_dir) if out_dir is not None else None
    if checkpoint is None:
        raise GenplugError(f"--resume: no checkpoint in {out_dir}; start the run without --resume")
    state = read_state(checkpoint)
    saved = TrainConfig(**state["train_config"])
    if attrs.evolve(saved, **{name: getattr(config, name) for name in RUN_FIELDS}) != config:
        raise GenplugError(
            f"--resume: the checkpoint in {checkpoint} was trained with {saved}, not {config}; "
            f"resume with the same options (only {', '.join(RUN_FIELDS)} may change)"
        )
    if config.steps < int(state["step"]):
        raise GenplugError(
            f"--resume: the checkpoint in {checkpoint} is at step {state['step']}, past --steps {config.steps}; "
            f"give --steps {state['step']} or more"
        )
    start, figures = restore(checkpoint, model, optimizers, ema, generator, device, rank=group.rank, world=group.world)
    if stepper.loss_scale is not None and "loss_scale" in state:
        stepper.loss_scale.load(state["loss_scale"])
    _keep_prepared_config(model, checkpoint)
    return start, figures


def _loop(
    model: Any,
    data: Data | Stream,
    config: TrainConfig,
    device: torch.device,
    group: Group,
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
    total = step_size(len(data), config.batch_size)
    if total < group.world * config.accumulate:
        raise GenplugError(
            f"a step of {total} examples cannot be cut in {group.world} process(es) x {config.accumulate} "
            f"micro-batch(es); give --batch-size {group.world * config.accumulate} or more"
        )
    if getattr(data, "tokenizer", None) is not None and getattr(model, "tokenizer", "absent") is None:
        model.tokenizer = data.tokenizer  # saved with the model, so its samples decode to text
    label = _label_condition(model, data)
    keywords = _step_keywords(model)
    model.to(device)
    prepare = getattr(model, "prepare", None)
    if not resume and callable(prepare) and getattr(type(model), "prepare", None) is not Model.prepare:
        # once, on a fresh run: e.g. statistics measured on the data (of a stream, a sample in memory)
        prepare(data if isinstance(data, Data) else data.sample())
    model.train()
    if config.compile:
        _compile(model)
    optimizers = configure_optimizers(model, config)
    stepper = Stepper(
        optimizers, group=group, accumulate=config.accumulate, precision=config.precision,
        clip_grad=config.clip_grad, device=device,
    )  # fmt: skip
    modules = getattr(model, "ema_modules", None)
    ema = EMA(model, config.ema, modules=modules, warmup=config.ema_warmup) if config.ema else None
    generator = torch.Generator(device).manual_seed(rank_seed(config.seed, group.rank))
    torch.manual_seed(rank_seed(config.seed, group.rank))  # torch's global generator: dropout draws from it
    start = 0
    figures: dict[str, float] = {}
    if resume:
        start, figures = _resume(model, optimizers, ema, generator, stepper, config, device, group, out_dir)
    else:
        broadcast_module(model, group)  # every process starts from rank 0's weights

    stream = batches(
        data, labels=label is not None, batch_size=config.batch_size, seed=config.seed, start=start,
        steps=config.steps, rank=group.rank, world=group.world, workers=_workers(config, data, group), device=device,
    )  # fmt: skip
    writes = out_dir if group.main else None
    log_file = None
    if writes is not None:
        metrics = writes / "metrics.jsonl"
        if resume:
            rewind_metrics(metrics, start)
        log_file = metrics.open("a" if resume else "w")
    bar = tqdm(
        total=config.steps, initial=start, disable=not progress or not group.main or None,
        desc=f"train {model.architecture}",
    )  # fmt: skip
    running: dict[str, float] = {}
    extra: dict[str, Any] = {"total": config.steps} if "total" in keywords else {}  # and the step, below

    def one_step(x: torch.Tensor, y: torch.Tensor | None) -> dict[str, float]:
        labels = {label: y} if label is not None else {}
        return model.training_step(x, optimizers, generator=generator, **extra, **labels)

    try:
        for step in range(start, config.steps):
            for optimizer in optimizers.values():
                for param_group in optimizer.param_groups:
                    param_group["lr"] = param_group["initial_lr"] * config.lr_factor(step)
            if "step" in keywords:
                extra["step"] = step
            x, y = next(stream)
            figures = stepper.run(one_step, x, y, total)
            if ema is not None:
                ema.update(model)
            for k, v in figures.items():
                if not math.isfinite(v):
                    raise GenplugError(f"training diverged at step {step + 1}: {k}={v}; lower the learning rate (--lr)")
                running[k] = v if k not in running else 0.9 * running[k] + 0.1 * v
            bar.update(1)
            done = step + 1
            previews = bool(config.preview_every) and out_dir is not None and done % config.preview_every == 0
            if done % config.log_every == 0 or done == config.steps or previews:
                line = mean_figures(figures, group)  # every process takes part; rank 0 writes
                if previews and writes is not None:
                    line.update(preview(model, writes, done, config.seed))
                    model.train()
                bar.set_postfix({k: f"{v:.4g}" for k, v in running.items()})
                if log_file is not None:
                    log_file.write(json.dumps({"step": done, **line}) + "\n")
                    log_file.flush()
            if out_dir is not None and (done % config.checkpoint_every == 0 or done == config.steps):
                states = gather(random_states(generator), group)
                if writes is not None:
                    scale = {"loss_scale": stepper.loss_scale.state()} if stepper.loss_scale is not None else {}
                    save_checkpoint(
                        writes / "checkpoint", model, optimizers, ema, generator, done, config, figures,
                        rank_states=states, extra=scale,
                    )  # fmt: skip
    finally:
        bar.close()
        stream.close()
        if log_file is not None:
            log_file.close()
            if os.path.getsize(writes / "metrics.jsonl") == 0 and find_checkpoint(writes) is None:
                (writes / "metrics.jsonl").unlink()
    if ema is not None:
        ema.apply(model)
    model.eval()
    if writes is not None:  # the final folder: the inference modules alone when the model names them
        _folder.save(model, writes, modules=getattr(model, "inference_modules", None))
    group.barrier()  # every process returns once the folder is written
    return start
