"""Train the packaged weights of ``dit`` on digits (seeded, CPU, one thread).

    OMP_NUM_THREADS=1 python plugins/genplug-hybrid/scripts/train_dit.py --out runs/dit-digits --install

trains the class-conditional DiT (``CONFIG``) from scratch in one stage (``TRAIN``), with
the digits' labels, 70% of them dropped to the null label (for classifier-free
guidance; the null label is the unconditional model).

``--stage1-steps N`` trains in two stages instead, as genplug-diffusion's
``scripts/train_default.py`` trains the packaged UNet (and as the earlier packaged DiT was
trained, git history before this recipe): first the unconditional DiT
(``STAGE1_CONFIG``, ``STAGE1`` with N steps) from scratch into ``OUT/stage1``, then the
class-conditional one from its (EMA) weights (a label embedding added to the time
embedding; its null label starts at zero, so the unconditional prediction starts as it
was) for ``--steps`` steps of ``TRAIN``.

Each stage goes through :func:`genplug.train` (checkpoints, ``metrics.jsonl``,
``training.json``). This script adds to the final ``training.json`` the steps of both
stages, ``cpu_seconds`` (the process's CPU time) and ``wall_seconds``. ``--install`` copies
``config.json``, ``model.safetensors`` and ``training.json`` into
``genplug_hybrid/packaged/dit/``. The same seed gives the same weights on the same machine
and torch build.

``--init FOLDER`` skips stage 1 and starts stage 2 from a folder holding its result (such
as an earlier run's ``OUT/stage1``; its recorded CPU and wall seconds are added to this
run's). ``--config KEY=VALUE`` and ``--train KEY=VALUE`` change one field of both stages
(the model's or the training's; ``--train beta2=0.95`` sets the optimizer option); the
recipe's measurements in the README were run that way.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from _install import install
from safetensors.torch import load_file

import genplug

#: The packaged model: 8x8 digits in 2x2 patches (16 tokens), 5 blocks of width 80 with
#: U-ViT's long skips and output convolution: 638,174 parameters, against 652,449 for the
#: class-conditional UNet of genplug-diffusion's train_default.py (651,041 unconditional).
CONFIG: dict[str, Any] = {
    "data_shape": (1, 8, 8),
    "patch_size": 2,
    "n_layer": 5,
    "n_head": 4,
    "n_embd": 80,
    "long_skips": True,
    "conv_out": True,
    "prediction_type": "epsilon",
    "schedule": "cosine",  # the UNet's schedule and ε-prediction
    "levels": 17,  # the digits' 17 values (log_prob only)
    "classes": 10,  # `label`, the digit
    "label_dropout": 0.7,  # 70% of the labels become the null label: the unconditional model (FD is measured with it)
    "guidance": 2.0,  # the default guidance scale with a label (sampling only)
}
#: Its training: one stage with labels, within the UNet's CPU budget (6000 + 2500 steps, 1445 CPU s).
TRAIN: dict[str, Any] = {
    "steps": 9000,
    "batch_size": 128,
    "lr": 2e-3,
    "ema": 0.999,
    "schedule": "cosine",
    "warmup_steps": 100,
    "seed": 0,
    "checkpoint_every": 1000,
    "options": {"beta2": 0.95, "weight_decay": 0.0},  # DiTTrainOptions: AdamW's second beta, no weight decay
}

#: With --stage1-steps N: the unconditional first stage (the same network without labels).
STAGE1_CONFIG: dict[str, Any] = {k: v for k, v in CONFIG.items() if k not in ("classes", "label_dropout", "guidance")}
STAGE1: dict[str, Any] = {**TRAIN, "steps": 0}

OPTIONS = ("beta2", "weight_decay")  # DiTTrainOptions' fields, set through --train


def train_config(recipe: dict[str, Any], overrides: dict[str, Any], steps: int) -> genplug.TrainConfig:
    fields = {**recipe, **{k: v for k, v in overrides.items() if k not in OPTIONS}, "steps": steps}
    fields["options"] = {**recipe["options"], **{k: v for k, v in overrides.items() if k in OPTIONS}}
    return genplug.TrainConfig(**fields)


def stage1(out: Path, config: dict[str, Any], train: genplug.TrainConfig, resume: bool) -> Path:
    """The unconditional model, trained from scratch; returns its folder."""
    torch.manual_seed(train.seed)  # the initial weights, as `genplug train --seed` does
    model = genplug.create("dit", **config)
    genplug.train(model, "digits", train, out=out, resume=resume)
    return out


def conditional_from(folder: Path, config: dict[str, Any], seed: int) -> genplug.Model:
    """The conditional model with every weight of the unconditional one in ``folder``."""
    torch.manual_seed(seed)  # the label embedding's initial weights
    model = genplug.create("dit", **config)
    missing, unexpected = model.load_state_dict(load_file(folder / "model.safetensors"), strict=False)
    if set(missing) != {"net.label_embed.table.weight"} or unexpected:
        raise SystemExit(f"{folder} is not the stage-1 model: missing {missing}, unexpected {unexpected}")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/dit-digits", help="the run folder")
    parser.add_argument("--stage1-steps", type=int, default=STAGE1["steps"], help="unconditional steps first (0: none)")
    parser.add_argument("--steps", type=int, default=TRAIN["steps"], help="class-conditional steps (0: stage 1 only)")
    pairs = {"nargs": "+", "action": "extend", "default": [], "metavar": "KEY=VALUE"}
    parser.add_argument("--config", **pairs, help="change the model")
    parser.add_argument("--train", **pairs, help="change both stages' training")
    parser.add_argument("--init", type=Path, help="a folder with stage 1's result: skip stage 1")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--resume", action="store_true", help="continue a killed run (the stage it was in)")
    parser.add_argument("--install", action="store_true", help="copy the result into genplug_hybrid/packaged/dit")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    try:
        config, overrides = genplug.parse_pairs(args.config), genplug.parse_pairs(args.train, "--train")
    except genplug.ConfigError as exc:
        raise SystemExit(str(exc)) from None
    start, cpu_start = time.perf_counter(), time.process_time()
    first = args.init if args.init is not None else out / "stage1"
    one_stage = args.init is None and args.stage1_steps == 0  # with labels from scratch, no stage 1
    if not one_stage and args.init is None and not (args.resume and (first / "training.json").exists()):
        stage1(first, {**STAGE1_CONFIG, **config}, train_config(STAGE1, overrides, args.stage1_steps), args.resume)
        first_record = json.loads((first / "training.json").read_text())
        first_record["cpu_seconds"] = round(time.process_time() - cpu_start, 1)  # stage 1 alone
        first_record["wall_seconds"] = round(time.perf_counter() - start, 1)
        (first / "training.json").write_text(json.dumps(first_record, indent=2) + "\n")
    earlier = json.loads((first / "training.json").read_text()) if args.init is not None else {}
    if one_stage:
        train = train_config(TRAIN, overrides, args.steps)
        torch.manual_seed(train.seed)  # the initial weights, as `genplug train --seed` does
        model = genplug.create("dit", **{**CONFIG, **config})
        genplug.train(model, "digits", train, out=out, resume=args.resume)
    elif args.steps:
        model = conditional_from(first, {**CONFIG, **config}, TRAIN["seed"])
        genplug.train(model, "digits", train_config(TRAIN, overrides, args.steps), out=out, resume=args.resume)
    else:  # stage 1 only: its folder is the result
        model = genplug.load(first)
        for name in ("config.json", "model.safetensors", "training.json"):
            shutil.copyfile(first / name, out / name)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    record = json.loads((out / "training.json").read_text())
    changed = (("config", args.config), ("train", args.train))
    extra = "".join(f" --{flag} {' '.join(given)}" for flag, given in changed if given)
    record["command"] = (
        f"python plugins/genplug-hybrid/scripts/train_dit.py --stage1-steps {args.stage1_steps} --steps {args.steps}"
        + (f" --init {args.init}" if args.init is not None else "")
        + extra
    )
    if not one_stage:  # genplug.compare shows both stages' steps
        record["stage1_steps"] = args.stage1_steps  # unconditional, before `steps` with labels
        record["stage1_train_config"] = json.loads((first / "training.json").read_text())["train_config"]
    # this process (both stages, or stage 2 after --init, plus stage 1's recorded time); resumed runs not summed
    record["wall_seconds"] = round(wall + earlier.get("wall_seconds", 0.0), 1)
    record["cpu_seconds"] = round(cpu + earlier.get("cpu_seconds", 0.0), 1)  # below the wall time on shared cores
    if args.init is not None:
        record["stage1"] = f"from {args.init}" + (f": {earlier['note']}" if "note" in earlier else "")
    record["parameters"] = sum(p.numel() for p in model.parameters())
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    if args.install:
        install(out, "dit", ("config.json", "model.safetensors", "training.json"))
    keys = ("stage1_steps", "steps", "threads", "wall_seconds", "cpu_seconds", "parameters")
    print(json.dumps({k: record[k] for k in keys if k in record}))


if __name__ == "__main__":
    main()
