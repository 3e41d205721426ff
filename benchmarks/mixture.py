"""Benchmark: genkeras EM (TFP, one compiled loop) vs scikit-learn's GaussianMixture.

Two tables, measured in one run on the same machine:

1. Speed and agreement. For every N in {10k, 100k, 1M}, D in {2, 16}, K in
   {8, 32} (full covariances): the same synthetic data, the same initial
   parameters (uniform weights, K data points as means, the data covariance
   for every component) and the same number of EM iterations (``tol=0``) for
   scikit-learn (float64) and genkeras (float32 and float64). Reported: both
   final mean log-likelihoods, their relative difference, wall times of
   ``fit`` and the ratio genkeras / scikit-learn (< 1 means genkeras is faster).
   genkeras is timed after a warm-up on two tiny fits (``tf.function``
   tracing, a one-off cost per covariance type and dtype, is shown in its own
   column); scikit-learn's time includes its initial M-step on the (ignored)
   ``random_from_data`` responsibilities.

2. Memory. Peak resident memory (``ru_maxrss`` of a fresh child process) of a
   fit with D=16, K=8, 3 iterations, as N grows: genkeras streaming a
   ``tf.data`` pipeline that generates the data chunk by chunk (the data is
   never in memory), genkeras on an in-memory array, and scikit-learn on the
   same array.

Usage::

    python benchmarks/mixture.py            # the full grid (tens of minutes on 2 cores)
    python benchmarks/mixture.py --quick    # a small grid in about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def make_data(n, d, k, seed=0):
    """A K-component Gaussian mixture sample with random anisotropic clusters."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 4.0, (k, d))
    scales = rng.uniform(0.3, 1.5, (k, d))
    labels = rng.integers(0, k, n)
    return centers[labels] + scales[labels] * rng.standard_normal((n, d))


def initial_params(x, k, seed=1):
    """Shared starting point: uniform weights, K random points, data covariance."""
    rng = np.random.default_rng(seed)
    d = x.shape[1]
    means = x[rng.choice(len(x), k, replace=False)]
    cov = np.cov(x[: min(len(x), 100_000)].T).reshape(d, d) + 1e-3 * np.eye(d)
    return np.full(k, 1.0 / k), means, np.stack([cov] * k)


def speed_row(n, d, k, iters):
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from genkeras.mixture import GaussianMixture

    x = make_data(n, d, k)
    w0, m0, c0 = initial_params(x, k)
    row = {"N": n, "D": d, "K": k, "iters": iters}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 runs all iterations
        t, cpu = time.perf_counter(), time.process_time()
        sk = SkGaussianMixture(
            k,
            covariance_type="full",
            max_iter=iters,
            tol=0.0,
            weights_init=w0,
            means_init=m0,
            precisions_init=np.linalg.inv(c0),
            init_params="random_from_data",
            random_state=0,
        ).fit(x)
        row["sk_time"] = time.perf_counter() - t
        row["sk_cpu"] = time.process_time() - cpu
    row["sk_ll"] = float(sk.score(x))
    for dtype in ("float32", "float64"):
        # Warm-up on two small sizes so tf.function has traced its shape-generic graph;
        # the first (tracing) call's time is reported separately.
        t = time.perf_counter()
        for size in (4096, 8192):  # enough points per component for a full covariance
            GaussianMixture(
                k,
                max_iter=1,
                tol=0.0,
                weights_init=w0,
                means_init=m0,
                covariances_init=c0,
                dtype=dtype,
            ).fit(x[:size])
        row[f"{dtype}_warmup"] = time.perf_counter() - t
        t, cpu = time.perf_counter(), time.process_time()
        gm = GaussianMixture(
            k,
            covariance_type="full",
            max_iter=iters,
            tol=0.0,
            weights_init=w0,
            means_init=m0,
            covariances_init=c0,
            dtype=dtype,
        ).fit(x)
        row[f"{dtype}_time"] = time.perf_counter() - t
        row[f"{dtype}_cpu"] = time.process_time() - cpu
        row[f"{dtype}_ll"] = gm.lower_bound_  # mean log-likelihood after the last M-step
        if gm.n_iter_ != sk.n_iter_:
            raise RuntimeError(f"iteration mismatch: {gm.n_iter_} vs {sk.n_iter_}")
    return row


