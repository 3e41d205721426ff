"""The built-ins' lazy handles: ``import genkeras`` is enough to load any run's model.keras."""

import os
import subprocess
import sys

from genkeras import catalog

LEGACY = os.path.join(os.path.dirname(__file__), "data", "legacy_runs")

LOAD = r"""
import sys
import genkeras
assert "tensorflow" not in sys.modules, "import genkeras imported TensorFlow"
import keras
for path in sys.argv[1:]:
    print(type(keras.saving.load_model(path)).__name__)
"""


def test_import_genkeras_is_enough_for_keras_load_model():
    paths = [os.path.join(LEGACY, name, "model.keras") for name in ("vae", "gan", "pixelcnn")]
    proc = subprocess.run(
        [sys.executable, "-c", LOAD, *paths],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["VAE", "GAN", "PixelCNN"]


def test_every_built_in_family_is_deferred_in_keras_registry():
    import keras

    catalog.register_with_keras()  # keras is loaded: registers at once (idempotent)
    objects = keras.saving.get_custom_objects()
    for handle in catalog.MODELS:
        name = "genkeras>" + handle.target.rpartition(":")[2]
        assert name in objects, name
