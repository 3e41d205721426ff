"""Benchmarks of the autoregressive family: likelihood and sampling cost.

1. Likelihood: PixelCNN, Gated PixelCNN, PixelRNN (Row LSTM) and PixelRNN
   (Diagonal BiLSTM) at equal parameter counts (within 10 %), each trained by
   ``genkeras.run.lifecycle.run`` with the same epochs, batch size and learning rate,
   over several seeds, on binarized (2-level) and 17-level digits; test bits/dim
   (exact categorical NLL), mean ± sample standard deviation over the seeds.
2. Sampling: wall time to draw 64 images at 8x8 and 28x28 from random-init
   models by (a) a Python loop calling the model once per pixel, (b) one compiled
   ``tf.while_loop`` (a full forward pass per pixel), (c) the cached incremental
   sampler (PixelCNN, Gated PixelCNN, PixelRNN with Row LSTM), each with and
   without XLA where listed. All samplers draw the same images for a seed; the
   script checks it. Then the Row LSTM on its own: cached vs full-pass time per
   image (1 image, and a 64-image grid), and how the 28x28 grid compares with a
   training epoch.

For large images the full-pass samplers (a) and (b) can be timed on the first
``--max-steps`` positions and extrapolated linearly (every step does the same
work); such cells are marked ``≈``.

Usage::

    python benchmarks/autoregressive.py                 # both parts
    python benchmarks/autoregressive.py --part likelihood --epochs 10 --seeds 0 1 2
    python benchmarks/autoregressive.py --part sampling --max-steps 28
    python benchmarks/autoregressive.py --part row-lstm --max-steps 28   # Row LSTM table only
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from genkeras.models import sampling  # noqa: E402
from genkeras.models.base import TrainingSettings  # noqa: E402
from genkeras.models.pixelcnn import GatedPixelCNN, PixelCNN  # noqa: E402
from genkeras.models.pixelrnn import PixelRNN  # noqa: E402
from genkeras.run import lifecycle  # noqa: E402

#: ``name: (registered model, class, config)``. Equal sizes: about 54k parameters on
#: 8x8 digits. The PixelRNNs run at their defaults (32 filters, 2 layers); the PixelCNN
#: (5 blocks) and the Gated PixelCNN (5 layers) keep their default depth, so their
#: receptive fields still span the 8x8 image, and get fewer filters.
VARIANTS = {
    "PixelCNN": ("pixelcnn", PixelCNN, {"filters": 54}),
    "Gated PixelCNN": ("gated-pixelcnn", GatedPixelCNN, {"filters": 21}),
    "PixelRNN (Row LSTM)": ("pixelrnn", PixelRNN, {"layer": "row"}),
    "PixelRNN (Diagonal BiLSTM)": ("pixelrnn", PixelRNN, {"layer": "diagonal"}),
}
DATASETS = {"binarized digits": True, "17-level digits": False}  # name: binarize


def _mean_sd(values):
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), sd


def likelihood_table(epochs: int, batch_size: int, seeds: list[int], jit: bool) -> None:
    """Trains the four variants with ``lifecycle.run`` over ``seeds`` and prints a table."""
    print(
        f"\n## Likelihood at equal size\n\n{epochs} epochs, batch {batch_size}, Adam 1e-3 "
        f"(the pixel models' default), jit={jit}, seeds {', '.join(map(str, seeds))}; "
        "test bits/dim, mean ± sd over the seeds.\n"
    )
    print("| data | model | config | params | test bits/dim | per seed | s per run |")
    print("| --- | --- | --- | ---: | ---: | --- | ---: |")
    summary = {}
    for data_name, binarize in DATASETS.items():
        means, params = {}, {}
        for name, (registered, _, config) in VARIANTS.items():
            bpd, seconds = [], []
            for seed in seeds:
                with tempfile.TemporaryDirectory() as out:
                    start = time.perf_counter()
                    result = lifecycle.run(
                        registered,
                        epochs=epochs,
                        seed=seed,
                        batch_size=batch_size,
                        binarize=binarize,
                        jit=jit,
                        options=config,
                        out=os.path.join(out, "run"),
                        verbose=0,
                    )
                    seconds.append(time.perf_counter() - start)
                bpd.append(result.metrics["bits_per_dim"])
                params[name] = result.model.count_params()
            mean, sd = _mean_sd(bpd)
            means[name] = (mean, sd)
            options = ", ".join(f"{k}={v}" for k, v in config.items())
            print(
                f"| {data_name} | {name} | {options} | {params[name]:,} | "
                f"{mean:.4f} ± {sd:.4f} | {' / '.join(f'{v:.4f}' for v in bpd)} | "
                f"{statistics.fmean(seconds):.0f} |",
                flush=True,
            )
        spread = max(params.values()) / min(params.values()) - 1
        summary[data_name] = (means, spread)
    print()
    for data_name, (means, spread) in summary.items():
        order = sorted(means, key=lambda k: means[k][0])
        ranking = " < ".join(f"{k} {means[k][0]:.4f}" for k in order)
        print(
            f"- {data_name} (largest/smallest parameter count - 1: {spread:.1%}): {ranking}",
            flush=True,
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
        f"\n## Sampling {n} images\n\nRandom-init models of the likelihood table; warm "
        "timings, tracing/compilation excluded.\n"
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
        for name, (_, cls, config) in VARIANTS.items():
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


class _EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def _train_speed(model, batch_size: int, steps: int, jit: bool) -> float:
    """Training examples/s of ``model`` on random images (second epoch: no tracing)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, model.levels, (batch_size * steps,) + model.data_shape)
    model.compile_for_training(TrainingSettings(1e-3, jit=jit))
    timer = _EpochTimer()
    model.fit(x.astype("float32"), batch_size=batch_size, epochs=2, verbose=0, callbacks=[timer])
    return batch_size * steps / timer.times[-1]


