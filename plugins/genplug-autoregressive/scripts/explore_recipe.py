"""Compare recipes for the digits weights without reading the test split (seeded, one thread).

    python plugins/genplug-autoregressive/scripts/explore_recipe.py --layers 4 --width 96 --positions axes --dropout 0.3

trains a class-conditional ``transformer`` on the first 1197 of the 1497 training digits and
prints, every ``--eval-every`` steps, the bits/dim of the last 300 training digits (a
validation split) under the EMA weights, as the exact mixture over the ten labels, next to
the training loss (with dropout on) and the process CPU time. The loop is the recipe of
``train_default.py`` written out (AdamW through the model's ``configure_optimizers``,
linear warm-up over 100 steps then cosine decay, genplug's EMA), so that the validation
curve can be read while it trains; the README's "Default weights: digits" cites its runs.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

import genplug
from genplug._training.checkpoint import EMA

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--layers", type=int, default=3)
p.add_argument("--width", type=int, default=64)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--dropout", type=float, default=0.2)
p.add_argument("--steps", type=int, default=1500)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--lr", type=float, default=3e-3)
p.add_argument("--wd", type=float, default=0.1)
p.add_argument("--ema", type=float, default=0.999)
p.add_argument("--positions", default="learned")
p.add_argument("--eval-every", type=int, default=250)
p.add_argument("--tag", default="")
a = p.parse_args()
torch.set_num_threads(1)
torch.manual_seed(0)
full = genplug.load_data("digits", "train")
x, y = full.x[:1197], full.y[:1197]
vx = full.x[1197:]
model = genplug.create(
    "transformer",
    data_shape=(1, 8, 8),
    levels=17,
    classes=10,
    n_layer=a.layers,
    n_head=a.heads,
    n_embd=a.width,
    dropout=a.dropout,
    positions=a.positions,
)
nparams = sum(p.numel() for p in model.parameters())
cfg = genplug.TrainConfig(steps=a.steps, batch_size=a.batch, lr=a.lr, options={"weight_decay": a.wd, "beta2": 0.99})
opt = model.configure_optimizers(cfg)["model"]
ema = EMA(model, a.ema)
g = torch.Generator().manual_seed(0)


def lr_at(t):
    if t < 100:
        return a.lr * (t + 1) / 100
    return a.lr * 0.5 * (1 + math.cos(math.pi * (t - 100) / (a.steps - 100)))


def val_bpd():
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    ema.apply(model)
    model.eval()
    with torch.no_grad():
        b = float(-model.log_prob(vx).mean()) / 64 / math.log(2)
    model.load_state_dict(saved)
    model.train()
    return b


cpu0 = time.process_time()
perm = torch.randperm(len(x), generator=g)
pos = 0
train_acc = 0
for t in range(a.steps):
    if pos + a.batch > len(x):
        perm = torch.randperm(len(x), generator=g)
        pos = 0
    idx = perm[pos : pos + a.batch]
    pos += a.batch
    for gr in opt.param_groups:
        gr["lr"] = lr_at(t)
    loss, _ = model.loss(x[idx], label=y[idx])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    ema.update(model)
    train_acc += float(loss)
    if (t + 1) % a.eval_every == 0 or t + 1 == a.steps:
        record = {
            "tag": a.tag,
            "step": t + 1,
            "train_bpd": round(train_acc / a.eval_every / math.log(2), 4),
            "val_bpd": round(val_bpd(), 4),
            "cpu": round(time.process_time() - cpu0, 1),
            "params": nparams,
        }
        print(json.dumps(record), flush=True)
        train_acc = 0
