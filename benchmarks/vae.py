"""Benchmark: what the README's main job costs and shows -- the VAE on digits.

Prints Markdown tables, every figure measured in this run on this machine::

    python benchmarks/vae.py            # the main command's defaults
    python benchmarks/vae.py --quick    # fewer repeats (a smoke run)

1. **Run loop vs bare fit.** The same model, defaults and seed trained by a
   bare ``keras.Model.fit`` (no callbacks, no validation, no run folder), by
   one that also evaluates the test split each epoch as the run does, and by
   ``genkeras.run.lifecycle.run``, alternated ``--repeats`` times: the median
   epoch's examples per second and the run's overhead in % of the bare epoch
   (same ``steps_per_execution``); the end of the run (test metrics with
   IWAE-1000, figures, saving); and a table of where the run's own time goes,
   each part timed per call, whose per-epoch parts (checkpoint, history,
   sample grid) are summed as the run's own per-epoch work.
2. **Throughput.** Bare training throughput (examples per wall- and
   CPU-second) of genkeras 0.1.0's networks with Keras's default of 1 step
   per call (the baseline), and of today's networks with 1 step per call and
   with the runner's automatic ``steps_per_execution``, alternated
   ``--repeats`` times and compared by median epochs; and whether today's two
   histories are identical.
3. **The lesson.** Active units, the classifier's view of 1,000 samples as
   ``samples.png`` shows them, and the test ELBO, for today's defaults and,
   as the baseline, the defaults of genkeras 0.1.0 (conv networks, 5 epochs
   in the README) at the same epochs, mean ± sd over seeds 0-2 (a seed moves
   the test ELBO by about a nat).
4. **Processes.** Wall time of the README's main command
   (``genkeras run vae``, install excluded), ``genkeras sample``,
   ``genkeras evaluate``, ``genkeras run vae --help`` and a refused option, each
   a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from genkeras import data  # noqa: E402
from genkeras.models.base import TrainingSettings  # noqa: E402
from genkeras.models.config import VAEConfig  # noqa: E402
from genkeras.run import lifecycle  # noqa: E402
from genkeras.run.config import RunConfig  # noqa: E402

#: The defaults of genkeras 0.1.0's main job: conv networks (the README ran 5 epochs).
OLD_OPTIONS = {"architecture": "conv", "hidden": 32}


class EpochTimer(keras.callbacks.Callback):
    """Wall and CPU time of every epoch (``on_epoch_begin`` to ``on_epoch_end``) and run end."""

    def __init__(self):
        super().__init__()
        self.wall, self.cpu, self.end = [], [], None

    def on_epoch_begin(self, epoch, logs=None):
        self.t = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        self.wall.append(time.perf_counter() - self.t[0])
        self.cpu.append(time.process_time() - self.t[1])

    def on_train_end(self, logs=None):
        self.end = (time.perf_counter(), time.process_time())


class Timings:
    """Wall time of each call of some methods while active: ``calls[label] = [seconds]``.

    Args:
        targets: ``(label, class, method name)`` triples; each method is wrapped on
            its class on entry and restored on exit.
    """

    def __init__(self, targets):
        self.targets = targets
        self.calls = {label: [] for label, _, _ in targets}

    def __enter__(self):
        self.saved = []
        for label, owner, name in self.targets:
            self.saved.append((owner, name, vars(owner).get(name)))
            original = getattr(owner, name)

            def timed(*args, _original=original, _label=label, **kwargs):
                start = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    self.calls[_label].append(time.perf_counter() - start)

            setattr(owner, name, timed)
        return self

    def __exit__(self, *exc):
        for owner, name, original in reversed(self.saved):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


#: The parts of the run loop that are its own per-epoch work (not the validation pass,
#: which a bare ``fit(validation_data=...)`` does too).
OWN_PARTS = (
    "checkpoint (per epoch)",
    "history.csv (per epoch)",
    "sample grid (per epoch, drawn every few)",
)


def run_parts():
    """The parts of ``lifecycle.run`` that :func:`print_parts` times."""
    from genkeras.evaluation import samples
    from genkeras.models.vae import VAE
    from genkeras.run import callbacks

    return [
        ("validation pass (per epoch)", VAE, "evaluate"),
        ("checkpoint (per epoch)", callbacks.Checkpoint, "on_epoch_end"),
        ("history.csv (per epoch)", callbacks.HistoryCSV, "on_epoch_end"),
        ("sample grid (per epoch, drawn every few)", callbacks.SampleGrid, "on_epoch_end"),
        ("test metrics incl. IWAE-1000 (end)", VAE, "evaluation_metrics"),
        ("sample quality: 1,000 samples, classifier (end)", samples, "sample_quality"),
        ("family figures (end)", VAE, "write_figures"),
    ]


def print_parts(timings: Timings, epochs: int) -> float:
    """Prints where the run's own time goes (the first epoch's calls, which trace, left out).

    Returns:
        Seconds per epoch of the run's own per-epoch work (the rows marked ``own``).
    """
    print("\n| part of lifecycle.run | calls | ms per call | ms per epoch |")
    print("|---|---|---|---|")
    own = 0.0
    for label, calls in timings.calls.items():
        steady = calls[1:] if len(calls) > 1 else calls
        per_call = 1000 * sum(steady) / max(len(steady), 1)
        per_epoch = f"{1000 * sum(steady) / max(epochs - 1, 1):.1f}" if len(calls) > 1 else "-"
        print(f"| {label} | {len(calls)} | {per_call:.1f} | {per_epoch} |")
        if label in OWN_PARTS:
            own += sum(steady) / max(epochs - 1, 1)
    return own


def bare_fit(epochs: int, spe: int, seed: int = 0, validate: bool = False, options=None):
    """A bare fit of the main job's model: no callbacks but the timer.

    With ``validate``, Keras also evaluates the test split after every epoch,
    exactly as ``lifecycle.run`` does (same dataset, same batch size).
    ``options`` are VAE config fields (e.g. :data:`OLD_OPTIONS`).
    """
    from genkeras.models.vae import VAE

    spec = data.load("digits")
    run = RunConfig(epochs=epochs).resolved(VAEConfig.run_defaults)
    keras.utils.set_random_seed(seed)
    model = VAE.from_data(spec, options or {})
    model.build_from_shape()
    steps = spec.steps_per_epoch(run.batch_size)
    model.compile_for_training(TrainingSettings(run.learning_rate, steps_per_execution=spe))
    timer = EpochTimer()
    validation = model.test_dataset(spec, max(run.batch_size, lifecycle.EVAL_BATCH))
    history = model.fit(
        spec.train_dataset(run.batch_size, seed, 0, epochs),
        validation_data=validation if validate else None,
        epochs=epochs,
        steps_per_epoch=steps,
        callbacks=[timer],
        shuffle=False,
        verbose=0,
    )
    return timer, history.history, steps * run.batch_size


def run_loop(epochs: int, out: str, options=None, seed: int = 0):
    """``lifecycle.run`` with a timer after the built-in callbacks.

    Returns:
        ``(timer, result, end)``: ``end`` is the end of the run's ``(wall, CPU)``
        seconds, from ``on_train_end`` to ``run``'s return.
    """
    timer = EpochTimer()
    result = lifecycle.run(
        "vae", epochs=epochs, out=out, seed=seed, verbose=0, options=options, callbacks=[timer]
    )
    wall, cpu = timer.end
    return timer, result, (time.perf_counter() - wall, time.process_time() - cpu)


def spread(values, digits: int) -> str:
    """``mean ± sd`` of some runs' values (just the value for one run)."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def later(values):
    """The epochs after the first (which traces and compiles)."""
    return values[1:] or values


