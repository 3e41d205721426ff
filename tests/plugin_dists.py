"""Tiny real plugin distributions for the registry and GAN-plugin tests.

Each distribution is packed as a wheel -- a zip of its modules and a
``*.dist-info`` folder (``METADATA``, ``WHEEL``, ``entry_points.txt``,
``RECORD``), written here directly so no build backend (and no network) is
needed, whatever the interpreter -- and installed with ``pip install --target
DIR``, so it arrives exactly as pip installs a published plugin, and
``importlib.metadata`` finds it the same way. Putting ``DIR`` on ``sys.path``
(or ``PYTHONPATH``) "installs" it; taking it off uninstalls it; its position
relative to genkeras's own metadata sets the discovery order.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import textwrap
import zipfile

#: name -> (version, {module file: source}, the text of its ``entry_points.txt``)
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


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(name: str, workdir: str) -> str:
    """Packs distribution ``name`` as a ``py3-none-any`` wheel in ``workdir``; returns its path."""
    version, files, entry_points = DISTRIBUTIONS[name]
    stem = name.replace("-", "_")
    info = f"{stem}-{version}.dist-info"
    contents = {path: textwrap.dedent(text).lstrip("\n").encode() for path, text in files.items()}
    contents[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: A test plugin.\n"
    ).encode()
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: genkeras-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    contents[f"{info}/entry_points.txt"] = textwrap.dedent(entry_points).lstrip("\n").encode()
    record = [_record_line(path, data) for path, data in contents.items()]
    contents[f"{info}/RECORD"] = ("\n".join(record + [f"{info}/RECORD,,"]) + "\n").encode()
    os.makedirs(workdir, exist_ok=True)
    wheel = os.path.join(workdir, f"{stem}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
    return wheel


def build_and_install(name: str, workdir: str) -> str:
    """Builds distribution ``name`` and pip-installs it into a folder of its own.

    Args:
        name: A key of :data:`DISTRIBUTIONS`.
        workdir: A scratch folder.

    Returns:
        The folder the distribution was installed into (put it on ``sys.path``).

    Raises:
        RuntimeError: If pip fails.
    """
    wheel = build_wheel(name, os.path.join(workdir, "wheels"))
    target = os.path.join(workdir, "site", name)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    command += ["--disable-pip-version-check", "--target", target, wheel]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pip install of {name} failed:\n{proc.stdout}\n{proc.stderr}")
    return target