def streamed_dataset(n, d, k, chunk=65_536, seed=0):
    """A tf.data pipeline that generates the mixture sample chunk by chunk, deterministically."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    centers = tf.constant(rng.normal(0.0, 4.0, (k, d)), tf.float32)
    scales = tf.constant(rng.uniform(0.3, 1.5, (k, d)), tf.float32)
    sizes = [chunk] * (n // chunk) + ([n % chunk] if n % chunk else [])
    offsets = np.cumsum([0] + sizes[:-1])

    def make(i, size):
        key = tf.stack([tf.cast(i, tf.int32), tf.constant(seed, tf.int32)])
        labels = tf.random.stateless_uniform([size], key, maxval=k, dtype=tf.int32)
        noise = tf.random.stateless_normal([size, d], key + 1)
        return tf.gather(centers, labels) + tf.gather(scales, labels) * noise

    return (
        tf.data.Dataset.from_tensor_slices(
            (tf.constant(offsets, tf.int64), tf.constant(sizes, tf.int32))
        )
        .map(make)
        .prefetch(1)
    )


class RssSampler:
    """Samples this process's resident set size every few milliseconds in a thread."""

    def __init__(self, interval=0.005):
        import threading

        self.interval = interval
        self.peak = self.current()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20  # MiB

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


def memory_child(mode, n, d, k, iters):
    """Runs one fit in this (fresh) process; returns its memory above the warmed-up baseline.

    The baseline is the resident size after importing TensorFlow and running a
    tiny warm-up fit of the same mode (so the TF runtime itself is not counted).
    The peak is sampled while the data is produced and the model is fitted.
    """
    from genkeras.mixture import GaussianMixture

    rng = np.random.default_rng(1)
    warm = make_data(2048, d, k)
    init = (np.full(k, 1.0 / k), warm[:k], np.stack([np.eye(d)] * k))
    kwargs = {
        "max_iter": iters,
        "tol": 0.0,
        "weights_init": init[0],
        "means_init": init[1],
        "covariances_init": init[2],
    }
    if mode == "genkeras-streamed":
        GaussianMixture(k, **kwargs).fit(streamed_dataset(4096, d, k, chunk=1024))
    elif mode == "genkeras-array":
        GaussianMixture(k, **kwargs).fit(warm)
    else:
        from sklearn.mixture import GaussianMixture as SkGaussianMixture
    baseline = RssSampler.current()
    ds = streamed_dataset(n, d, k)
    first = next(iter(ds)).numpy()
    w0, m0 = np.full(k, 1.0 / k), first[rng.choice(len(first), k, replace=False)]
    c0 = np.stack([np.cov(first.T) + 1e-3 * np.eye(d)] * k)
    kwargs.update(weights_init=w0, means_init=m0, covariances_init=c0)
    with RssSampler() as sampler:
        t = time.perf_counter()
        if mode == "genkeras-streamed":
            ll = GaussianMixture(k, **kwargs).fit(ds).history_[-2]
        else:
            x = np.concatenate([b.numpy() for b in ds])  # (n, d) float32
            if mode == "genkeras-array":
                ll = GaussianMixture(k, **kwargs).fit(x).history_[-2]
            else:
                x = x.astype(np.float64)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    sk = SkGaussianMixture(
                        k,
                        max_iter=iters,
                        tol=0.0,
                        weights_init=w0,
                        means_init=m0,
                        precisions_init=np.linalg.inv(c0),
                        init_params="random_from_data",
                    ).fit(x)
                ll = float(sk.lower_bound_)  # mean log-likelihood before the last M-step
        elapsed = time.perf_counter() - t
    return {
        "mode": mode,
        "N": n,
        "baseline_mib": baseline,
        "peak_mib": sampler.peak,
        "extra_mib": sampler.peak - baseline,
        "time": elapsed,
        "ll": ll,
    }


