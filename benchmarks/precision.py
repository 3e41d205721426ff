"""Benchmark: training throughput per dtype policy and model family, on this machine.

Prints a Markdown table of training examples per second (wall clock, epochs
after the first) for ``float32``, ``mixed_float16`` and ``mixed_bfloat16``,
each family on digits at its default size, all measured in this run::

    python benchmarks/precision.py [--epochs 3] [--families vae,pixelcnn,pixelrnn,gan]

On a CPU, 16-bit compute may be slower than float32 (few CPUs have fast
float16 arithmetic; bfloat16 depends on the instruction set): the point of the
script is to be the same measurement a GPU user runs. The float32 row of each
family is the baseline of the speed-up column.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from genkeras import data, registry  # noqa: E402
from genkeras.models.base import TrainingSettings  # noqa: E402
from genkeras.run.config import DTYPE_POLICIES, RunConfig  # noqa: E402

DATA = {"vae": {}, "gan": {}, "pixelcnn": {"binarize": True}, "pixelrnn": {"binarize": True}}


class EpochTimer(keras.callbacks.Callback):
    """Wall time of every epoch."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.t)


def throughput(name: str, policy: str, epochs: int) -> tuple[float, bool]:
    """Training examples/s of ``name`` under ``policy``, and whether its losses stayed finite."""
    spec = data.load("digits", **DATA[name])
    family = registry.models.get(name)
    run = RunConfig(epochs=epochs).resolved(family.config_class.run_defaults)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = family.from_data(spec)
        model.build_from_shape()
        steps = spec.steps_per_epoch(run.batch_size)
        spe = run.execution_steps(steps)
        model.compile_for_training(TrainingSettings(run.learning_rate, steps_per_execution=spe))
    finally:
        keras.config.set_dtype_policy(previous)
    timer = EpochTimer()
    history = model.fit(
        model.train_dataset(spec, run.batch_size, 0, 0, epochs),
        epochs=epochs,
        steps_per_epoch=steps,
        callbacks=[timer],
        verbose=0,
    )
    finite = all(np.all(np.isfinite(v)) for v in history.history.values())
    later = timer.times[1:] or timer.times
    return steps * run.batch_size / float(np.mean(later)), finite


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--families", default="vae,gan,pixelcnn,pixelrnn")
    args = parser.parse_args(argv)
    print(
        f"training throughput on digits, {args.epochs} epochs (the first not counted), "
        f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}, keras {keras.__version__}\n"
    )
    print("| family | dtype policy | examples / s | vs float32 | losses finite |")
    print("|---|---|---|---|---|")
    for name in args.families.split(","):
        base = None
        for policy in DTYPE_POLICIES:
            rate, finite = throughput(name, policy, args.epochs)
            base = base or rate
            print(f"| {name} | {policy} | {rate:.0f} | {rate / base:.2f}x | {finite} |")


if __name__ == "__main__":
    main()
