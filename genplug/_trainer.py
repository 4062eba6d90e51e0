"""The trainer every plugin shares.

``train(model, data, TrainConfig(...), out=folder)`` runs ``model.training_step`` on
seeded mini-batches with a progress bar, keeps an optional exponential moving average
(EMA) of the weights, writes a checkpoint every ``checkpoint_every`` steps and, at the end,
the model folder (EMA weights when EMA is on). ``resume=True`` continues a killed run from
its last checkpoint and ends with the same weights as a run that was never interrupted.

``out/`` after training::

    config.json, model.safetensors     the trained model (a model folder)
    checkpoint/                         the last checkpoint (a model folder plus state)
        config.json, model.safetensors  raw weights
        ema.safetensors                 EMA weights (when EMA is on)
        optimizers.safetensors          every optimizer's state
        trainer_state.json              step, train config, RNG state, recent figures
    metrics.jsonl                       one line of figures per log_every steps
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import attrs
import torch

from genplug import _files
from genplug._data import Data, load_data
from genplug._errors import GenplugError
from genplug._model import save_model


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value <= 0:
        raise GenplugError(f"TrainConfig.{attribute.name} must be positive, got {value!r}")


def _decay(instance: Any, attribute: attrs.Attribute, value: float | None) -> None:
    if value is not None and not 0.0 < value < 1.0:
        raise GenplugError(f"TrainConfig.ema is a decay in (0, 1) such as 0.999, got {value!r}")


@attrs.frozen(kw_only=True)
class TrainConfig:
    """How to train. A model class may set ``train_defaults`` (a dict) to change these."""

    steps: int = attrs.field(default=2000, validator=_positive)  # optimisation steps in all
    batch_size: int = attrs.field(default=128, validator=_positive)  # examples per step
    lr: float = attrs.field(default=1e-3, validator=_positive)  # learning rate of every optimizer
    seed: int = 0  # seeds initialisation, batch order and the training noise
    ema: float | None = attrs.field(default=None, validator=_decay)  # EMA decay, or None for no EMA
    checkpoint_every: int = attrs.field(default=500, validator=_positive)  # steps between checkpoints
    log_every: int = attrs.field(default=50, validator=_positive)  # steps between metrics.jsonl lines
    device: str = "cpu"  # "cpu", "cuda" or "cuda:N"


def config_for(model: Any, **overrides: Any) -> TrainConfig:
    """``TrainConfig`` from the model's ``train_defaults`` and the given overrides (None skipped)."""
    fields = {f.name for f in attrs.fields(TrainConfig)}
    values = dict(getattr(model, "train_defaults", {}) or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - fields)
    if unknown:
        raise GenplugError(f"unknown training option(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    return TrainConfig(**values)


def check_device(device: str) -> torch.device:
    """The torch device for ``device``, or a clear error when it is not available."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise GenplugError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GenplugError(f"device {device!r} was asked for, but this torch sees no CUDA GPU; use --device cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise GenplugError(f"device {device!r} is not supported; use cpu or cuda")
    return dev


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


class _EMA:
    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                self.state[k].lerp_(v, 1.0 - self.decay)
            else:
                self.state[k].copy_(v)


def _optimizer_tensors(optimizers: dict[str, torch.optim.Optimizer]) -> tuple[dict[str, torch.Tensor], str]:
    """Flatten optimizer state dicts into tensors plus JSON for safetensors (no pickle)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        for pid, state in sd["state"].items():
            for key, value in state.items():
                if torch.is_tensor(value):
                    tensors[f"{name}/{pid}/{key}"] = value
                else:
                    scalars[f"{name}/{pid}/{key}"] = value
        scalars[f"{name}/param_groups"] = sd["param_groups"]
    return tensors, json.dumps(scalars)


def _restore_optimizers(
    optimizers: dict[str, torch.optim.Optimizer], tensors: dict[str, torch.Tensor], meta: str
) -> None:
    scalars = json.loads(meta)
    for name, opt in optimizers.items():
        if f"{name}/param_groups" not in scalars:
            raise GenplugError(f"the checkpoint has no state for optimizer {name!r}; it comes from another model")
        state: dict[int, dict[str, Any]] = {}
        for key, value in [*tensors.items(), *scalars.items()]:
            opt_name, _, rest = key.partition("/")
            pid, _, field = rest.partition("/")
            if opt_name == name and pid != "param_groups":
                state.setdefault(int(pid), {})[field] = value
        opt.load_state_dict({"state": state, "param_groups": scalars[f"{name}/param_groups"]})


def _save_checkpoint(
    folder: Path,
    model: Any,
    optimizers: dict[str, torch.optim.Optimizer],
    ema: _EMA | None,
    generator: torch.Generator,
    step: int,
    config: TrainConfig,
    figures: dict[str, float],
) -> None:
    """Write the checkpoint to a fresh folder, then swap it in, so a kill never leaves half of one."""
    tmp = folder.with_name(folder.name + ".tmp")
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    _save(model, tmp)
    if ema is not None:
        _files.save_tensors(tmp / "ema.safetensors", ema.state)
    tensors, meta = _optimizer_tensors(optimizers)
    _files.save_tensors(tmp / "optimizers.safetensors", tensors, metadata={"scalars": meta})
    state = {
        "step": step,
        "train_config": attrs.asdict(config),
        "generator_state": generator.get_state().tolist(),
        "figures": figures,
    }
    _files.atomic_write_json(tmp / "trainer_state.json", state)
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _save(model: Any, folder: Path) -> None:
    save = getattr(model, "save_pretrained", None)
    save(folder) if callable(save) else save_model(model, folder)


def _load_weights(model: Any, folder: Path, device: torch.device) -> None:
    """Load a checkpoint's weights into ``model`` strictly (a composite's from its components)."""
    if "components" in _files.read_config(folder):
        from genplug._api import load

        tensors = load(folder, device=device).state_dict()
    else:
        tensors = _files.load_tensors(folder / _files.WEIGHTS_NAME, device=device)
    _files.check_state(model, tensors, source=str(folder))
    model.load_state_dict(tensors)


def find_checkpoint(out: Path) -> Path | None:
    for name in ("checkpoint", "checkpoint.old"):  # .old survives a kill between the two renames
        folder = out / name
        if (folder / "trainer_state.json").exists():
            return folder
    return None


def train(
    model: Any,
    data: str | Path | Data,
    config: TrainConfig | None = None,
    *,
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> Any:
    """Train ``model`` on ``data`` (a dataset name, a path, or :class:`Data`) and return it.

    Arguments:
        model: a :class:`genplug.Model` (or anything with ``training_step``,
            ``configure_optimizers`` and the model-folder members).
        data: the training data; its ``train`` split is used.
        config: a :class:`TrainConfig`; defaults come from ``model.train_defaults``.
        out: the folder for checkpoints and the final model; ``None`` writes nothing.
        resume: continue from ``out/checkpoint``; an error if there is none.
        progress: show a progress bar on a terminal.
    """
    from tqdm.auto import tqdm

    config = config or config_for(model)
    device = check_device(config.device)
    data = data if isinstance(data, Data) else load_data(data, "train")
    expected = tuple(getattr(model, "event_shape", data.shape))
    if tuple(data.shape) != expected:
        raise GenplugError(
            f"the data {data.name!r} has examples of shape {data.shape}, but the model expects "
            f"{expected}; build the model with data_shape={data.shape}."
        )
    out_dir = Path(out) if out is not None else None
    model.to(device)
    model.train()
    optimizers = model.configure_optimizers(config.lr)
    ema = _EMA(model, config.ema) if config.ema else None
    generator = torch.Generator(device).manual_seed(config.seed)
    start = 0
    figures: dict[str, float] = {}

    if resume:
        checkpoint = find_checkpoint(out_dir) if out_dir is not None else None
        if checkpoint is None:
            raise GenplugError(f"--resume: no checkpoint in {out_dir}; start the run without --resume")
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        saved = TrainConfig(**state["train_config"])
        if attrs.evolve(saved, steps=config.steps, device=config.device) != config:
            raise GenplugError(
                f"--resume: the checkpoint in {checkpoint} was trained with {saved}, not {config}; "
                "resume with the same options (only --steps and --device may change)"
            )
        _load_weights(model, checkpoint, device)
        if ema is not None:
            ema.state = _files.load_tensors(checkpoint / "ema.safetensors", device=device)
        from safetensors import safe_open

        opt_path = checkpoint / "optimizers.safetensors"
        with safe_open(str(opt_path), framework="pt", device=str(device)) as f:
            meta = (f.metadata() or {})["scalars"]
        _restore_optimizers(optimizers, _files.load_tensors(opt_path, device=device), meta)
        generator.set_state(torch.tensor(state["generator_state"], dtype=torch.uint8))
        start = state["step"]
        figures = state.get("figures", {})

    x = data.x.to(device)
    log_file = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        log_file = (out_dir / "metrics.jsonl").open("a" if resume else "w")
    bar = tqdm(total=config.steps, initial=start, disable=not progress or None, desc=f"train {model.architecture}")
    running: dict[str, float] = {}
    try:
        for step in range(start, config.steps):
            batch = x[batch_indices(step, len(x), config.batch_size, config.seed).to(device)]
            figures = model.training_step(batch, optimizers, generator=generator)
            if ema is not None:
                ema.update(model)
            for k, v in figures.items():
                if not math.isfinite(v):
                    raise GenplugError(f"training diverged at step {step + 1}: {k}={v}; lower the learning rate (--lr)")
                running[k] = v if k not in running else 0.9 * running[k] + 0.1 * v
            bar.update(1)
            if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
                bar.set_postfix({k: f"{v:.4g}" for k, v in running.items()})
                if log_file is not None:
                    log_file.write(json.dumps({"step": step + 1, **figures}) + "\n")
                    log_file.flush()
            if out_dir is not None and ((step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps):
                _save_checkpoint(out_dir / "checkpoint", model, optimizers, ema, generator, step + 1, config, figures)
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()
    if ema is not None:
        model.load_state_dict(ema.state)
    model.eval()
    if out_dir is not None:
        _save(model, out_dir)
    return model
