"""Loading a saved GAN whose stabilizer plugins are not installed: the generator alone.

Sampling needs only the generator. :func:`missing_stabilizers` says which of
a saved GAN's stabilizers cannot be loaded here; :func:`generator_only`
rebuilds the GAN without them and reads the generator's weights from the
``.keras`` file (what :meth:`genkeras.models.gan.GAN.load_saved` does when
plugins are missing); :func:`require_discriminator` stops such a GAN where it
would need the discriminator it does not have.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import numpy as np

from genkeras.stabilizers.spec import parse_spec

__all__ = [
    "generator_only",
    "missing_stabilizers",
    "require_discriminator",
    "saved_arrays",
    "saved_model_config",
]


def missing_stabilizers(specs) -> tuple[str, ...]:
    """The names among stabilizer ``specs`` that cannot be loaded here (not installed, broken).

    Args:
        specs: Stabilizer spec strings, as in ``GANConfig.stabilizers``.

    Returns:
        The names, in order, without repeats.
    """
    from genkeras import registry

    missing = []
    for spec in specs:
        name, _ = parse_spec(spec)
        try:
            registry.stabilizers.get(name)
        except (registry.UnknownNameError, ImportError):
            if name not in missing:
                missing.append(name)
    return tuple(missing)


def saved_model_config(path: str) -> dict:
    """The GAN's ``get_config`` as saved in a ``.keras`` file (read without building it)."""
    with zipfile.ZipFile(path) as archive:
        saved = json.loads(archive.read("config.json"))
    if saved.get("registered_name") != "genkeras>GAN":
        raise ValueError(f"{path}: not a saved genkeras GAN ({saved.get('registered_name')}).")
    return saved["config"]


def saved_arrays(path: str, group: str) -> list[np.ndarray]:
    """Every array stored under ``group`` of a ``.keras`` file's weights."""
    import h5py

    arrays: list[np.ndarray] = []
    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as f:
        with h5py.File(io.BytesIO(f.read()), "r") as h5:
            if group not in h5:
                raise ValueError(f"{path}: the saved weights have no {group!r} group.")
            h5[group].visititems(
                lambda _, obj: arrays.append(obj[()]) if isinstance(obj, h5py.Dataset) else None
            )
    return arrays


def generator_only(cls, path: str, saved: dict, missing=()):
    """Rebuilds a saved GAN of class ``cls`` without stabilizers; reads its generator's weights.

    ``GAN.generator_only`` is this function as a classmethod (``cls`` is then
    the class it is called on).

    Args:
        cls: The GAN class.
        path: The ``.keras`` file.
        saved: Its GAN config (``GAN.get_config()``'s output).
        missing: The stabilizer names that could not be loaded.

    Returns:
        A GAN whose ``missing_stabilizers`` is ``missing``.

    Raises:
        ValueError: If the generator's weights are not all in the file.
    """
    options = {**cls.config_class.upgrade(dict(saved["config"])), "stabilizers": []}
    gan = cls(
        data_shape=saved["data_shape"],
        levels=saved.get("levels"),
        config=options,
        num_classes=saved.get("num_classes"),
        name=saved.get("name", "gan"),
    )
    with warnings.catch_warnings():
        # The discriminator's layers differ (the stabilizers changed them): Keras
        # skips them with warnings. Only the generator's weights are used.
        warnings.simplefilter("ignore")
        gan.load_weights(path, skip_mismatch=True)
    stored = saved_arrays(path, "generator")
    for variable in gan.generator.variables:
        value = np.asarray(variable.numpy())
        if not any(a.shape == value.shape and np.array_equal(a, value) for a in stored):
            raise ValueError(
                f"{path}: could not read the generator's weight {variable.path} "
                f"(the stabilizers {', '.join(missing)} are not installed, so only the "
                "generator is loaded)."
            )
    gan.missing_stabilizers = tuple(missing)
    return gan


def require_discriminator(gan, what: str) -> None:
    """Raises if ``gan`` was loaded without stabilizers, so holds no discriminator.

    Args:
        gan: A GAN.
        what: What needs the discriminator, for the message (``"training"``).

    Raises:
        RuntimeError: If ``gan.missing_stabilizers`` is not empty (the
            message names them).
    """
    if gan.missing_stabilizers:
        raise RuntimeError(
            f"This GAN was loaded without the stabilizer plugin(s) it was trained with "
            f"({', '.join(gan.missing_stabilizers)} not installed), so it holds only its "
            f"generator: it can sample and evaluate, but {what} needs the discriminator. "
            "Install the plugin(s) and load the run again."
        )
