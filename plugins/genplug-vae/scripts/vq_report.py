"""Measure the VQ-VAE's reconstructions and codebook usage on the digits (what its README reports).

    python plugins/genplug-vae/scripts/vq_report.py [--weights REF]

On the 300 held-out test digits (and the 1497 training digits for usage and the train NLL): the
reconstruction term -log p(x | z*) at the encoder's codes z* (nats per digit and bits per
pixel, a code length of discrete data), the mean squared error of the decoder mean
E[x | z*], the FD of the reconstructions (decoder mean and a draw from p(x | z*), seed 0)
against the same test digits with the FD floor of `genplug eval` (training digits against
test digits), their ratio, and the codebook perplexity and number of codes used. Prints
JSON. Seconds on one thread.
"""

from __future__ import annotations

import argparse
import json
import math

import torch

import genplug
from genplug._metrics import image_scores


@torch.no_grad()
def report(ref: str) -> dict:
    model = genplug.load(ref).eval()
    train, test = genplug.load_data("digits", "train"), genplug.load_data("digits", "test")
    codes = model.encode(test.x).codes
    z_q = model.embed_codes(codes)
    nll = -model.log_likelihood(test.x, codes)  # (300,)
    mean = model.decode(z_q)
    draw = model.decode_sample(z_q, generator=torch.Generator().manual_seed(0))
    figures = {
        "weights": ref,
        "recon_nll_nats": float(nll.mean()),
        "recon_bits_per_dim": float(nll.mean()) / math.prod(model.event_shape) / math.log(2),
        "recon_nll_nats_train": float(-model.log_likelihood(train.x).mean()),  # beside the test figure: overfitting
        "elbo_uniform_prior_nats": float(model.log_prob(test.x).mean()),
        "recon_mse_mean": float((mean - test.x).pow(2).mean()),
    }
    for name, x in (("mean", mean), ("draw", draw)):
        scores = image_scores(x, test, train)
        figures[f"recon_fd_{name}"] = scores["fd"]
        figures[f"recon_fd_ratio_{name}"] = scores["fd_ratio"]
    figures["fd_floor"] = scores["fd_floor"]
    figures["usage_test"] = model.usage(test.x)
    figures["usage_train"] = model.usage(train.x)
    figures["num_codes"] = model.num_codes
    figures["code_shape"] = list(model.code_shape)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="vq-vae", help="a VQ-VAE reference (default: the packaged one)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(json.dumps(report(args.weights), indent=2))


if __name__ == "__main__":
    main()
