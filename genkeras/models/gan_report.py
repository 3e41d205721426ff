"""What a GAN run reports: sample-quality metrics, figures, and the snapshots behind them.

:class:`~genkeras.models.gan.GAN` implements the runner's hooks
(``evaluation_metrics``, ``write_figures``, ``callbacks``) with these, so the
class itself stays the game: networks, losses and ``train_step``.
"""

from __future__ import annotations

import os
import warnings

import keras
import numpy as np

__all__ = ["GANSnapshots", "sample_quality_metrics", "write_figures"]


def sample_quality_metrics(gan, spec, cache_dir, num_samples: int, seed: int) -> dict:
    """The body of :meth:`genkeras.models.gan.GAN.evaluation_metrics` (documented there)."""
    from genkeras import metrics as metrics_lib

    samples = gan.sample(num_samples, seed=seed).numpy()
    result: dict[str, float] = {"num_samples": int(num_samples)}
    metrics_lib.merge_metrics(result, metrics_lib.dataset_metrics(spec, samples), "dataset")
    if gan.is_image and spec.y_train is not None and spec.num_classes:
        classifier, accuracy = metrics_lib.coverage_classifier(spec, cache_dir=cache_dir)
        result.update(
            metrics_lib.classifier_coverage(samples, classifier, spec.levels, spec.num_classes)
        )
        result["classifier_test_accuracy"] = accuracy
    if gan.missing_stabilizers:
        warnings.warn(
            "the stabilizers' evaluation metrics are left out: this GAN was loaded without "
            f"the stabilizer plugin(s) {', '.join(gan.missing_stabilizers)} (not installed)",
            stacklevel=3,
        )
    else:
        stabilizer_metrics = gan.stabilizers.evaluation_metrics(gan, spec, samples)
        metrics_lib.merge_metrics(result, stabilizer_metrics, "stabilizer")
    return result


def write_figures(gan, spec, out_dir) -> list[str]:
    """The body of :meth:`genkeras.models.gan.GAN.write_figures` (documented there)."""
    from genkeras import plots

    written = []
    if not gan.is_image and gan.data_shape == (2,):
        name = spec.name if spec.name in ("ring", "grid") else "modes"
        final = gan.sample(2500, seed=0).numpy()
        plots.gan_snapshots_2d(
            spec.x_test,
            gan.snapshots,
            final,
            os.path.join(out_dir, f"{name}.png"),
            centers=spec.extras.get("centers"),
            title=f"GAN on {spec.name}: data, training snapshots, final",
        )
        written.append(f"{name}.png")
    elif gan.is_image and gan.snapshots:
        plots.gan_snapshots_images(
            gan.snapshots, os.path.join(out_dir, "snapshots.png"), levels=gan.levels
        )
        written.append("snapshots.png")
    return written


class GANSnapshots(keras.callbacks.Callback):
    """Records ``model.sample(num, seed)`` before the first epoch and after every epoch.

    The samples (NumPy) go to ``model.snapshots`` as ``(epoch, samples)`` pairs
    (epoch 0 = before training); :meth:`genkeras.models.gan.GAN.write_figures` draws them.

    Args:
        num: Samples per snapshot.
        seed: Seed of the samples (the same ``z`` every epoch).
    """

    def __init__(self, num: int = 2500, seed: int = 0):
        super().__init__()
        self.num = int(num)
        self.seed = int(seed)

    def _record(self, epoch):
        samples = self.model.sample(self.num, seed=self.seed)
        self.model._store.snapshots.append((int(epoch), np.asarray(samples)))

    def on_epoch_begin(self, epoch, logs=None):
        """Records the generator before its first epoch of this ``fit`` (if none is recorded).

        ``epoch`` counts the epochs already trained: 0 for a fresh run, the
        checkpoint's epoch for a resumed one.
        """
        if not self.model._store.snapshots:
            self._record(epoch)

    def on_epoch_end(self, epoch, logs=None):
        """Records the generator after ``epoch + 1`` epochs."""
        self._record(epoch + 1)
