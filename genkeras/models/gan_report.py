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

from genkeras import plots

__all__ = [
    "GANSnapshots",
    "stabilizer_metrics",
    "snapshots_2d",
    "snapshots_images",
    "write_figures",
]


def stabilizer_metrics(gan, spec, seed: int, num_samples: int = 2500) -> dict:
    """The body of :meth:`genkeras.models.gan.GAN.evaluation_metrics` (documented there)."""
    if gan.missing_stabilizers:
        warnings.warn(
            "the stabilizers' evaluation metrics are left out: this GAN was loaded without "
            f"the stabilizer plugin(s) {', '.join(gan.missing_stabilizers)} (not installed)",
            stacklevel=3,
        )
        return {}
    if not len(gan.stabilizers):
        return {}
    samples = gan.sample(num_samples, seed=seed).numpy()
    return gan.stabilizers.evaluation_metrics(gan, spec, samples)


def write_figures(gan, spec, out_dir) -> list[str]:
    """The body of :meth:`genkeras.models.gan.GAN.write_figures` (documented there)."""
    written = []
    if not gan.is_image and gan.data_shape == (2,):
        name = spec.name if spec.name in ("ring", "grid") else "modes"
        final = gan.sample(2500, seed=0).numpy()
        snapshots_2d(
            spec.x_test,
            gan.snapshots,
            final,
            os.path.join(out_dir, f"{name}.png"),
            centers=spec.extras.get("centers"),
            title=f"GAN on {spec.name}: data, training snapshots, final",
        )
        written.append(f"{name}.png")
    elif gan.is_image and gan.snapshots:
        snapshots_images(gan.snapshots, os.path.join(out_dir, "snapshots.png"), levels=gan.levels)
        written.append("snapshots.png")
    return written


def _pick_snapshots(snapshots, count):
    """Up to ``count`` snapshots spread evenly over training (first and last kept)."""
    if len(snapshots) <= count:
        return list(snapshots)
    idx = np.unique(np.linspace(0, len(snapshots) - 1, count).round().astype(int))
    return [snapshots[i] for i in idx]


def snapshots_2d(
    data, snapshots, final, path, centers=None, title=None, max_panels: int = 4
) -> str:
    """The mode-collapse picture: data, generated samples during training, final samples.

    Args:
        data: ``(m, 2)`` real points (first panel).
        snapshots: ``[(epoch, (n, 2) samples), ...]`` recorded during training
            (up to ``max_panels`` evenly spaced ones are drawn).
        final: ``(n, 2)`` samples of the trained generator (last panel).
        path: PNG file to write.
        centers: Optional ``(k, 2)`` mode centres, marked on every panel.
        title: Figure title.
        max_panels: Most snapshot panels drawn.

    Returns:
        ``path``.
    """
    plt = plots._pyplot()  # the figure helpers of genkeras.plots
    data = plots.to_numpy(data)
    panels = [("data", data, "0.4")]
    picked = _pick_snapshots(snapshots, max_panels)
    panels += [(f"epoch {e}", plots.to_numpy(s), "C0") for e, s in picked]
    panels.append(("final samples", plots.to_numpy(final), "C1"))
    lim = float(np.max(np.abs(data))) * 1.3 + 1e-6
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9), squeeze=False)
    for ax, (label, pts, color) in zip(axes[0], panels):
        ax.scatter(pts[:, 0], pts[:, 1], s=1.5, c=color, alpha=0.6)
        if centers is not None:
            c = plots.to_numpy(centers)
            ax.scatter(c[:, 0], c[:, 1], marker="x", c="red", s=14, linewidths=0.8)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return plots._save(fig, path)


def snapshots_images(
    snapshots, path, levels: int | None = None, max_rows: int = 6, per_row: int = 16
) -> str:
    """Rows of generated images recorded during training (one row per snapshot).

    Args:
        snapshots: ``[(epoch, (n, H, W, C) images), ...]`` (same ``z`` each time).
        path: PNG file to write.
        levels: Discrete levels of the images.
        max_rows: Most snapshots drawn (evenly spaced).
        per_row: Images per row.

    Returns:
        ``path``.
    """
    picked = _pick_snapshots(snapshots, max_rows)
    images = np.concatenate([plots.to_numpy(s)[:per_row] for _, s in picked])
    labels = []
    for epoch, s in picked:
        labels += [f"ep {epoch}" if i == 0 else "" for i in range(min(per_row, len(s)))]
    return plots.image_grid(
        images,
        path,
        levels=levels,
        ncols=min(per_row, len(picked[0][1])),
        labels=labels,
        title="samples during training (rows: epochs)",
    )


class GANSnapshots(keras.callbacks.Callback):
    """Records ``model.sample(num, seed)`` before the first epoch and after every epoch.

    The samples (NumPy) go to ``model.snapshots`` as ``(epoch, samples)`` pairs
    (epoch 0 = before training); :meth:`genkeras.models.gan.GAN.write_figures` draws them.

    Args:
        num: Samples per snapshot.
        seed: Seed of the samples (the same ``z`` every epoch).
        modes: ``(centers, std)`` of data with modes, whose per-epoch coverage
            is then logged; ``None`` for other data.
    """

    def __init__(self, num: int = 2500, seed: int = 0, modes=None):
        super().__init__()
        self.num = int(num)
        self.seed = int(seed)
        self.modes = modes

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
        """Records the generator after ``epoch + 1`` epochs; logs its mode coverage.

        On data with modes (``ring``, ``grid``), the snapshot's
        ``modes_covered`` and ``high_quality_fraction`` join the epoch's logs,
        so ``history.csv``, the curves and TensorBoard show collapse (and
        modes hopping) epoch by epoch.
        """
        self._record(epoch + 1)
        if logs is not None and self.modes is not None:
            from genkeras.evaluation.coverage import mode_coverage

            samples = self.model._store.snapshots[-1][1]
            coverage = mode_coverage(samples, *self.modes)
            logs["modes_covered"] = float(coverage["modes_covered"])
            logs["high_quality_fraction"] = coverage["high_quality_fraction"]
