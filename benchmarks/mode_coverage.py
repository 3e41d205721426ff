"""Mode coverage of GAN variants on the 8-Gaussian ring and the 25-Gaussian grid.

Trains the genkeras GAN (same networks, optimizer and number of generator
steps) with the plain non-saturating loss, the minimax loss, each built-in
stabilizer alone and a few combinations, for several seeds each, and prints one Markdown table per
dataset: modes covered (mean ± sd over seeds), high-quality samples (%),
reverse KL of the mode histogram to uniform, and training steps per second
(XLA-compiled ``train_step``; first compilation excluded). The metrics follow
the VEEGAN/PacGAN protocol (:func:`genkeras.metrics.mode_coverage`, 2,500
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

``pacgan`` packs 4 samples per discriminator input (PacGAN4); ``wgan-gp``
follows its authors' toy experiments (λ = 0.1, 5 critic updates per generator
step), so it makes five times as many discriminator updates as the other rows
in the same number of generator steps.
"""

from __future__ import annotations

import argparse
import os
import sys
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


def train_one(spec, options, args, seed):
    """Trains one GAN; returns (coverage dict, steps per second)."""
    import keras

    from genkeras import metrics, training
    from genkeras.models.gan import GAN

    keras.utils.set_random_seed(seed)
    gan = GAN.from_data(spec, dict(options))
    rate = training.learning_rate_schedule(args.learning_rate, args.steps, args.lr_decay)
    # Several steps per call of the compiled function: on a CPU, with networks this
    # small, per-call overhead would otherwise dominate the step time.
    spe = min(args.steps_per_execution, args.steps)
    gan.compile_for_training(rate, jit_compile=True, steps_per_execution=spe)
    ds = spec.train_dataset(args.batch_size, seed)
    gan.fit(ds, epochs=1, steps_per_epoch=spe, verbose=0)  # traces and compiles the step
    start = time.perf_counter()
    if args.steps > spe:
        gan.fit(ds, epochs=1, steps_per_epoch=args.steps - spe, verbose=0)
    steps_per_s = (args.steps - spe) / max(time.perf_counter() - start, 1e-9)
    samples = gan.sample(2500, seed=seed).numpy()
    return metrics.mode_coverage(samples, spec.extras["centers"], spec.extras["std"]), steps_per_s


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="ring,grid")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument(
        "--lr-decay",
        type=float,
        default=0.01,
        help="final learning rate as a fraction of the initial one (cosine decay)",
    )
    parser.add_argument("--steps-per-execution", type=int, default=250)
    args = parser.parse_args(argv)

    from genkeras import data

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    print(
        f"# GAN mode coverage: {args.steps} steps, batch {args.batch_size}, "
        f"Adam lr {args.learning_rate} (beta_1 0.5) cosine-decayed to "
        f"{args.lr_decay:g}x, seeds 0..{args.seeds - 1}, "
        "2,500 samples, high quality = within 3 std\n"
    )
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        spec = data.load(name)
        k = len(spec.extras["centers"])
        print(f"## {name} ({k} modes, std {spec.extras['std']})\n")
        print("| variant | modes covered | high quality % | reverse KL | steps/s |")
        print("| --- | --- | --- | --- | --- |")
        for variant in variants:
            rows = []
            for seed in range(args.seeds):
                rows.append(train_one(spec, VARIANTS[variant], args, seed))
                cov, speed = rows[-1]
                print(  # progress, off the table
                    f"{name} {variant} seed {seed}: {cov['modes_covered']}/{k} modes, "
                    f"{100 * cov['high_quality_fraction']:.1f}% HQ, {speed:.0f} steps/s",
                    file=sys.stderr,
                    flush=True,
                )
            modes = np.array([r["modes_covered"] for r, _ in rows], dtype=float)
            hq = np.array([100 * r["high_quality_fraction"] for r, _ in rows])
            kl = np.array([r["reverse_kl"] for r, _ in rows])
            rate = np.array([s for _, s in rows])
            print(
                f"| {variant} | {modes.mean():.1f} ± {modes.std():.1f} / {k} | "
                f"{hq.mean():.1f} ± {hq.std():.1f} | {kl.mean():.2f} ± {kl.std():.2f} | "
                f"{rate.mean():.0f} |",
                flush=True,
            )
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