def row_lstm_table(
    sizes: list[int], grid: int, max_steps: int | None, seed: int, train_steps: int
) -> None:
    """Row LSTM: cached vs full-pass sampling per image, and the 28x28 grid vs an epoch."""
    _, cls, config = VARIANTS["PixelRNN (Row LSTM)"]
    print(
        "\n## Row LSTM sampling\n\nThe PixelRNN (Row LSTM) sampled with its "
        f"cache and with the full pass: random-init, {config}; warm timings, best of "
        "plain and XLA.\n"
    )
    print(
        "| size | images | full pass s | full pass XLA s | cached s | cached XLA s "
        "| full pass s/image | cached s/image | cached speed-up | same images |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    grids = {}
    for size in sizes:
        levels = 17 if size <= 8 else 256
        dims = size * size
        steps = dims if max_steps is None or dims <= 64 else min(max_steps, dims)
        scale, mark = dims / steps, ("" if steps == dims else "≈")
        keras.utils.set_random_seed(seed)
        model = cls((size, size, 1), levels=levels, config=config).build_from_shape()
        for n in (1, grid):
            repeats = 5 if n == 1 and size <= 8 else 1
            full = {}
            for jit in (False, True):
                t, images = _time(
                    lambda m=model, k=steps, n=n, j=jit: sampling.sample_compiled(
                        m, n, seed, steps=k, jit_compile=j
                    ),
                    repeats,
                )
                full[jit] = (t * scale, images)
            cached = {
                jit: _time(
                    lambda m=model, n=n, j=jit: sampling.sample_cached(m, n, seed, jit_compile=j),
                    repeats,
                )
                for jit in (False, True)
            }
            prefix = np.asarray(full[False][1]).reshape(n, -1)[:, :steps]
            same = all(
                np.array_equal(np.asarray(images).reshape(n, -1)[:, :steps], prefix)
                for images in (full[True][1], cached[False][1], cached[True][1])
            )
            t_full = min(full[False][0], full[True][0])
            t_cached = min(cached[False][0], cached[True][0])
            if n == grid:
                grids[size] = (t_full, t_cached)
            print(
                f"| {size}x{size} | {n} | {mark}{full[False][0]:.2f} | {mark}{full[True][0]:.2f} "
                f"| {cached[False][0]:.3f} | {cached[True][0]:.3f} | {mark}{t_full / n:.4f} "
                f"| {t_cached / n:.4f} | {t_full / t_cached:.0f}× | {'yes' if same else 'NO'} |",
                flush=True,
            )
    if max_steps is not None:
        print(
            f"\n≈: the full pass timed on the first {max_steps} positions and scaled to the "
            "full image; 'same images' compares that prefix (8x8: timed and compared in full)."
        )
    big = max(sizes)
    if big in grids and train_steps > 0:
        keras.utils.set_random_seed(seed)
        model = cls((big, big, 1), levels=256, config=config).build_from_shape()
        speed = max(_train_speed(model, 64, train_steps, jit) for jit in (False, True))
        epoch = 60_000 / speed
        t_full, t_cached = grids[big]
        print(
            f"\nTraining the same model at {big}x{big} (batch 64, best of plain and XLA, "
            f"random images): {speed:,.0f} examples/s, so a 60,000-image (MNIST) epoch takes "
            f"about {epoch:,.0f} s. The {grid}-image grid drawn after it costs "
            f"{t_cached:.1f} s cached ({t_cached / epoch:.1%} of the epoch) against "
            f"{t_full:,.0f} s with the full pass ({t_full / epoch:.0%})."
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", choices=["all", "likelihood", "sampling", "row-lstm"], default="all"
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling part")
    parser.add_argument("--jit", action="store_true", help="train with XLA (likelihood part)")
    parser.add_argument(
        "--train-steps",
        type=int,
        default=8,
        help="batches per epoch when timing Row LSTM training at the largest size (0: skip)",
    )
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
        likelihood_table(args.epochs, args.batch_size, args.seeds, args.jit)
    if args.part in ("all", "sampling"):
        sampling_table(args.num_samples, args.sizes, args.max_steps, args.seed)
    if args.part in ("all", "sampling", "row-lstm"):
        row_lstm_table(args.sizes, args.num_samples, args.max_steps, args.seed, args.train_steps)


if __name__ == "__main__":
    main()