def run_child(mode, n, d, k, iters):
    out = subprocess.run(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--memory-child",
            mode,
            str(n),
            str(d),
            str(k),
            str(iters),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"child {mode} N={n} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt_n(n):
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grid (about a minute)")
    parser.add_argument(
        "--iters", type=int, default=None, help="EM iterations (default 10, quick 5)"
    )
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument(
        "--sklearn-max-n",
        type=int,
        default=1_000_000,
        help="largest N of the memory table that scikit-learn also runs "
        "(it is slow at 10M); larger cells say 'not run'",
    )
    parser.add_argument("--memory-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        mode, n, d, k, iters = args.memory_child
        print(json.dumps(memory_child(mode, int(n), int(d), int(k), int(iters))))
        return

    import platform

    import sklearn
    import tensorflow as tf

    iters = args.iters or (5 if args.quick else 10)
    mem_iters = 3
    ns = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    ks = [8] if args.quick else [8, 32]
    print(f"# genkeras EM vs scikit-learn GaussianMixture ({'quick' if args.quick else 'full'})")
    print(
        f"\nTF {tf.__version__}, scikit-learn {sklearn.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"load average at start {os.getloadavg()[0]:.1f}\n"
    )
    if not args.skip_speed:
        print(f"## Speed and agreement\n\nFull covariance, {iters} EM iterations, same start.\n")
        print(
            "Wall-clock seconds of `fit`, and in brackets the process CPU seconds (all "
            "threads; less sensitive to other load on the machine).\n"
        )
        print(
            "| N | D | K | sklearn loglik | genkeras f64 loglik | genkeras f32 loglik | "
            "max rel diff | sklearn s | genkeras f32 s | genkeras f64 s | "
            "ratio f32/sk | ratio f64/sk | warm-up (tracing) s |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in ns:
            for d in (2, 16):
                for k in ks:
                    r = speed_row(n, d, k, iters)
                    rel = max(
                        abs(r[f"{t}_ll"] - r["sk_ll"]) / abs(r["sk_ll"])
                        for t in ("float32", "float64")
                    )
                    print(
                        f"| {fmt_n(n)} | {d} | {k} | {r['sk_ll']:.6f} | "
                        f"{r['float64_ll']:.6f} | {r['float32_ll']:.6f} | {rel:.1e} | "
                        f"{r['sk_time']:.2f} ({r['sk_cpu']:.2f}) | "
                        f"{r['float32_time']:.2f} ({r['float32_cpu']:.2f}) | "
                        f"{r['float64_time']:.2f} ({r['float64_cpu']:.2f}) | "
                        f"{r['float32_time'] / r['sk_time']:.2f} "
                        f"({r['float32_cpu'] / r['sk_cpu']:.2f}) | "
                        f"{r['float64_time'] / r['sk_time']:.2f} "
                        f"({r['float64_cpu'] / r['sk_cpu']:.2f}) | "
                        f"{r['float32_warmup'] + r['float64_warmup']:.1f} |",
                        flush=True,
                    )
    if not args.skip_memory:
        mem_ns = [10_000, 100_000, 1_000_000] if args.quick else [100_000, 1_000_000, 10_000_000]
        print(
            f"\n## Memory\n\nAbove the warmed-up process: D=16, K=8, {mem_iters} iterations, "
            "a fresh process per cell.\n"
        )
        print(
            "Peak resident memory while producing the data and fitting, minus the "
            "resident size after imports and a tiny warm-up fit (baseline in brackets).\n"
        )
        print(
            "| N | genkeras streamed tf.data MiB | genkeras in-memory array MiB | "
            "sklearn in-memory MiB | streamed s | array s | sklearn s |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for n in mem_ns:
            modes = ["genkeras-streamed", "genkeras-array"]
            if n <= args.sklearn_max_n:
                modes.append("sklearn")
            cells = [run_child(m, n, 16, 8, mem_iters) for m in modes]
            lls = [c["ll"] for c in cells if "ll" in c]
            if max(lls) - min(lls) > 1e-3 * abs(lls[0]):
                print(f"(log-likelihoods disagree at N={n}: {lls})")
            skipped = ["not run (N > `--sklearn-max-n`)"] * (3 - len(cells))
            memory = [f"{c['extra_mib']:.0f} ({c['baseline_mib']:.0f})" for c in cells]
            seconds = [f"{c['time']:.1f}" for c in cells]
            print(
                f"| {fmt_n(n)} | " + " | ".join(memory + skipped + seconds + skipped) + " |",
                flush=True,
            )


if __name__ == "__main__":
    main()