def process(args, cwd) -> tuple[float, int]:
    """Wall seconds and exit code of ``genkeras ARGS`` in a fresh process."""
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "genkeras", *args], cwd=cwd, capture_output=True, text=True
    )
    return time.perf_counter() - t, proc.returncode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat of each process")
    parser.add_argument(
        "--seeds", type=int, default=3, help="seeds of the lesson table (default 3)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="alternated repeats of the throughput and run-loop tables",
    )
    args = parser.parse_args(argv)
    epochs = RunConfig().resolved(VAEConfig.run_defaults).epochs
    spec = data.load("digits")
    steps = spec.steps_per_epoch(VAEConfig.run_defaults["batch_size"])
    auto_spe = RunConfig().execution_steps(steps)
    tmp = tempfile.mkdtemp(prefix="genkeras-bench-")
    print(
        f"VAE on digits, main-job defaults ({epochs} epochs, batch "
        f"{VAEConfig.run_defaults['batch_size']}, {steps} steps/epoch), {os.cpu_count()} CPUs, "
        f"python {sys.version.split()[0]}, keras {keras.__version__}\n"
    )

    # 2. steps_per_execution (bare fits), alternated like the run loop below so that
    # the machine's slow spells fall on the three alike; medians of the epochs
    fits = {
        "0.1.0's networks (conv), steps_per_execution 1": (1, OLD_OPTIONS),
        "today's networks, steps_per_execution 1": (1, None),
        f"today's networks, steps_per_execution {auto_spe} (the runner's choice)": (auto_spe, None),
    }
    epoch_times = {name: ([], []) for name in fits}
    histories = {}
    for _ in range(args.repeats):
        for name, (spe, options) in fits.items():
            timer, histories[name], examples = bare_fit(epochs, spe, options=options)
            epoch_times[name][0].extend(later(timer.wall))
            epoch_times[name][1].extend(later(timer.cpu))
    rate = {
        name: (examples / np.median(wall), examples / np.median(cpu))
        for name, (wall, cpu) in epoch_times.items()
    }
    base = next(iter(rate.values()))
    one_hist, auto_hist = list(histories.values())[1:]
    identical = all(np.array_equal(one_hist[k], auto_hist[k]) for k in one_hist)
    print(
        f"{args.repeats} alternated repeats of each bare fit; examples per second of the "
        "median epoch (the first epoch of each, which traces, left out)\n"
    )
    print("| model | examples / wall-s | examples / CPU-s | vs 0.1.0 (wall) | vs 0.1.0 (CPU) |")
    print("|---|---|---|---|---|")
    for name, (wall, cpu) in rate.items():
        print(f"| {name} | {wall:.0f} | {cpu:.0f} | {wall / base[0]:.2f}x | {cpu / base[1]:.2f}x |")
    print(f"\nhistories identical for a fixed seed: {identical}\n")

    # 1. the run loop vs the bare fit with the same steps_per_execution, alternated so
    # that the machine's slow spells fall on all three alike; medians of the epochs
    walls = {"bare fit": [], "bare fit + validation": [], "lifecycle.run": []}
    ends = []
    for repeat in range(args.repeats):
        walls["bare fit"] += later(bare_fit(epochs, auto_spe)[0].wall)
        walls["bare fit + validation"] += later(bare_fit(epochs, auto_spe, validate=True)[0].wall)
        if repeat == 0:  # the parts are timed in the first run
            with Timings(run_parts()) as timings:
                timer, result, end_s = run_loop(epochs, os.path.join(tmp, "run"))
        else:
            timer, _, end_s = run_loop(epochs, os.path.join(tmp, f"run{repeat}"))
        walls["lifecycle.run"] += later(timer.wall)
        ends.append(end_s)
    median = {name: float(np.median(values)) for name, values in walls.items()}
    bare_epoch, val_epoch = median["bare fit"], median["bare fit + validation"]
    print(
        f"{args.repeats} alternated repeats of each; epoch = the median over their epochs "
        "(the first epoch of each, which traces, left out); end of run = the median, "
        "wall (and the process's CPU seconds in it)"
    )
    print(
        "\n| | examples / wall-s | epoch (s) | overhead vs bare fit "
        "| overhead vs bare fit + validation | end of run (s) |"
    )
    print("|---|---|---|---|---|---|")
    for name, epoch in median.items():
        over = f"{100 * (epoch / bare_epoch - 1):+.1f} %" if name != "bare fit" else "-"
        over_val = f"{100 * (epoch / val_epoch - 1):+.1f} %" if name == "lifecycle.run" else "-"
        wall, cpu = np.median(ends, axis=0)
        end = f"{wall:.2f} ({cpu:.2f} CPU)" if name == "lifecycle.run" else "-"
        print(f"| {name} | {examples / epoch:.0f} | {epoch:.3f} | {over} | {over_val} | {end} |")
    own = print_parts(timings, epochs)
    print(
        f"\nthe run's own per-epoch work (checkpoint, history.csv, sample grid; the NaN "
        f"watch is a check of the logged values): {1000 * own:.1f} ms per epoch = "
        f"{100 * own / bare_epoch:.1f} % of the bare epoch"
    )

    # 3. the lesson, today's defaults vs 0.1.0's at the same epochs, over seeds
    runs = {"today's": [result], "0.1.0 (conv)": []}
    for seed in range(args.seeds):
        if seed:
            runs["today's"].append(run_loop(epochs, os.path.join(tmp, f"new{seed}"), seed=seed)[1])
        old_out = os.path.join(tmp, f"old{seed}")
        runs["0.1.0 (conv)"].append(run_loop(epochs, old_out, options=OLD_OPTIONS, seed=seed)[1])
    print(
        f"\n{args.seeds} seeds (0-{args.seeds - 1}), mean ± sd; classes, class KL and "
        "confidence are the classifier's view of 1,000 samples as samples.png shows them"
    )
    print(
        "\n| defaults | active units | classes >= 2 % | class KL | confidence "
        "| test ELBO (nats) | IWAE-1000 (nats) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, results in runs.items():
        cells = [
            spread([r.metrics[key] for r in results], digits)
            for key, digits in (
                ("active_units", 1),
                ("classes_covered", 1),
                ("class_kl", 3),
                ("classifier_confidence", 3),
                ("elbo_nats", 2),
                ("iwae_nats", 2),
            )
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")

    # 4. processes (fresh interpreters, as a user types them)
    repeats = 1 if args.quick else 3
    main_out = os.path.join(tmp, "main")
    rows = [
        ("genkeras run vae (the main command)", ["run", "vae", "--out", main_out, "--overwrite"]),
        ("genkeras sample RUN -n 64 -o x.png", ["sample", main_out, "-n", "64", "-o", "x.png"]),
        ("genkeras evaluate RUN", ["evaluate", main_out]),
        ("genkeras run vae --help", ["run", "vae", "--help"]),
        ("genkeras run vae --epochs 0 (refused)", ["run", "vae", "--epochs", "0"]),
        ("genkeras run vae --dataset npz:missing.npz", ["run", "vae", "--dataset", "npz:no.npz"]),
    ]
    print("\n| command | wall (s), best of runs | exit code |")
    print("|---|---|---|")
    for name, argv_ in rows:
        times = [process(argv_, tmp) for _ in range(repeats)]
        print(f"| `{name}` | {min(t for t, _ in times):.2f} | {times[0][1]} |")
    print(f"\nmetrics of the main command: {json.dumps(result.metrics, sort_keys=True)}")


if __name__ == "__main__":
    main()
