"""Benchmark: genkeras EM (TFP, one compiled loop) vs scikit-learn's GaussianMixture.

Two tables, measured in one run on the same machine:

1. Speed (issue 26). Three cells with full covariances and 20 EM iterations
   (``tol=0``): 100k x 2 x 8, 1M x 2 x 8 and 100k x 16 x 32 (N x D x K). The
   same synthetic data and the same start (uniform weights, K data points as
   means, the data covariance for every component, given as
   ``weights_init``/``means_init``/``precisions_init``) for scikit-learn
   (float64 input, what it computes in) and genkeras (float32 input, float64
   input). Timings are the best of ``--repeats`` fits, the three estimators
   alternated, with genkeras warmed up (its EM ``tf.function`` traced). The
   "first fit" columns time genkeras's first fit in a fresh process (after
   ``import tensorflow``, whose import time is shown separately): tracing,
   graph optimisation and the run, everything a user waits for the first time.

2. Memory (``--memory``). Peak resident memory of a fresh child process for
   a fit with D=16, K=8, 3 iterations, as N grows: genkeras streaming a
   ``tf.data`` pipeline that generates the data chunk by chunk (the data is
   never in memory), genkeras on an in-memory array, and scikit-learn on the
   same array.

Usage::

    python benchmarks/mixture.py                 # the speed table (minutes on 2 cores)
    python benchmarks/mixture.py --repeats 2     # fewer repeats
    python benchmarks/mixture.py --memory        # also the memory table (slow)
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


#: The speed table's cells (N, D, K), full covariances.
SPEED_CELLS = ((100_000, 2, 8), (1_000_000, 2, 8), (100_000, 16, 32))


def sklearn_fit(x, start, iters):
    """scikit-learn's fit from ``start``; returns ``(seconds, fitted estimator)``."""
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    w0, m0, c0 = start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 runs all iterations
        t = time.perf_counter()
        sk = SkGaussianMixture(
            len(w0),
            covariance_type="full",
            max_iter=iters,
            tol=0.0,
            weights_init=w0,
            means_init=m0,
            precisions_init=np.linalg.inv(c0),
            init_params="random_from_data",  # cheapest init; its result is replaced by start
            random_state=0,
        ).fit(x)
        return time.perf_counter() - t, sk


def genkeras_fit(x, start, iters):
    """genkeras's fit from ``start`` (in ``x``'s dtype); returns ``(seconds, estimator)``."""
    from genkeras.mixture import GaussianMixture

    w0, m0, c0 = start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        gm = GaussianMixture(
            len(w0),
            covariance_type="full",
            max_iter=iters,
            tol=0.0,
            weights_init=w0,
            means_init=m0,
            precisions_init=np.linalg.inv(c0),
        ).fit(x)
        return time.perf_counter() - t, gm


def speed_row(n, d, k, iters, repeats):
    """Best-of-``repeats`` times of scikit-learn and genkeras (f32, f64), alternated."""
    x64 = make_data(n, d, k)
    x32 = x64.astype(np.float32)
    start = initial_params(x64, k)
    genkeras_fit(x32[:4096], start, 1)  # warm-up: trace the float32 and float64 EM
    genkeras_fit(x64[:4096], start, 1)
    times = {"sk": [], "f32": [], "f64": []}
    for _ in range(repeats):
        t, sk = sklearn_fit(x64, start, iters)
        times["sk"].append(t)
        t, g32 = genkeras_fit(x32, start, iters)
        times["f32"].append(t)
        t, g64 = genkeras_fit(x64, start, iters)
        times["f64"].append(t)
    if not g32.n_iter_ == g64.n_iter_ == sk.n_iter_ == iters:
        raise RuntimeError(f"iteration mismatch: {g32.n_iter_}, {g64.n_iter_}, {sk.n_iter_}")
    row = {f"{key}_s": min(v) for key, v in times.items()}
    # lower_bound_: the mean log-likelihood before the last M-step, same meaning in both.
    row.update(sk_ll=float(sk.lower_bound_), f32_ll=g32.lower_bound_, f64_ll=g64.lower_bound_)
    row["same_labels"] = float(np.mean(g32.predict(x32) == sk.predict(x64)))
    return row


