"""Mode coverage of GAN variants on the 8-Gaussian ring and the 25-Gaussian grid.

Trains the genkeras GAN (same networks, optimizer and number of generator
steps) with the plain non-saturating loss, the minimax loss, each built-in
stabilizer alone and a few combinations, for several seeds each, and prints one Markdown table per
dataset: modes covered (mean ± sd over seeds), high-quality samples (%),
reverse KL of the mode histogram to uniform, and training steps per second
(XLA-compiled ``train_step``; first compilation excluded). The metrics follow
the VEEGAN/PacGAN protocol (:func:`genkeras.evaluation.coverage.mode_coverage`, 2,500
samples, 3 standard deviations).

Literature anchors on the same protocol (modes / % high quality):
ring -- GAN 1 / 99.3, Unrolled GAN 7.6 / 35.6, VEEGAN 8 / 52.9 (VEEGAN Table 1),
PacGAN4 7.8 / 95.9 (PacGAN Table 1); grid -- GAN 3.3 / 0.5, VEEGAN 24.6 / 40,
PacGAN4 24.8 / 93.6. Those use other networks and far more steps; the
numbers here compare the variants with each other at a fixed budget.

Usage::

    python benchmarks/mode_coverage.py                       # defaults below
    python benchmarks/mode_coverage.py --steps 3000 --seeds 3 --datasets ring
    python benchmarks/mode_coverage.py --variants plain,feature-matching
    python benchmarks/mode_coverage.py --steps 5000 --variants pacgan,wgan-gp
    python benchmarks/mode_coverage.py --datasets digits --seeds 3      # image rows
    python benchmarks/mode_coverage.py --compare-cli                    # run loop cost

On ``digits`` (labelled images, no mode centres) the table reports how the
project's coverage classifier labels 2,500 samples instead: classes with at
least 1 % of the samples, the KL of the class histogram to uniform, and the
mean top probability; the steps, batch size and learning rate default to the
image GAN's run defaults (``genkeras run gan --dataset digits``) and its
variants are :data:`IMAGE_VARIANTS`.

``--compare-cli`` times the documented ring configuration through the CLI
(:data:`DOCUMENTED_RING`, a fresh ``genkeras run`` process) against this
script training the same variant for the same number of steps (a fresh
process too), and prints both walls, their ratio and both coverages.

``pacgan`` packs 4 samples per discriminator input (PacGAN4); ``wgan-gp``
follows its authors' toy experiments (λ = 0.1, 5 critic updates per generator
step), so it makes five times as many discriminator updates as the other rows
in the same number of generator steps.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# Sub-batches of 16 keep minibatch discrimination's pairwise comparison affordable at batch 512.
MBD = "minibatch-discrimination:kernels=16,dims=4,group=16"
R1 = "r1-penalty:gamma=1"
# PacGAN4 (Lin et al. 2018): D judges packs of 4 samples, the paper's best on ring and grid.
PACGAN = "pacgan:m=4"
# WGAN-GP (Gulrajani et al. 2017) with the settings of the authors' toy experiments
# (gan_toy.py of their code: lambda = 0.1 "for toy tasks", five critic updates per
# generator update, Adam beta_1 = 0.5); their beta_2 = 0.9 and learning rate 1e-4 are
# not GAN options, so the optimizer is the other rows'.
WGAN_GP = {"d_steps": 5, "stabilizers": ["wgan-gp:penalty=0.1"]}
VARIANTS = {
    "plain": {},
    "minimax": {"loss": "minimax"},
    "feature-matching": {"stabilizers": ["feature-matching"]},
    "minibatch-discrimination": {"stabilizers": [MBD]},
    "historical-averaging": {"stabilizers": ["historical-averaging"]},
    "one-sided-label-smoothing": {"stabilizers": ["one-sided-label-smoothing"]},
    "instance-noise": {"stabilizers": ["instance-noise"]},
    "r1-penalty": {"stabilizers": [R1]},
    "mbd + r1": {"stabilizers": [MBD, R1]},
    "fm + mbd": {"stabilizers": ["feature-matching", MBD]},
    "fm + r1": {"stabilizers": ["feature-matching", R1]},
    "pacgan": {"stabilizers": [PACGAN]},
    "wgan-gp": WGAN_GP,
}

#: The image rows: the stabilizers a learner tries first, and the best pair.
IMAGE_VARIANTS = [
    "plain",
    "feature-matching",
    "minibatch-discrimination",
    "r1-penalty",
    "fm + mbd",
    "fm + r1",
]

#: The digits configuration the README and docs/gans.md print (2,200 steps).
DOCUMENTED_DIGITS = [
    "--dataset", "digits", "--epochs", "100", "--learning-rate", "4e-4",
    "--stabilizer", "feature-matching",
]  # fmt: skip

#: The ring configuration the README and docs/gans.md print (20,016 steps).
DOCUMENTED_RING = [
    "--dataset", "ring", "--batch-size", "512", "--learning-rate", "1e-3", "--lr-decay",
    "0.01", "--epochs", "417", "--stabilizer", "r1-penalty:gamma=1", "--jit",
]  # fmt: skip


def image_defaults(args) -> None:
    """Fills unset ``--steps``, ``--batch-size``, ``--learning-rate``, ``--lr-decay`` for digits."""
    from genkeras import data
    from genkeras.models.config import GANConfig
    from genkeras.run.config import RunConfig

    given = dict(zip(DOCUMENTED_DIGITS[::2], DOCUMENTED_DIGITS[1::2]))
    run = RunConfig(
        epochs=int(given["--epochs"]), learning_rate=float(given["--learning-rate"])
    ).resolved(GANConfig.run_defaults)
    steps_per_epoch = data.load("digits").steps_per_epoch(run.batch_size)
    for key, value in {
        "steps": run.epochs * steps_per_epoch,
        "batch_size": run.batch_size,
        "learning_rate": run.learning_rate,
        "lr_decay": run.lr_decay,
    }.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def _timed(cmd, env) -> tuple[float, str]:
    """Runs ``cmd`` as a fresh process; returns its wall seconds and stdout (exits on failure)."""
    import subprocess

    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def _shell(args) -> str:
    """``genkeras run gan ARGS`` as a shell command wrapped at 80 columns."""
    lines = textwrap.wrap("genkeras run gan " + " ".join(args), 78, break_on_hyphens=False)
    return " \\\n    ".join(lines)


def compare_cli(args) -> int:
    """Times the documented ring and digits configurations as the CLI runs them.

    Ring: the CLI's process wall for :data:`DOCUMENTED_RING` beside this
    script's (a fresh process too) for the same variant and steps. Digits:
    the CLI's wall for :data:`DOCUMENTED_DIGITS` and its classifier coverage.
    """
    import json
    import tempfile

    epochs = int(DOCUMENTED_RING[DOCUMENTED_RING.index("--epochs") + 1])
    steps = epochs * 48  # the ring's 24,576 training points in batches of 512
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    cli = [sys.executable, "-m", "genkeras", "run", "gan", "--quiet"]
    bench = [sys.executable, __file__, "--datasets", "ring", "--variants", "r1-penalty"]
    bench += ["--seeds", "1", "--steps", str(steps)]
    with tempfile.TemporaryDirectory() as tmp:
        bench_wall, stdout = _timed(bench, env)
        row = [r for r in stdout.splitlines() if r.startswith("| r1-penalty")][0]
        cells = [c.strip() for c in row.strip("|").split("|")]
        cli_wall, _ = _timed(cli + DOCUMENTED_RING + ["--out", os.path.join(tmp, "ring")], env)
        ring = json.loads(open(os.path.join(tmp, "ring", "metrics.json")).read())
        digits_wall, _ = _timed(cli + DOCUMENTED_DIGITS + ["--out", os.path.join(tmp, "d")], env)
        digits = json.loads(open(os.path.join(tmp, "d", "metrics.json")).read())
    print(f"## The ring configuration\n\n{steps} steps, seed 0, process wall.\n")
    print(f"```\n{_shell(DOCUMENTED_RING)}\n```\n")
    print("| how | wall s | ratio to the benchmark | modes covered | high quality % |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| benchmarks/mode_coverage.py | {bench_wall:.1f} | 1.00x | {cells[1]} | {cells[2]} |")
    print(
        f"| genkeras run gan | {cli_wall:.1f} | {cli_wall / bench_wall:.2f}x | "
        f"{ring['modes_covered']:.0f} / {ring['num_modes']} | "
        f"{100 * ring['high_quality_fraction']:.1f} |\n"
    )
    print("## The digits configuration\n\nSeed 0, process wall.\n")
    print(f"```\n{_shell(DOCUMENTED_DIGITS)}\n```\n")
    print("| wall s | classes covered | class KL to uniform | confidence |")
    print("| --- | --- | --- | --- |")
    print(
        f"| {digits_wall:.1f} | {digits['classes_covered']} / {digits['num_classes']} | "
        f"{digits['class_kl']:.3f} | {digits['classifier_confidence']:.3f} |"
    )
    return 0


def image_coverage(spec, samples) -> dict:
    """Classifier coverage of generated digits (the run folder's GAN metrics)."""
    from genkeras.evaluation import classifier as metrics

    classifier, _ = metrics.coverage_classifier(spec, metrics.classifier_cache(spec))
    return metrics.classifier_coverage(samples, classifier, spec.levels, spec.num_classes)


def train_one(spec, options, args, seed):
    """Trains one GAN; returns (coverage dict, steps per second)."""
    import keras

    from genkeras.evaluation import coverage as metrics
    from genkeras.models.base import TrainingSettings
    from genkeras.models.gan import GAN

    keras.utils.set_random_seed(seed)
    gan = GAN.from_data(spec, dict(options))
    # Several steps per call of the compiled function: on a CPU, with networks this
    # small, per-call overhead would otherwise dominate the step time.
    spe = min(args.steps_per_execution, args.steps)
    settings = TrainingSettings(
        args.learning_rate, args.steps, args.lr_decay, jit=True, steps_per_execution=spe
    )
    gan.compile_for_training(settings)
    ds = spec.train_dataset(args.batch_size, seed)
    gan.fit(ds, epochs=1, steps_per_epoch=spe, verbose=0)  # traces and compiles the step
    start = time.perf_counter()
    if args.steps > spe:
        gan.fit(ds, epochs=1, steps_per_epoch=args.steps - spe, verbose=0)
    steps_per_s = (args.steps - spe) / max(time.perf_counter() - start, 1e-9)
    samples = gan.sample(2500, seed=seed).numpy()
    if spec.is_image:
        return image_coverage(spec, samples), steps_per_s
    return metrics.mode_coverage(samples, spec.extras["centers"], spec.extras["std"]), steps_per_s


def seed_rows(spec, variant, args) -> tuple[dict, np.ndarray]:
    """Trains ``variant`` for every seed; returns each metric over the seeds, and steps/s.

    Prints one progress line per seed to stderr, off the table.
    """
    rows = []
    for seed in range(args.seeds):
        rows.append(train_one(spec, VARIANTS[variant], args, seed))
        shown = ", ".join(f"{k} {v:.3g}" for k, v in rows[-1][0].items())
        print(
            f"{spec.name} {variant} seed {seed}: {shown}, {rows[-1][1]:.0f} steps/s",
            file=sys.stderr,
            flush=True,
        )
    columns = {k: np.array([r[k] for r, _ in rows], dtype=float) for k in rows[0][0]}
    return columns, np.array([s for _, s in rows])


def image_rows(spec, variants, args) -> None:
    """Prints the image table: classifier coverage per variant, mean ± sd over seeds."""
    print(f"## {spec.name} ({spec.num_classes} classes, classifier coverage of 2,500 samples)\n")
    print("| variant | classes covered | class KL to uniform | confidence | steps/s |")
    print("| --- | --- | --- | --- | --- |")
    for variant in variants:
        col, rate = seed_rows(spec, variant, args)
        print(
            f"| {variant} | {col['classes_covered'].mean():.1f} ± "
            f"{col['classes_covered'].std():.1f} / {spec.num_classes} | "
            f"{col['class_kl'].mean():.3f} ± {col['class_kl'].std():.3f} | "
            f"{col['classifier_confidence'].mean():.3f} ± "
            f"{col['classifier_confidence'].std():.3f} | {rate.mean():.0f} |",
            flush=True,
        )
    print()


def point_rows(spec, variants, args) -> None:
    """Prints the 2-D table: modes covered, high-quality %, reverse KL per variant."""
    k = len(spec.extras["centers"])
    print(f"## {spec.name} ({k} modes, std {spec.extras['std']})\n")
    print("| variant | modes covered | high quality % | reverse KL | steps/s |")
    print("| --- | --- | --- | --- | --- |")
    for variant in variants:
        col, rate = seed_rows(spec, variant, args)
        modes, hq, kl = col["modes_covered"], 100 * col["high_quality_fraction"], col["reverse_kl"]
        print(
            f"| {variant} | {modes.mean():.1f} ± {modes.std():.1f} / {k} | "
            f"{hq.mean():.1f} ± {hq.std():.1f} | {kl.mean():.2f} ± {kl.std():.2f} | "
            f"{rate.mean():.0f} |",
            flush=True,
        )
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="ring,grid")
    parser.add_argument(
        "--variants", default=None, help="default: all (ring, grid) or IMAGE_VARIANTS (digits)"
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=None, help="default 20000 (digits: run's)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 512 (digits: run's)")
    parser.add_argument("--learning-rate", type=float, default=None, help="default 1e-3")
    parser.add_argument(
        "--lr-decay",
        type=float,
        default=None,
        help="final learning rate as a fraction of the initial one (cosine decay; default 0.01)",
    )
    parser.add_argument("--steps-per-execution", type=int, default=250)
    parser.add_argument("--compare-cli", action="store_true", help=compare_cli.__doc__)
    args = parser.parse_args(argv)
    if args.compare_cli:
        return compare_cli(args)

    from genkeras import data

    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if "digits" in datasets:
        if len(datasets) > 1:
            parser.error("run digits on its own: it has its own steps, batch size and rate")
        image_defaults(args)
    for key, value in {
        "steps": 20000, "batch_size": 512, "learning_rate": 1e-3, "lr_decay": 0.01
    }.items():  # fmt: skip
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.variants is None:
        args.variants = ",".join(IMAGE_VARIANTS if "digits" in datasets else VARIANTS)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    print(
        f"# GAN mode coverage: {args.steps} steps, batch {args.batch_size}, "
        f"Adam lr {args.learning_rate} (beta_1 0.5) cosine-decayed to "
        f"{args.lr_decay:g}x, seeds 0..{args.seeds - 1}, 2,500 samples, "
        + ("digits classifier" if "digits" in datasets else "high quality = within 3 std")
        + ", XLA\n"
    )
    for name in datasets:
        spec = data.load(name)
        (image_rows if spec.is_image else point_rows)(spec, variants, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
