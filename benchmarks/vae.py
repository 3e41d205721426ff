"""Benchmark: the VAE on digits -- throughput with and without XLA, bounds, CPU time, memory.

Prints a Markdown table. Usage::

    python benchmarks/vae.py [--epochs 20] [--seed 0]

Targets (issue 2): 20 epochs on digits in under a minute of CPU time on 2 cores,
and peak RSS under 2 GB. Both variants train the same model with the same seed
through ``genkeras.training.run``, so the numbers are what ``genkeras run vae``
costs. Throughput is measured over the epochs after the first (the first
includes tracing/compilation, reported separately).
"""

import argparse
import os
import resource
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from genkeras import training  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    """Records the wall time of every epoch's training steps."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def measure(jit: bool, epochs: int, seed: int, out: str) -> dict:
    timer = EpochTimer()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = training.run(
        "vae", epochs=epochs, seed=seed, jit=jit, out=out, verbose=0, callbacks=[timer]
    )
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    batch = result.config.batch_size
    steps = batch * (result.record.data["num_train"] // batch)  # examples per epoch
    later = timer.times[1:] or timer.times
    return {
        "jit": jit,
        "examples_per_s": steps / (sum(later) / len(later)),
        "first_epoch_s": timer.times[0],
        "cpu_s": cpu,
        "wall_s": wall,
        "elbo": result.metrics["elbo_nats"],
        "elbo_bpd": result.metrics["elbo_bits_per_dim"],
        "iwae": result.metrics["iwae_nats"],
        "iwae_bpd": result.metrics["iwae_bits_per_dim"],
        "k": result.metrics["iwae_k"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for jit in (False, True):
            rows.append(measure(jit, args.epochs, args.seed, os.path.join(tmp, f"jit{jit}")))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\nVAE on digits, {args.epochs} epochs, seed {args.seed}, "
        f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}, keras {keras.__version__}\n"
    )
    print(
        "| jit_compile | train examples/s | first epoch (s) | CPU time incl. eval (s) "
        "| wall (s) | test ELBO nats (bits/dim) | IWAE-k nats (bits/dim) | k |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['jit']} | {r['examples_per_s']:.0f} | {r['first_epoch_s']:.1f} | "
            f"{r['cpu_s']:.1f} | {r['wall_s']:.1f} | {r['elbo']:.2f} ({r['elbo_bpd']:.3f}) | "
            f"{r['iwae']:.2f} ({r['iwae_bpd']:.3f}) | {r['k']} |"
        )
    base = rows[0]["examples_per_s"]
    print(f"\nXLA speed-up over the no-jit baseline: {rows[1]['examples_per_s'] / base:.2f}x")
    print(f"peak RSS of the process: {peak_mb:.0f} MB (target < 2048 MB)")
    print(
        f"CPU-time target (20 epochs < 60 s): no-jit {rows[0]['cpu_s']:.1f} s, "
        f"jit {rows[1]['cpu_s']:.1f} s"
    )


if __name__ == "__main__":
    main()