def first_fit_child(n, d, k, iters, dtype):
    """In a fresh process: seconds of ``import tensorflow`` and of genkeras's first fit."""
    t = time.perf_counter()
    import tensorflow  # noqa: F401

    import_s = time.perf_counter() - t
    x = make_data(n, d, k)
    start = initial_params(x, k)
    seconds, _ = genkeras_fit(x.astype(dtype), start, iters)
    return {"import_s": import_s, "first_s": seconds}


def run_first_fit(n, d, k, iters, dtype):
    """Runs :func:`first_fit_child` in a fresh interpreter."""
    args = ["--first-fit-child", str(n), str(d), str(k), str(iters), dtype]
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"first-fit child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


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
    """Prints the speed table (and with ``--memory`` the memory table) as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=20, help="EM iterations (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="fits per estimator and cell")
    parser.add_argument(
        "--cells",
        nargs="+",
        default=None,
        help="speed cells as NxDxK (default: 100000x2x8 1000000x2x8 100000x16x32)",
    )
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--memory", action="store_true", help="also the memory table")
    parser.add_argument(
        "--sklearn-max-n",
        type=int,
        default=1_000_000,
        help="largest N of the memory table that scikit-learn also runs",
    )
    parser.add_argument("--memory-child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--first-fit-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        mode, n, d, k, iters = args.memory_child
        print(json.dumps(memory_child(mode, int(n), int(d), int(k), int(iters))))
        return
    if args.first_fit_child:
        n, d, k, iters, dtype = args.first_fit_child
        print(json.dumps(first_fit_child(int(n), int(d), int(k), int(iters), dtype)))
        return

    import platform

    import sklearn
    import tensorflow as tf

    iters = args.iters
    print("# genkeras EM vs scikit-learn GaussianMixture")
    print(
        f"\nTF {tf.__version__}, scikit-learn {sklearn.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"load average at start {os.getloadavg()[0]:.1f}\n"
    )
    if not args.skip_speed:
        print(
            f"## Speed and agreement\n\nFull covariance, {iters} EM iterations, same start, "
            f"best of {args.repeats} alternated.\n"
        )
        print(
            "Seconds of `fit`. *warm*: genkeras's EM already traced in the process; "
            "*first fit*: genkeras's first fit in a fresh process (tracing and graph "
            "optimisation included; `import tensorflow` not included, shown last). "
            "Speed-up = scikit-learn s / genkeras s. `lower_bound_` is the mean "
            "log-likelihood before the last M-step in both.\n"
        )
        print(
            "| N x D x K | sklearn f64 s | genkeras f32 s | genkeras f64 s | "
            "speed-up f32 | speed-up f64 | first fit f32 s | speed-up f32 first fit | "
            "sklearn lower_bound_ | genkeras f32 - sklearn | genkeras f64 - sklearn | "
            "same labels f32 | import tensorflow s |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        cells = SPEED_CELLS
        if args.cells:
            cells = [tuple(int(v) for v in c.lower().split("x")) for c in args.cells]
        for n, d, k in cells:
            r = speed_row(n, d, k, iters, args.repeats)
            first = run_first_fit(n, d, k, iters, "float32")
            print(
                f"| {fmt_n(n)} x {d} x {k} | {r['sk_s']:.2f} | {r['f32_s']:.3f} | "
                f"{r['f64_s']:.3f} | {r['sk_s'] / r['f32_s']:.1f}x | "
                f"{r['sk_s'] / r['f64_s']:.1f}x | {first['first_s']:.2f} | "
                f"{r['sk_s'] / first['first_s']:.1f}x | {r['sk_ll']:.8f} | "
                f"{r['f32_ll'] - r['sk_ll']:.1e} | {r['f64_ll'] - r['sk_ll']:.1e} | "
                f"{100 * r['same_labels']:.2f}% | {first['import_s']:.1f} |",
                flush=True,
            )
    if args.memory:
        mem_iters = 3
        mem_ns = [100_000, 1_000_000, 10_000_000]
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
