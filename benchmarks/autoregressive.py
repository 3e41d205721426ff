"""Benchmarks of the autoregressive family: likelihood and sampling cost.

1. Likelihood: PixelCNN, Gated PixelCNN, PixelRNN (Row LSTM) and PixelRNN
   (Diagonal BiLSTM) trained with the same epochs, batch size, learning rate and
   seed on binarized (2-level) and 17-level digits; test bits/dim (exact
   categorical NLL) and training examples/s.
2. Sampling: wall time to draw 64 images at 8x8 and 28x28 from random-init
   models by (a) a Python loop calling the model once per pixel, (b) one compiled
   ``tf.while_loop`` (a full forward pass per pixel), (c) the cached incremental
   sampler (PixelCNN / Gated PixelCNN), each with and without XLA where listed.
   All samplers draw the same images for a seed; the script checks it.

For large images the full-pass samplers (a) and (b) can be timed on the first
``--max-steps`` positions and extrapolated linearly (every step does the same
work); such cells are marked ``≈``.

Usage::

    python benchmarks/autoregressive.py                 # both parts
    python benchmarks/autoregressive.py --epochs 2 --max-steps 28 --part sampling
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from genkeras import data  # noqa: E402
from genkeras.models import sampling  # noqa: E402
from genkeras.models.pixelcnn import GatedPixelCNN, PixelCNN  # noqa: E402
from genkeras.models.pixelrnn import PixelRNN  # noqa: E402

VARIANTS = {
    "PixelCNN": (PixelCNN, {}),
    "Gated PixelCNN": (GatedPixelCNN, {"filters": 32}),  # ~ the PixelCNN's size
    "PixelRNN (Row LSTM)": (PixelRNN, {"layer": "row"}),
    "PixelRNN (Diagonal BiLSTM)": (PixelRNN, {"layer": "diagonal"}),
}


class _EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)

    def on_train_begin(self, logs=None):
        self.times = []


def likelihood_table(epochs: int, batch_size: int, seed: int, jit: bool) -> None:
    """Trains the four variants on each dataset and prints a Markdown table."""
    print(
        f"\n## Likelihood: {epochs} epochs, batch {batch_size}, Adam 1e-3, seed {seed}, "
        f"jit_compile={jit}, default configs (Gated PixelCNN: filters=32)\n"
    )
    print("| data | model | params | test NLL (nats/image) | test bits/dim | train ex/s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    results = {}
    for data_name, kwargs in (("binarized digits", {"binarize": True}), ("17-level digits", {})):
        spec = data.load("digits", **kwargs)
        steps = spec.steps_per_epoch(batch_size)
        for name, (cls, config) in VARIANTS.items():
            keras.utils.set_random_seed(seed)
            model = cls.from_data(spec, config)
            model.build_from_shape()
            model.compile_for_training(1e-3, jit_compile=jit)
            timer = _EpochTimer()
            model.fit(
                spec.train_dataset(batch_size, seed, last_epoch=epochs),
                epochs=epochs,
                steps_per_epoch=steps,
                shuffle=False,
                verbose=0,
                callbacks=[timer],
            )
            timed = timer.times[1:] or timer.times  # epoch 1 includes tracing/compiling
            speed = steps * batch_size * len(timed) / sum(timed)
            metrics = model.evaluation_metrics(spec)
            results[(data_name, name)] = metrics["bits_per_dim"]
            print(
                f"| {data_name} | {name} | {model.count_params():,} | "
                f"{metrics['nll_nats']:.2f} | {metrics['bits_per_dim']:.4f} | {speed:,.0f} |",
                flush=True,
            )
    print()
    for data_name in ("binarized digits", "17-level digits"):
        cnn, gated = results[(data_name, "PixelCNN")], results[(data_name, "Gated PixelCNN")]
        rnn = min(results[(data_name, n)] for n in VARIANTS if n.startswith("PixelRNN"))
        print(
            f"- {data_name}: best PixelRNN {rnn:.4f} vs PixelCNN {cnn:.4f} bits/dim "
            f"(PixelRNN better by {cnn - rnn:+.4f}); Gated PixelCNN {gated:.4f} "
            f"(gap to best PixelRNN {gated - rnn:+.4f}, closes "
            f"{(cnn - gated) / (cnn - rnn) * 100 if cnn != rnn else float('nan'):.0f}% "
            "of the PixelCNN gap)"
        )


def _time(fn, repeats: int = 1):
    fn()  # trace / compile
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    np.asarray(out)
    return (time.perf_counter() - start) / repeats, out


def sampling_table(n: int, sizes: list[int], max_steps: int | None, seed: int) -> None:
    """Times the samplers and prints a Markdown table with speed-up ratios."""
    print(
        f"\n## Sampling {n} images (random-init default models; warm timings, "
        "tracing/compilation excluded)\n"
    )
    print(
        "| size | model | (a) Python loop s | (b) while_loop s | (b) XLA s | (c) cached s "
        "| (c) cached XLA s | b/a speed-up | c/a speed-up | c/b speed-up | same images |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for size in sizes:
        levels = 17 if size <= 8 else 256
        shape = (size, size, 1)
        dims = size * size
        # Only large images are extrapolated; 8x8 runs are always timed in full.
        steps = dims if max_steps is None or dims <= 64 else min(max_steps, dims)
        scale = dims / steps
        mark = "" if steps == dims else "≈"
        for name, (cls, config) in VARIANTS.items():
            keras.utils.set_random_seed(seed)
            model = cls(shape, levels=levels, config=config).build_from_shape()
            t_loop, loop = _time(
                lambda m=model, k=steps: sampling.sample_python_loop(m, n, seed, steps=k)
            )
            t_full, full = _time(
                lambda m=model, k=steps: sampling.sample_compiled(m, n, seed, steps=k)
            )
            t_xla, _ = _time(
                lambda m=model, k=steps: sampling.sample_compiled(
                    m, n, seed, steps=k, jit_compile=True
                )
            )
            t_loop, t_full, t_xla = t_loop * scale, t_full * scale, t_xla * scale
            same = np.array_equal(loop, full)
            cells = ["–", "–", "–", "–"]
            if model.supports_cached_sampling:
                t_c, cached = _time(lambda m=model: sampling.sample_cached(m, n, seed))
                t_cx, cached_xla = _time(
                    lambda m=model: sampling.sample_cached(m, n, seed, jit_compile=True)
                )
                prefix = np.asarray(cached).reshape(n, -1)[:, :steps]
                same = same and np.array_equal(prefix, np.asarray(full).reshape(n, -1)[:, :steps])
                same = same and np.array_equal(cached, cached_xla)
                best = min(t_c, t_cx)
                cells = [
                    f"{t_c:.2f}",
                    f"{t_cx:.2f}",
                    f"{t_loop / best:.0f}×",
                    f"{min(t_full, t_xla) / best:.0f}×",
                ]
            print(
                f"| {size}x{size} | {name} | {mark}{t_loop:.2f} | {mark}{t_full:.2f} | "
                f"{mark}{t_xla:.2f} | {cells[0]} | {cells[1]} | "
                f"{t_loop / min(t_full, t_xla):.1f}× | {cells[2]} | {cells[3]} | "
                f"{'yes' if same else 'NO'} |",
                flush=True,
            )
    if max_steps is not None:
        print(
            f"\n≈: (a) and (b) timed on the first {max_steps} positions and scaled to the "
            "full image; 'same images' compares that prefix with the cached sampler "
            "(8x8 rows are timed and compared in full)."
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "likelihood", "sampling"], default="all")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-jit", action="store_true", help="train without XLA")
    parser.add_argument("--num-samples", type=int, default=64)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 28])
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="time (a)/(b) on this many positions and extrapolate (images larger than 8x8 only)",
    )
    args = parser.parse_args(argv)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores")
    if args.part in ("all", "likelihood"):
        likelihood_table(args.epochs, args.batch_size, args.seed, not args.no_jit)
    if args.part in ("all", "sampling"):
        sampling_table(args.num_samples, args.sizes, args.max_steps, args.seed)


if __name__ == "__main__":
    main()
