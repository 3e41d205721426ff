"""Tiny real plugin distributions for the registry and GAN-plugin tests.

Each distribution is written as source (``pyproject.toml``, ``setup.cfg``, a
module) and installed with ``pip install --target DIR`` (offline, no build
isolation: the test environment's setuptools builds it), so it arrives with a
real ``*.dist-info`` folder holding its ``METADATA`` and ``entry_points.txt``
-- exactly what ``importlib.metadata`` finds for a pip-installed plugin.
Putting ``DIR`` on ``sys.path`` (or ``PYTHONPATH``) "installs" it; taking it off
uninstalls it; its position relative to genkeras's own metadata sets the
discovery order.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

#: name -> (version, {module file: source}, entry points as ``[group]`` / ``name = value`` lines)
DISTRIBUTIONS = {
    # Claims the built-in names r1-penalty (a stabilizer) and ring (a dataset), and
    # shares the name "twin" with genkeras-test-beta.
    "genkeras-test-alpha": (
        "1.0",
        {
            "alpha_plugin.py": '''
                """A plugin that claims names it must not get."""
                import numpy as np

                def usurper():
                    """An impostor for a built-in name."""
                    raise RuntimeError("alpha's impostor was used")

                class Twin:
                    """Alpha's twin."""

                def alpha_points():
                    """Sixteen 2-D points from alpha."""
                    from genkeras.data import DataSpec

                    x = np.arange(32, dtype="float32").reshape(16, 2)
                    return DataSpec("alpha-points", x[:12], x[12:])
            ''',
        },
        """
            [genkeras.stabilizers]
            r1-penalty = alpha_plugin:usurper
            twin = alpha_plugin:Twin
            [genkeras.datasets]
            ring = alpha_plugin:usurper
            alpha-points = alpha_plugin:alpha_points
        """,
    ),
    "genkeras-test-beta": (
        "2.0",
        {
            "beta_plugin.py": '''
                """A well-behaved plugin, except that it shares "twin" with alpha."""

                class Twin:
                    """Beta's twin."""

                class Calm:
                    """Beta's own stabilizer name."""
            ''',
            "beta_broken.py": "raise ImportError('beta_broken is broken')\n",
        },
        """
            [genkeras.stabilizers]
            twin = beta_plugin:Twin
            beta-calm = beta_plugin:Calm
            shaky = beta_broken:Shaky
        """,
    ),
    # A working stabilizer plugin that changes the discriminator's head (one extra
    # feature) and adds a loss term: a saved GAN trained with it cannot be rebuilt
    # whole without it.
    "genkeras-test-gamma": (
        "0.3",
        {
            "gamma_plugin/__init__.py": '''
                """A stabilizer plugin: only a Lazy handle here (no TensorFlow)."""
                from genkeras.registry import Lazy

                gamma = Lazy("gamma_plugin.stabilizer:GammaFeature", "A test feature.")
            ''',
            "gamma_plugin/stabilizer.py": '''
                """Appends the squared feature norm to D's features; penalises real logits."""
                import keras
                import tensorflow as tf

                from genkeras.stabilizers.base import Stabilizer


                @keras.saving.register_keras_serializable(package="gamma_plugin")
                class GammaFeature(Stabilizer):
                    """Appends ``‖f‖²`` to the features; adds ``mean l(x)²`` to D's loss."""

                    def build_features(self, dim):
                        return dim + 1

                    def transform_features(self, features, training):
                        norm = tf.reduce_sum(tf.square(features), axis=1, keepdims=True)
                        return tf.concat([features, norm], axis=1)

                    def discriminator_loss(self, ctx):
                        return tf.reduce_mean(tf.square(ctx.real_logits))
            ''',
        },
        """
            [genkeras.stabilizers]
            gamma-feature = gamma_plugin:gamma
        """,
    ),
}


def build_and_install(name: str, workdir: str) -> str:
    """Writes distribution ``name`` under ``workdir`` and pip-installs it into its own folder.

    Args:
        name: A key of :data:`DISTRIBUTIONS`.
        workdir: A scratch folder.

    Returns:
        The folder the distribution was installed into (put it on ``sys.path``).

    Raises:
        RuntimeError: If pip fails.
    """
    version, files, entry_points = DISTRIBUTIONS[name]
    src = os.path.join(workdir, "src", name)
    target = os.path.join(workdir, "site", name)
    modules = sorted({path.split("/")[0].removesuffix(".py") for path in files})
    packages = [m for m in modules if any(p.startswith(m + "/") for p in files)]
    py_modules = [m for m in modules if m not in packages]
    for path, text in files.items():
        full = os.path.join(src, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(textwrap.dedent(text).lstrip("\n"))
    with open(os.path.join(src, "pyproject.toml"), "w") as f:
        f.write(
            '[build-system]\nrequires = ["setuptools>=64"]\n'
            'build-backend = "setuptools.build_meta"\n'
        )
    lines = [
        "[metadata]",
        f"name = {name}",
        f"version = {version}",
        "",
        "[options]",
    ]
    if py_modules:
        lines.append("py_modules = " + ", ".join(py_modules))
    if packages:
        lines.append("packages = " + ", ".join(packages))
    lines += ["", "[options.entry_points]"]
    for line in textwrap.dedent(entry_points).strip().splitlines():  # INI groups -> setup.cfg
        line = line.strip()
        lines.append(f"{line[1:-1]} =" if line.startswith("[") else f"    {line}")
    lines.append("")
    with open(os.path.join(src, "setup.cfg"), "w") as f:
        f.write("\n".join(lines))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--target",
            target,
            src,
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pip install of {name} failed:\n{proc.stdout}\n{proc.stderr}")
    return target
