"""Regenerates the committed full-mode figures of the chapters, into ``docs/_static/figures/``.

The docs build executes every example itself, in quick mode, into the examples
gallery (sphinx-gallery, see ``docs/conf.py``), and a chapter shows the gallery's
figure wherever a quick run makes the same figure (``chain_rule_likelihood``,
``kl_asymmetry``). A tiny run cannot make the others (an untrained VAE's
manifold is noise, the 25-Gaussian grid is not trained at all in quick mode,
EM's panels stop before 30 iterations), so for the examples in
:data:`FULL_MODE_EXAMPLES` the chapters show PNGs made by a full run of the
same script, committed with the docs, and this script remakes them (and the
landing page's tour). Re-run it when one of those examples or a model changes::

    python docs/make_figures.py                       # those examples (full mode) + the tour
    python docs/make_figures.py --only vae_digits     # one example
    python docs/make_figures.py --quick               # quick mode: seconds, for a smoke test

For each ``examples/NAME.py`` it runs the script in a fresh interpreter with
``GENKERAS_EXAMPLE_OUT=docs/_static/figures/NAME`` (the folder is emptied
first); for the landing page's tour it runs the README's main command,
``genkeras run vae`` (its defaults, seed 0), and for the GAN chapter's image
GAN the documented digits command (:data:`CLI_FIGURES`), and copies the run
folder's figures into ``figures/tour`` and ``figures/gan_digits``. Every
PNG larger than ``--max-kb`` (150 KB) is re-encoded with a 256-colour palette;
one that is still too large is an error. ``figures/manifest.txt`` records how
each folder was made (mode, seconds, files).
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
FIGURES = DOCS / "_static" / "figures"
EXAMPLES = ROOT / "examples"
#: Examples whose chapter figures need a full-mode run (the rest come from the gallery).
FULL_MODE_EXAMPLES = (
    "gan_losses",
    "mixture_em",
    "mode_collapse",
    "pixelcnn_blind_spot",
    "pixelcnn_vs_pixelrnn",
    "vae_digits",
    "write_a_plugin",
)
#: Figures made by a documented ``genkeras`` command (its arguments, the files kept):
#: the landing page's tour (the README's main command) and the image GAN of the GAN chapter.
CLI_FIGURES = {
    "tour": (["run", "vae"], ("curves.png", "samples.png", "reconstructions.png", "manifold.png")),
    "gan_digits": (
        ["run", "gan", "--dataset", "digits", "--epochs", "100", "--learning-rate", "4e-4"]
        + ["--stabilizer", "feature-matching"],
        ("samples.png",),
    ),
}


def _env(out: pathlib.Path, quick: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GENKERAS_EXAMPLE_OUT=str(out), TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    if quick:
        env["GENKERAS_EXAMPLE_QUICK"] = "1"
    else:
        env.pop("GENKERAS_EXAMPLE_QUICK", None)
    return env


def shrink(path: pathlib.Path, max_kb: int) -> int:
    """Re-encodes ``path`` with a 256-colour palette if it exceeds ``max_kb``; returns its size.

    Raises:
        SystemExit: If the PNG is still larger than ``max_kb``.
    """
    size = path.stat().st_size
    if size <= max_kb * 1024:
        return size
    from PIL import Image

    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    palette.save(path, optimize=True)
    size = path.stat().st_size
    if size > max_kb * 1024:
        raise SystemExit(f"{path} is {size // 1024} KB even with a palette (limit {max_kb} KB)")
    return size


def run_example(path: pathlib.Path, quick: bool) -> tuple[float, list[str]]:
    """Runs one example into ``figures/<stem>/``; returns (seconds, files written)."""
    out = FIGURES / path.stem
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cwd:  # an example must not litter the repo
        proc = subprocess.run([sys.executable, str(path)], cwd=cwd, env=_env(out, quick))
    if proc.returncode:
        raise SystemExit(f"{path.name} failed with exit code {proc.returncode}")
    return time.perf_counter() - start, sorted(p.name for p in out.glob("*.png"))


def run_cli(name: str) -> tuple[float, list[str]]:
    """Runs the documented command of :data:`CLI_FIGURES` ``[name]``; copies its figures.

    The run folder is a temporary one; the listed figures land in ``figures/<name>``.
    """
    args, files = CLI_FIGURES[name]
    out = FIGURES / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = pathlib.Path(tmp) / "run"
        cmd = [sys.executable, "-m", "genkeras", *args, "--out", str(run_dir)]
        proc = subprocess.run(cmd, cwd=tmp, env=_env(out, quick=False))
        if proc.returncode:
            raise SystemExit(f"genkeras {' '.join(args)} failed with exit code {proc.returncode}")
        for file in files:
            if (run_dir / file).exists():
                shutil.copy(run_dir / file, out / file)
    return time.perf_counter() - start, sorted(p.name for p in out.glob("*.png"))


def _read_manifest() -> dict[str, str]:
    path = FIGURES / "manifest.txt"
    rows = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line and not line.startswith("#"):
                rows[line.split()[0]] = line
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="example names (file stems), 'tour' and/or 'gan_digits'; default: all",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="run the examples in quick mode (GENKERAS_EXAMPLE_QUICK=1)",
    )
    parser.add_argument("--max-kb", type=int, default=150, help="size limit of one PNG")
    args = parser.parse_args(argv)

    names = [*FULL_MODE_EXAMPLES, *CLI_FIGURES]
    wanted = names if args.only is None else args.only
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise SystemExit(f"unknown example(s): {', '.join(unknown)}. Valid: {', '.join(names)}")
    updates = {}
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    for name in wanted:
        print(f"== {name}", flush=True)
        if name in CLI_FIGURES:
            seconds, files = run_cli(name)
            mode = "genkeras-" + "-".join(CLI_FIGURES[name][0][:2])
        else:
            seconds, files = run_example(EXAMPLES / f"{name}.py", args.quick)
            mode = "quick" if args.quick else "full"
        if not files:
            raise SystemExit(f"{name} wrote no PNG")
        sizes = [shrink(FIGURES / name / f, args.max_kb) // 1024 for f in files]
        listing = ", ".join(f"{f} ({kb} KB)" for f, kb in zip(files, sizes))
        updates[name] = f"{name:<24} {mode:<26} {stamp}  {seconds:6.0f} s  {listing}"
        print(updates[name], flush=True)
    manifest = {**_read_manifest(), **updates}  # re-read: another run may have written it
    header = (
        "# folder                 how it was made            date        time   "
        "files (made by docs/make_figures.py)"
    )
    (FIGURES / "manifest.txt").write_text(
        "\n".join([header] + [manifest[k] for k in sorted(manifest)]) + "\n"
    )


if __name__ == "__main__":
    main()
