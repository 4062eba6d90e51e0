"""``genplug run``, ``train`` and ``eval``: thin layers over ``genplug.sample``, ``genplug.train``
and the metrics. Each checks its paths and names before torch is imported."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from genplug._api import resolve_device, sample
from genplug._cli.common import SEED, generator, load_for, parse_pairs, reg
from genplug._errors import GenplugError, shown
from genplug._files import atomic_write_json, check_output_path

__all__ = ["eval_", "run", "train"]

#: The most samples one ``genplug run`` draws (more: several runs with other seeds).
MAX_RUN_SAMPLES = 1_000_000
#: The most samples ``genplug eval`` draws: past this, FD does not move but the run takes hours.
MAX_EVAL_SAMPLES = 100_000


def _sampling_options(command: Any) -> Any:
    """``--label``, ``--condition`` and ``--sampler-option``, shared by run and eval."""
    for option in reversed(
        (
            click.option("--label", type=int, help="Class label of every sample (a model with a class condition)."),
            click.option("--prompt", help="Text every sample starts from (a model with a text condition)."),
            click.option("--condition", "condition_pairs", multiple=True, metavar="KEY=VALUE",
                         help="A condition of the model, JSON-parsed (e.g. label=3)."),
            click.option("--sampler-option", "option_pairs", multiple=True, metavar="KEY=VALUE",
                         help="An option of the sampler, JSON-parsed (e.g. eta=0.5, temperature=0.8)."),
        )
    ):  # fmt: skip
        command = option(command)
    return command


def _progress_option(command: Any) -> Any:
    """``--progress/--no-progress``, shared by run and eval."""
    return click.option(
        "--progress/--no-progress", default=None,
        help="Count the model's network calls on stderr (default: when stderr is a terminal, or GENPLUG_PROGRESS=1).",
    )(command)  # fmt: skip


def _conditions(model: Any, label: int | None, prompt: str | None, pairs: tuple[str, ...]) -> dict[str, Any]:
    """The conditions from ``--condition``, ``--label`` (the model's class condition) and
    ``--prompt`` (its text condition)."""
    conditions = parse_pairs(pairs, "--condition")
    declared = getattr(model, "conditions", None) or {}
    name = getattr(model, "architecture", type(model).__name__)
    for option, value, kind, what in (("--label", label, "class", "class label"), ("--prompt", prompt, "text", "text")):
        if value is None:
            continue
        names = [key for key, c in declared.items() if getattr(c, "kind", None) == kind]
        if not names:
            raise GenplugError(
                f"{option}: model {name!r} takes no {what} (its conditions: {', '.join(declared) or 'none'})"
            )
        conditions[names[0]] = value
    return conditions


def _check_device(device: str) -> None:
    resolve_device(device)


@click.command()
@click.argument("architecture")
@click.option("--weights", "-w", metavar="REF", help="Folder, Hub id (org/name[@rev]); default: packaged weights.")
@click.option("--sampler", "-s", help="A sampler from `genplug list` (default: the model's own).")
@click.option("--steps", "-k", type=click.IntRange(min=1, max=100_000), help="Sampler steps.")
@click.option(
    "-n", "n", type=click.IntRange(min=1, max=MAX_RUN_SAMPLES), default=64, show_default=True,
    help="Number of samples.",
)  # fmt: skip
@click.option("--seed", type=SEED, default=0, show_default=True, help="Same seed, same samples.")
@click.option("--device", "-d", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--interpolate", is_flag=True, help="Encoders: a strip of n images between two test examples.")
@click.option("--data", default="digits", show_default=True, help="Dataset for --interpolate.")
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(),
    help=".png grid, .npy/.safetensors raw samples, or .txt token samples.",
)
@_sampling_options
@_progress_option
def run(
    architecture: str,
    weights: str | None,
    sampler: str | None,
    steps: int | None,
    n: int,
    seed: int,
    device: str,
    interpolate: bool,
    data: str,
    output: str,
    label: int | None,
    prompt: str | None,
    condition_pairs: tuple[str, ...],
    option_pairs: tuple[str, ...],
    progress: bool | None,
) -> None:
    """Sample from a model and write a grid image, the raw samples or text."""
    check_output_path(output)
    sampler_options = parse_pairs(option_pairs, "--sampler-option")
    reg().architecture(architecture)
    if sampler is not None:
        reg().sampler(sampler)  # an unknown sampler fails before anything loads
    _check_device(device)
    # torch-backed modules, imported on use so that importing the CLI stays light
    from genplug._images import save_samples
    from genplug._progress import network_calls, wanted  # the bar imports tqdm: on use

    model = load_for(architecture, weights, device)
    g = generator(seed, device)
    with network_calls(model, f"sampling {architecture}", show=wanted(progress)):
        if interpolate:
            x = _interpolate(model, architecture, data, n, seed, g)
        else:
            conditions = _conditions(model, label, prompt, condition_pairs)
            x = sample(
                model, n, sampler=sampler, steps=steps, sampler_options=sampler_options, generator=g, **conditions
            )
    path = save_samples(x, output, nrow=len(x) if interpolate else None, tokenizer=getattr(model, "tokenizer", None))
    click.echo(f"wrote {len(x)} samples to {path}")


def _interpolate(model: Any, architecture: str, data: str, n: int, seed: int, g: Any) -> Any:
    import torch  # on use, as above

    # torch-backed: on use, so that importing the CLI stays light
    from genplug._data import load_data

    if not callable(getattr(model, "interpolate", None)):
        raise click.ClickException(f"{architecture!r} has no latent space to interpolate in (no interpolate method)")
    test = load_data(data, "test")
    if len(test) < 2:
        raise click.ClickException(f"--interpolate needs two test examples; the data {shown(data)} has {len(test)}")
    if tuple(test.shape) != tuple(model.event_shape):
        raise click.ClickException(
            f"--data {shown(data)} has examples of shape {test.shape}; {architecture!r} draws {model.event_shape}"
        )
    pick = torch.randperm(len(test), generator=generator(seed, "cpu"))[:2]
    x0, x1 = (test.x[i : i + 1].to(model.device) for i in pick)
    with torch.no_grad():
        return model.interpolate(x0, x1, n, generator=g)


@click.command()
@click.argument("architecture")
@click.option(
    "--data", required=True, help="A dataset from `genplug list`, a folder of images, a .npy or a UTF-8 .txt file."
)
@click.option("--steps", type=click.IntRange(min=1), help="Optimisation steps (default: the model's).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Examples per step, over all processes (torchrun).")
@click.option("--lr", type=float, help="Learning rate.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True)
@click.option("--ema", help="EMA decay, e.g. 0.999; none: no EMA (whatever the model's defaults).")
@click.option("--schedule", type=click.Choice(["constant", "cosine"]), help="Learning-rate schedule after the warm-up.")
@click.option("--warmup-steps", type=click.IntRange(min=0), help="Linear learning-rate warm-up.")
@click.option("--clip-grad", type=float, help="Clip every optimizer's gradient norm to this.")
@click.option("--preview-every", type=click.IntRange(min=1), help="Steps between previews (grid + FD) in OUT.")
@click.option("--checkpoint-every", type=click.IntRange(min=1))
@click.option("--out", type=click.Path(), help="Output folder (default: runs/ARCH-DATA).")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.")
@click.option("--device", "-d", default="cpu", show_default=True, help="cpu or cuda (torchrun: a GPU per process).")
@click.option(
    "--precision", type=click.Choice(["fp32", "bf16", "fp16"]), help="Autocast the forward passes (fp16: loss scaling)."
)
@click.option("--accumulate", type=click.IntRange(min=1), help="Micro-batches per step (the batch size is their sum).")
@click.option("--compile", "compile_", is_flag=True, default=None, help="torch.compile the model's submodules.")
@click.option("--workers", type=click.IntRange(min=0), help="Processes reading a folder or .npy (default: automatic).")
@click.option("--threads", type=click.IntRange(min=1), help="Torch threads per process (default: cores / processes).")
@click.option("--config", "-c", "config_pairs", multiple=True, metavar="KEY=VALUE", help="Model config field.")
@click.option(
    "--train-option", "-t", "train_pairs", multiple=True, metavar="KEY=VALUE",
    help="One of the model's own training options (see `genplug info ARCH`).",
)  # fmt: skip
def train(
    architecture: str,
    data: str,
    steps: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int,
    ema: str | None,
    schedule: str | None,
    warmup_steps: int | None,
    clip_grad: float | None,
    preview_every: int | None,
    checkpoint_every: int | None,
    out: str | None,
    resume: bool,
    device: str,
    precision: str | None,
    accumulate: int | None,
    compile_: bool | None,
    workers: int | None,
    threads: int | None,
    config_pairs: tuple[str, ...],
    train_pairs: tuple[str, ...],
) -> None:
    """Train an architecture on a dataset; checkpoints go to OUT, --resume continues.

    Under torchrun (torchrun --nproc-per-node N -m genplug train ...) every process
    trains on its slice of each batch and rank 0 writes OUT."""
    reg().architecture(architecture)
    if not data.strip():
        raise click.BadParameter("give a dataset name, a folder of images or a .npy file", param_hint="--data")
    model_config = parse_pairs(config_pairs, "--config")
    train_options = parse_pairs(train_pairs, "--train-option")
    if ema is not None and ema.strip().lower() not in ("none", "off"):
        try:
            ema = float(ema)  # type: ignore[assignment]
        except ValueError:
            raise click.BadParameter(f"{shown(ema)}: a decay such as 0.999, or none", param_hint="--ema") from None
    _check_device(device)
    from genplug._training.loop import train as run_training  # torch-backed: on use

    out_dir = Path(out or f"runs/{architecture}-{Path(data).stem}")
    options = {
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "ema": ema,
        "schedule": schedule,
        "warmup_steps": warmup_steps,
        "clip_grad": clip_grad,
        "preview_every": preview_every,
        "checkpoint_every": checkpoint_every,
        "device": device,
        "precision": precision,
        "accumulate": accumulate,
        "compile": compile_,
        "workers": workers,
        "threads": threads,
        "options": train_options or None,
    }
    command = "genplug train " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["train"] else None
    run_training(
        architecture,
        data,
        {k: v for k, v in options.items() if v is not None},
        out=out_dir,
        resume=resume,
        model_config=model_config,
        command=command,
    )
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 writes and says so
        click.echo(f"saved {architecture} to {out_dir}")


def _default_data(model: Any, architecture: str) -> str:
    """The registered dataset whose examples have the model's shape (images first)."""
    shape = tuple(getattr(model, "event_shape", ()) or ())
    fits = sorted((d for d in reg().datasets.values() if tuple(d.shape) == shape), key=lambda d: d.name)
    images = [d for d in fits if d.kind == "image"]
    if len(images or fits) == 1:  # the one image dataset of this shape, else the one dataset
        return (images or fits)[0].name
    names = ", ".join(d.name for d in fits)
    raise click.ClickException(
        f"say which dataset to compare {architecture!r} with: --data NAME"
        + (f" (datasets of its shape {shape}: {names})" if fits else f" (no registered dataset has its shape {shape})")
    )


@click.command(name="eval")
@click.argument("architecture")
@click.option("--weights", "-w", metavar="REF", help="Folder or Hub id; default: packaged weights.")
@click.option("--data", help="Dataset to compare with (default: the registered one of the model's shape).")
@click.option(
    "-n", "n", type=click.IntRange(min=2, max=MAX_EVAL_SAMPLES), default=1000, show_default=True,
    help="Samples to draw.",
)  # fmt: skip
@click.option("--sampler", "-s")
@click.option("--steps", "-k", type=click.IntRange(min=1, max=100_000))
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--device", "-d", default="cpu", show_default=True)
@click.option("--metric", "metrics", multiple=True, help="Metric names (default: every one that applies).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--save", type=click.Path(), help="Also write the figures as JSON to this file.")
@_sampling_options
@_progress_option
def eval_(
    architecture: str,
    weights: str | None,
    data: str | None,
    n: int,
    sampler: str | None,
    steps: int | None,
    seed: int,
    device: str,
    metrics: tuple[str, ...],
    as_json: bool,
    save: str | None,
    label: int | None,
    prompt: str | None,
    condition_pairs: tuple[str, ...],
    option_pairs: tuple[str, ...],
    progress: bool | None,
) -> None:
    """Score a model: FD, confidence and coverage for digits; NLL with its kind."""
    if save is not None:
        check_output_path(save, suffixes=(".json",))
    registry = reg()
    registry.architecture(architecture)
    if sampler is not None:
        registry.sampler(sampler)
    for name in metrics:
        registry.metric(name)  # an unknown metric fails before anything loads
    if data is not None and not data.strip():
        raise click.BadParameter("give a dataset name, or leave --data out", param_hint="--data")
    sampler_options = parse_pairs(option_pairs, "--sampler-option")
    _check_device(device)
    from genplug._evaluate import evaluate  # torch-backed: on use
    from genplug._progress import network_calls, wanted  # the bar imports tqdm: on use

    model = load_for(architecture, weights, device)
    data = data or _default_data(model, architecture)
    conditions = _conditions(model, label, prompt, condition_pairs)
    figures: dict[str, Any] = {"architecture": architecture, "weights": weights or f"{architecture} (packaged)"}
    with network_calls(model, f"eval {architecture}", show=wanted(progress)) as show_metric:
        figures.update(
            evaluate(
                model,
                data,
                n=n,
                metrics=list(metrics) or None,
                seed=seed,
                sampler=sampler,
                steps=steps,
                sampler_options=sampler_options,
                device=device,
                progress=show_metric,
                **conditions,
            )
        )
    if save:
        atomic_write_json(Path(save), figures)
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        if value is None:
            continue
        click.echo(f"{key:>28}: {value:.4f}" if isinstance(value, float) else f"{key:>28}: {value}")
