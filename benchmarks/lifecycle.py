"""Benchmark: the run lifecycle against an earlier genkeras, in the same run, alternated.

Prints a Markdown table, every figure measured in this run on this machine::

    python benchmarks/lifecycle.py --baseline /path/to/old/checkout
    python benchmarks/lifecycle.py --baseline-ref 7dd5906   # a git worktree of that commit

For each tree (``--baseline`` first, then this checkout), alternated
``--repeats`` times, each in a fresh interpreter whose ``PYTHONPATH`` is that
tree, it trains the README's main job (``vae`` on ``digits`` at its defaults,
seed 0) through the tree's own Python API (``genkeras.run.run``, or
``genkeras.training.run`` in trees from before the lifecycle moved) and
measures:

* **throughput**: training examples per second of the median epoch after the
  first (``on_epoch_begin`` to ``on_epoch_end``, the validation pass included,
  as a run does it);
* **end of run**: wall and CPU seconds from ``on_train_end`` to the API's
  return (test metrics with the IWAE-1000 bound, sample quality, figures,
  saving);
* **command**: wall seconds of ``python -m genkeras run vae --quiet`` (imports
  and start-up included).

The table gives the best and the median over the repeats for each; the
machine's speed moves by tens of percent within minutes, so compare the two
trees' rows of the same run only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Runs in the measured interpreter: trains the main job and prints one JSON line.
SNIPPET = r"""
import json, sys, time
import keras
import os
import genkeras
if os.path.exists(os.path.join(os.path.dirname(genkeras.__file__), "training.py")):
    from genkeras.training import run  # before the run machinery moved to genkeras.run
else:
    from genkeras.run import run

class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(time.perf_counter() - self.t)
    def on_train_end(self, logs=None):
        self.end = (time.perf_counter(), time.process_time())

timer = Timer()
timer.epochs = []
result = run("vae", out=sys.argv[1], verbose=0, callbacks=[timer])
wall, cpu = time.perf_counter() - timer.end[0], time.process_time() - timer.end[1]
print("RESULT=" + json.dumps({"epochs": timer.epochs, "end_wall": wall, "end_cpu": cpu}))
"""


def measure(tree: str, tmp: str) -> dict:
    """One repeat for ``tree``: the in-process timings, then the command's wall time."""
    env = dict(os.environ, PYTHONPATH=tree, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    out = tempfile.mkdtemp(dir=tmp)
    proc = subprocess.run(
        [sys.executable, "-c", SNIPPET, os.path.join(out, "api")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
    )
    if proc.returncode:
        raise SystemExit(f"{tree}: the run failed:\n{proc.stderr[-3000:]}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT=")][-1]
    result = json.loads(line[len("RESULT=") :])
    start = time.perf_counter()
    cli = subprocess.run(
        [sys.executable, "-m", "genkeras", "run", "vae", "--quiet", "--out", out + "/cli"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
    )
    if cli.returncode:
        raise SystemExit(f"{tree}: genkeras run vae failed:\n{cli.stderr[-3000:]}")
    result["command"] = time.perf_counter() - start
    return result


def git_worktree(ref: str, tmp: str) -> str:
    """A detached worktree of ``ref`` under ``tmp`` (removed by the caller's cleanup)."""
    path = os.path.join(tmp, f"baseline-{ref}")
    subprocess.run(["git", "-C", HERE, "worktree", "add", "--detach", "-q", path, ref], check=True)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--baseline", help="a checkout of the earlier genkeras")
    where.add_argument("--baseline-ref", help="a git commit of this repository to compare with")
    parser.add_argument("--repeats", type=int, default=3, help="alternated repeats (default 3)")
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="genkeras-lifecycle-")
    baseline = args.baseline or git_worktree(args.baseline_ref, tmp)
    label = args.baseline or args.baseline_ref
    trees = {f"baseline ({label})": baseline, "this checkout": HERE}
    runs = {name: [] for name in trees}
    try:
        for _ in range(args.repeats):
            for name, tree in trees.items():
                runs[name].append(measure(tree, tmp))
    finally:
        if args.baseline_ref:
            subprocess.run(["git", "-C", HERE, "worktree", "remove", "--force", baseline])
    from genkeras import data
    from genkeras.models.config import VAEConfig

    examples = data.load("digits").steps_per_epoch(VAEConfig.run_defaults["batch_size"])
    examples *= VAEConfig.run_defaults["batch_size"]
    print(
        f"The main job (vae on digits, defaults), {args.repeats} alternated repeats per tree, "
        f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}\n"
    )
    print(
        "| tree | throughput, ex/s (best / median) | end of run, s (best / median) "
        "| end of run, CPU-s (median) | genkeras run vae, s (best / median) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name, results in runs.items():
        rates = [examples / statistics.median(r["epochs"][1:]) for r in results]
        ends = [r["end_wall"] for r in results]
        cpus = [r["end_cpu"] for r in results]
        commands = [r["command"] for r in results]
        print(
            f"| {name} | {max(rates):.0f} / {statistics.median(rates):.0f} "
            f"| {min(ends):.2f} / {statistics.median(ends):.2f} "
            f"| {statistics.median(cpus):.2f} "
            f"| {min(commands):.1f} / {statistics.median(commands):.1f} |"
        )


if __name__ == "__main__":
    main()
