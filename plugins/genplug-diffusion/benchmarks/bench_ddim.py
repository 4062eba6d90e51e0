"""Samples per second of genplug's ``ddim`` loop against diffusers' ``DDIMScheduler`` loop.

Both loops run the same network (the packaged default weights unless ``--weights``), the
same number of steps, the same timesteps and the same initial noise, under
the runs alternate so that a busy machine slows both alike. Rates are samples per second
of the fastest of ``--repeats`` runs (as ``timeit`` advises: other load only ever slows
a run down), with the median run's beside them. The two outputs are also compared: the
loops compute the same samples, bit for bit.

The diffusers loop is ``DDIMPipeline``'s: ``scheduler.step`` after each network call,
under ``torch.no_grad()``. genplug's loop computes every step's constants before the loop
and runs under ``torch.inference_mode()``.

    python plugins/genplug-diffusion/benchmarks/bench_ddim.py --batch 16 64 256

diffusers is needed only here and in the parity tests (``pip install diffusers``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import genplug


def genplug_loop(model, n: int, steps: int, seed: int) -> torch.Tensor:
    sampler = genplug.get_sampler("ddim", model)
    return sampler(model, n, steps=steps, generator=torch.Generator().manual_seed(seed))


def diffusers_loop(model, scheduler, n: int, steps: int, seed: int) -> torch.Tensor:
    # the loop of diffusers' DDIMPipeline, around the same network
    x = torch.randn((n, *model.event_shape), generator=torch.Generator().manual_seed(seed))
    scheduler.set_timesteps(steps)
    for t in scheduler.timesteps:
        x = scheduler.step(model.predict(x, t), t, x).prev_sample
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="diffusion", help="model reference (default: packaged weights)")
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256], help="samples per run")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from diffusers import DDIMScheduler

    torch.set_num_threads(args.threads)
    model = genplug.load(args.weights, device=args.device)
    config = model.config
    scheduler = DDIMScheduler(
        num_train_timesteps=config.num_train_timesteps,
        beta_start=config.beta_start,
        beta_end=config.beta_end,
        beta_schedule={"linear": "linear", "cosine": "squaredcos_cap_v2"}[config.schedule],
        prediction_type=config.prediction_type,
        clip_sample=config.clip_sample is not None,
        clip_sample_range=config.clip_sample or 1.0,
    )
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    print(f"ddim, {args.steps} steps, {args.threads} thread(s), device {args.device}, torch {torch.__version__}")
    print(
        f"{'batch':>6} {'genplug samples/s':>18} {'diffusers samples/s':>20} {'ratio':>6}"
        f" {'median ratio':>13} {'max |diff|':>11}"
    )
    with torch.no_grad():
        for n in args.batch:
            ours, theirs = [], []
            a = genplug_loop(model, n, args.steps, 0)  # warm-up, and the outputs to compare
            b = diffusers_loop(model, scheduler, n, args.steps, 0)
            for r in range(args.repeats):
                for loop, times in ((genplug_loop, ours), (diffusers_loop, theirs))[:: 1 if r % 2 else -1]:
                    sync()
                    start = time.perf_counter()
                    if loop is genplug_loop:
                        genplug_loop(model, n, args.steps, r)
                    else:
                        diffusers_loop(model, scheduler, n, args.steps, r)
                    sync()
                    times.append(time.perf_counter() - start)
            g_rate, d_rate = n / min(ours), n / min(theirs)
            median_ratio = statistics.median(theirs) / statistics.median(ours)
            diff = (a - b).abs().max().item()
            print(
                f"{n:>6} {g_rate:>18.1f} {d_rate:>20.1f} {g_rate / d_rate:>6.3f} {median_ratio:>13.3f} {diff:>11.2e}",
                flush=True,
            )


if __name__ == "__main__":
    main()
