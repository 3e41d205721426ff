"""Shared pytest set-up: quiet TensorFlow, headless matplotlib, seeded runs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if "GENKERAS_CACHE" not in os.environ:  # per-user caches (the coverage classifier) stay local
    import tempfile

    os.environ["GENKERAS_CACHE"] = tempfile.mkdtemp(prefix="genkeras-test-cache-")

import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: heavier checks (still run in CI)")


@pytest.fixture
def seeded():
    """Seeds Python, NumPy and TensorFlow with 0 and returns the seed."""
    import keras

    keras.utils.set_random_seed(0)
    return 0
