"""Figures written into run folders and by the examples (matplotlib, Agg backend).

Every function takes arrays (NumPy or tensors) and a file path, writes one PNG
and returns the path, so it can be called from training callbacks, the CLI,
the examples and the docs build alike.
"""

from __future__ import annotations

import math
import os

import numpy as np

__all__ = [
    "gmm_ellipses",
    "image_grid",
    "kl_fits",
    "latent_manifold",
    "latent_scatter",
    "loglik_curve",
    "blind_spot_mask",
    "receptive_field",
    "samples_figure",
    "scatter_2d",
    "tile",
    "to_numpy",
    "training_curves",
]


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def to_numpy(x) -> np.ndarray:
    """Converts a tensor or array-like to a NumPy array."""
    if hasattr(x, "numpy"):
        return x.numpy()
    return np.asarray(x)


def _save(fig, path, tight: bool = True, fast: bool = False) -> str:
    path = os.fspath(path)
    tmp = path + ".tmp.png"
    # ``fast``: zlib's quickest level; the PNG stays lossless, a little larger.
    extra = {"pil_kwargs": {"compress_level": 1}} if fast else {}
    fig.savefig(tmp, dpi=100, bbox_inches="tight" if tight else None, **extra)
    if fig.canvas.manager is not None:  # made by pyplot: release it
        _pyplot().close(fig)
    os.replace(tmp, path)  # never leave a half-written figure behind
    return path


def tile(images, ncols: int, pad: int = 1, fill: float = 1.0) -> np.ndarray:
    """Tiles ``(n, H, W, C)`` images into one ``(rows·(H+pad)−pad, ncols·(W+pad)−pad, C)`` canvas.

    Images are laid out row by row; ``pad`` pixels of ``fill`` separate them
    (empty cells of the last row are ``fill`` too).
    """
    images = np.asarray(images)
    n, h, w, c = images.shape
    rows = int(math.ceil(n / ncols))
    canvas = np.full((rows * (h + pad) - pad, ncols * (w + pad) - pad, c), fill, images.dtype)
    for k in range(n):
        r, col = divmod(k, ncols)
        canvas[r * (h + pad) : r * (h + pad) + h, col * (w + pad) : col * (w + pad) + w] = images[k]
    return canvas


#: Resolution of the pixel-exact figures (:func:`image_grid`).
GRID_DPI = 100
#: About how many figure pixels an image cell of :func:`image_grid` gets (0.64 inch).
GRID_CELL_PX = 64


def _text_px(text: str, fontsize: float) -> float:
    """A generous estimate of a line of DejaVu Sans' width in pixels at :data:`GRID_DPI`."""
    return 0.62 * fontsize * len(text) * GRID_DPI / 72


def _place_raster(fig, rgba: np.ndarray, x0: int, y0: int) -> None:
    """Draws a ``uint8`` RGBA raster on ``fig``, its lower-left corner at pixel ``(x0, y0)``.

    ``Figure.figimage`` resamples its image even at one figure pixel per
    raster pixel, which was half of a per-epoch grid's time; this artist hands
    the raster to the renderer unchanged (its first row on top: the renderer
    reads rows bottom-up, hence the flipped view). Coordinates are figure
    pixels at the figure's dpi, which :func:`image_grid` saves at.
    """
    from matplotlib.artist import Artist

    class Raster(Artist):
        def draw(self, renderer):
            if not self.get_visible():
                return
            gc = renderer.new_gc()
            renderer.draw_image(gc, x0, y0, rgba[::-1])
            gc.restore()

    fig.add_artist(Raster())


def image_grid(
    images,
    path,
    levels: int | None = None,
    title: str | None = None,
    ncols: int | None = None,
    labels=None,
) -> str:
    """Draws a grid of images as one pixel-exact tiled picture.

    The tiled canvas (:func:`tile`) is enlarged by a whole number of pixels
    per image pixel and handed to the renderer as is: no axes, no resampling,
    no tight-bounding-box pass. That keeps the per-epoch sample grids cheap
    (about 20 ms) and every image pixel a sharp square. The figure uses
    matplotlib's object API, not pyplot, so it never touches pyplot's global
    state.

    Args:
        images: ``(n, H, W, C)`` with ``C`` in {1, 3}; integer levels
            ``0..levels-1`` when ``levels`` is given, else values in ``[0, 1]``.
        path: PNG file to write.
        levels: Number of discrete levels (for scaling to ``[0, 1]``).
        title: Figure title.
        ncols: Columns (default: square-ish).
        labels: Optional per-image captions, written above each image.

    Returns:
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    images = to_numpy(images).astype(np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if levels is not None:
        images = images / float(levels - 1)
    images = np.clip(images, 0.0, 1.0)
    n, h, w, _ = images.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    pad = max(2, h // 2) if labels is not None else max(1, h // 8)  # room for captions
    canvas = tile(images, ncols, pad=pad, fill=1.0)
    scale = max(1, round(GRID_CELL_PX / (w + pad)))  # figure pixels per image pixel
    canvas = np.repeat(np.repeat(canvas, scale, axis=0), scale, axis=1)
    height, width = canvas.shape[:2]
    top = pad * scale if labels is not None else 0  # the first row's captions
    title_px = 30 if title else 0
    fig_w = int(max(width, _text_px(title, 10) + 16 if title else 0))
    fig_h = height + top + title_px
    fig = Figure(figsize=(fig_w / GRID_DPI, fig_h / GRID_DPI), dpi=GRID_DPI)
    FigureCanvasAgg(fig)
    x0 = (fig_w - width) // 2
    rgba = np.full(canvas.shape[:2] + (4,), 255, np.uint8)  # opaque
    rgba[..., :3] = np.round(255 * canvas)  # grey images: equal R, G and B
    _place_raster(fig, rgba, x0, 0)
    if labels is not None:
        for k, label in enumerate(labels[:n]):
            r, col = divmod(k, ncols)
            x = x0 + (col * (w + pad) + w / 2) * scale
            y = height - r * (h + pad) * scale + 2  # just above the image's top edge
            fig.text(x / fig_w, y / fig_h, str(label), fontsize=6, ha="center", va="bottom")
    if title:
        fig.text(0.5, 1 - 6 / fig_h, title, fontsize=10, ha="center", va="top")
    return _save(fig, path, tight=False, fast=True)


#: Per-epoch values that score the model's samples rather than a training batch.
SCORED = {"modes_covered": "samples", "high_quality_fraction": "samples"}


def training_curves(history: dict[str, list[float]], path, title: str = "training curves") -> str:
    """Plots every metric of a Keras history, train and ``val_`` on the same axes.

    Learning rates (``lr_*``) are left to TensorBoard; per-epoch scores of
    the samples (``SCORED``) are labelled as such.

    Args:
        history: ``{"loss": [...], "val_loss": [...], ...}``.
        path: PNG file to write.
        title: Figure title.

    Returns:
        ``path``.
    """
    plt = _pyplot()
    names = sorted({k[4:] if k.startswith("val_") else k for k in history})
    names = [n for n in names if n != "epoch" and not n.startswith("lr_")]  # rates: TensorBoard
    ncols = min(3, max(1, len(names)))
    nrows = int(math.ceil(len(names) / ncols)) or 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        ax.axis("on")
        for key, style in ((name, "-"), ("val_" + name, "--")):
            if key in history and len(history[key]):
                values = np.asarray(history[key], dtype=float)
                ax.plot(
                    np.arange(1, len(values) + 1),
                    values,
                    style,
                    marker="o",
                    markersize=3,
                    label="test" if key.startswith("val_") else SCORED.get(name, "train"),
                )
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 5))  # short tick labels
        ax.legend(fontsize=7)
    fig.suptitle(title)
    # Fixed margins, in inches so they hold for any grid: tight_layout measured every
    # tick label and took half the figure's time.
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=0.8 / width,
        right=1 - 0.2 / width,
        bottom=0.55 / height,
        top=1 - 0.75 / height,
        wspace=0.4,
        hspace=0.5,
    )
    return _save(fig, path, tight=False)


def scatter_2d(
    points,
    path,
    reference=None,
    centers=None,
    title: str | None = None,
    colors=None,
    lim: float | None = None,
) -> str:
    """Scatters 2-D points, optionally over reference data and mode centres.

    Args:
        points: ``(n, 2)`` points (e.g. generated samples).
        path: PNG file to write.
        reference: Optional ``(m, 2)`` data drawn underneath in grey.
        centers: Optional ``(k, 2)`` mode centres marked with crosses.
        title: Figure title.
        colors: Optional per-point values for a colour map (e.g. labels).
        lim: Half-width of the square axes (default: from the data).

    Returns:
        ``path``.
    """
    plt = _pyplot()
    points = to_numpy(points)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    if reference is not None:
        reference = to_numpy(reference)
        ax.scatter(reference[:, 0], reference[:, 1], s=2, c="0.75", label="data")
    ax.scatter(
        points[:, 0],
        points[:, 1],
        s=3,
        c=colors if colors is not None else "C0",
        cmap="tab10" if colors is not None else None,
        label="samples",
    )
    if centers is not None:
        centers = to_numpy(centers)
        ax.scatter(centers[:, 0], centers[:, 1], marker="x", c="red", s=30, label="modes")
    if lim is None:
        stack = np.abs(np.concatenate([points] + ([reference] if reference is not None else [])))
        finite = stack[np.isfinite(stack)]
        lim = float(finite.max()) * 1.15 + 1e-6 if finite.size else 1.0
        lim = min(lim, 1e3)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper right")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def samples_figure(samples, spec, path, title: str | None = None) -> str | None:
    """Draws samples the way the data looks: a grid of images, or 2-D points over the data.

    This is the one picture of samples genkeras draws (``samples.png``, the
    per-epoch grids, ``genkeras sample -o x.png``).

    Args:
        samples: ``(n, *spec.shape)`` samples in data units.
        spec: The :class:`genkeras.data.DataSpec` they imitate.
        path: PNG file to write.
        title: Figure title.

    Returns:
        ``path``, or ``None`` for data that is neither images nor 2-D points.
    """
    samples = to_numpy(samples)
    if spec.is_image:
        return image_grid(samples, path, levels=spec.levels, title=title)
    if samples.ndim != 2 or samples.shape[-1] != 2:
        return None
    centers = spec.extras.get("centers")
    return scatter_2d(samples, path, reference=spec.x_test, centers=centers, title=title)


def latent_manifold(
    decode,
    path,
    levels: int | None = None,
    n: int = 15,
    title: str = "decoded latent manifold",
    classify=None,
) -> str:
    """Decodes an ``n × n`` grid over a 2-D latent plane (Kingma & Welling, Fig. 4).

    The grid points are standard-normal quantiles in ``(0.05, 0.95)`` on each
    axis, so equal steps carry equal prior mass. With ``classify``, a second
    panel colours each tile by the class a classifier gives its image, so
    whether several classes spread over both axes is visible at a glance.

    Args:
        decode: Callable mapping ``(m, 2)`` latents to ``(m, H, W, C)`` images.
        path: PNG file to write.
        levels: Discrete levels of the images (for scaling).
        n: Grid points per axis.
        title: Figure title.
        classify: Optional callable mapping the ``(m, H, W, C)`` images (in
            data units) to ``(m,)`` integer classes.

    Returns:
        ``path``.
    """
    from scipy.stats import norm

    plt = _pyplot()
    q = norm.ppf(np.linspace(0.05, 0.95, n)).astype(np.float32)
    zz = np.array([(a, b) for b in q[::-1] for a in q], dtype=np.float32)
    decoded = to_numpy(decode(zz)).astype(np.float32)
    images = decoded / float(levels - 1) if levels is not None else decoded
    # One tile per grid point (row = z[1] from the top, column = z[0]), with a thin
    # grey line between tiles so neighbouring digits read as separate images.
    canvas = tile(np.clip(images, 0.0, 1.0), n, pad=1, fill=0.35)
    c = canvas.shape[-1]
    panels = 2 if classify is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 6), squeeze=False)
    ax = axes[0, 0]
    extent = (q[0], q[-1], q[0], q[-1])
    if c == 1:
        ax.imshow(
            canvas[..., 0], cmap="gray", vmin=0, vmax=1, extent=extent, interpolation="nearest"
        )
    else:
        ax.imshow(canvas, extent=extent, interpolation="nearest")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title)
    if classify is not None:
        _class_map(axes[0, 1], np.asarray(classify(decoded)).reshape(n, n), extent)
    return _save(fig, path)


def _class_map(ax, classes, extent) -> None:
    """Draws an ``(n, n)`` grid of class labels as coloured cells with the label written in.

    The labels are one collection of glyph outlines, not ``n²`` text artists
    (a fifth of the time for the 225 tiles of the VAE's manifold).
    """
    from matplotlib.collections import PathCollection
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    n = classes.shape[0]
    ax.imshow(classes, cmap="tab10", vmin=-0.5, vmax=9.5, extent=extent, interpolation="nearest")
    glyphs = {}
    for label in np.unique(classes):
        path = TextPath((0, 0), str(label), size=7)  # in points, from the baseline
        box = path.get_extents()
        glyphs[label] = path.transformed(Affine2D().translate(*-(box.min + box.max) / 2))
    lo, hi = extent[0], extent[1]
    step = (hi - lo) / n
    rows, cols = np.indices((n, n))
    centres = np.stack([lo + (cols + 0.5) * step, hi - (rows + 0.5) * step], -1).reshape(-1, 2)
    labels = PathCollection(
        [glyphs[label] for label in classes.reshape(-1)],
        offsets=centres,
        offset_transform=ax.transData,
        transform=Affine2D().scale(ax.figure.dpi / 72.0),  # points -> pixels
        facecolor="black",
        edgecolor="none",
    )
    ax.add_collection(labels, autolim=False)
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(f"classifier's label of each tile ({len(np.unique(classes))} classes)")


def latent_scatter(codes, path, labels=None, title: str = "test set in latent space") -> str:
    """Scatters 2-D latent codes coloured by class label.

    Args:
        codes: ``(n, 2)`` posterior means.
        path: PNG file to write.
        labels: Optional ``(n,)`` integer labels.
        title: Figure title.

    Returns:
        ``path``.
    """
    plt = _pyplot()
    codes = to_numpy(codes)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    sc = ax.scatter(
        codes[:, 0],
        codes[:, 1],
        s=6,
        c=labels if labels is not None else "C0",
        cmap="tab10" if labels is not None else None,
    )
    if labels is not None:
        fig.colorbar(sc, ax=ax, label="class")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title)
    return _save(fig, path)


# -- Gaussian mixtures and KL fits (genkeras.mixture, genkeras.divergence) -------------
def _ellipse(mean, cov, radius: float, color: str, width: float, alpha: float):
    """The ellipse ``(x − μ)ᵀ Σ⁻¹ (x − μ) = radius²`` of a 2-D Gaussian, as a patch."""
    from matplotlib.patches import Ellipse

    vals, vecs = np.linalg.eigh(cov)  # ascending eigenvalues
    angle = float(np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1])))
    axes = 2 * radius * np.sqrt(np.maximum(vals[::-1], 0.0))
    return Ellipse(
        mean, axes[0], axes[1], angle=angle, fill=False, color=color, lw=width, alpha=alpha
    )


def gmm_ellipses(
    points,
    weights,
    means,
    covariances,
    path,
    centers=None,
    title: str | None = None,
    n_std=(1.0, 2.0),
    max_points: int = 5000,
) -> str:
    """Draws a fitted 2-D Gaussian mixture as ellipses over the data.

    Each component gets one ellipse per entry of ``n_std`` (the set where the
    Mahalanobis distance equals it), with line width growing with its weight.

    Args:
        points: ``(n, 2)`` data drawn in grey (at most ``max_points`` of them).
        weights: ``(K,)`` mixing proportions.
        means: ``(K, 2)`` component means.
        covariances: ``(K, 2, 2)`` covariance matrices.
        path: PNG file to write.
        centers: Optional ``(m, 2)`` true mode centres marked with crosses.
        title: Figure title.
        n_std: Mahalanobis radii of the drawn ellipses.
        max_points: Cap on the scattered points.

    Returns:
        ``path``.
    """
    plt = _pyplot()
    points = to_numpy(points)[:max_points]
    weights, means = np.asarray(weights), np.asarray(means)
    covariances = np.asarray(covariances)
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    ax.scatter(points[:, 0], points[:, 1], s=2, c="0.7", label="data")
    top = float(np.max(weights)) if len(weights) else 1.0
    for k, (w, mu, cov) in enumerate(zip(weights, means, covariances)):
        for r in n_std:
            alpha = 0.9 if r == n_std[0] else 0.5
            ax.add_patch(_ellipse(mu, cov, r, f"C{k % 10}", 0.6 + 2.0 * w / top, alpha))
    ax.scatter(means[:, 0], means[:, 1], marker="o", s=12, c="k", label="fitted means")
    if centers is not None:
        centers = to_numpy(centers)
        ax.scatter(centers[:, 0], centers[:, 1], marker="x", c="red", s=30, label="true modes")
    lo = np.minimum(points.min(0), means.min(0))
    hi = np.maximum(points.max(0), means.max(0))
    pad = 0.1 * float(np.max(hi - lo)) + 1e-6
    ax.set_xlim(lo[0] - pad, hi[0] + pad)
    ax.set_ylim(lo[1] - pad, hi[1] + pad)
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper right")
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)


def loglik_curve(history, path, title: str = "EM log-likelihood") -> str:
    """Plots the mean log-likelihood after each EM iteration (EM never lets it decrease).

    Args:
        history: Mean log-likelihood per iteration (``GaussianMixture.history_``).
        path: PNG file to write.
        title: Figure title.

    Returns:
        ``path``.
    """
    plt = _pyplot()
    values = np.asarray(history, dtype=float)
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    ax.plot(np.arange(len(values)), values, marker="o", markersize=3)
    ax.set_xlabel("EM iteration (M-steps)")
    ax.set_ylabel("mean log-likelihood (nats)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def kl_fits(grid, target_density, fits, path, title: str = "KL is not symmetric") -> str:
    """Draws a 1-D target density and Gaussian fits of it (forward vs reverse KL).

    Args:
        grid: ``(n,)`` points on the x axis.
        target_density: ``(n,)`` target density ``p`` on ``grid``.
        fits: ``{label: (n,) density}`` of each fitted ``q``.
        path: PNG file to write.
        title: Figure title.

    Returns:
        ``path``.
    """
    plt = _pyplot()
    grid = np.asarray(grid)
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    ax.fill_between(grid, np.asarray(target_density), color="0.8", label="target p")
    for i, (label, dens) in enumerate(fits.items()):
        ax.plot(grid, np.asarray(dens), color=f"C{i}", lw=2, label=label)
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def blind_spot_mask(gradient, position) -> np.ndarray:
    """The past pixels within an output's reach that it cannot see: its blind spot.

    A past pixel (before ``position`` in raster order) is in the blind spot if
    the receptive field ``gradient`` is zero there although the pixel lies
    inside the bounding box of the pixels the output does see -- so pixels
    beyond the network's reach (distance) do not count, holes in its field do.

    Args:
        gradient: ``(H, W)`` receptive field (``AutoregressiveModel.receptive_field``).
        position: The output pixel ``(row, col)``.

    Returns:
        A boolean ``(H, W)`` mask.

    Example:

    >>> field = np.ones((3, 5)); field[1, 3:] = 0; field[2, 2:] = 0  # row 1 misses 2 pixels
    >>> int(blind_spot_mask(field, (2, 2)).sum())
    2
    """
    gradient = np.asarray(gradient)
    row, col = position
    past = np.zeros(gradient.shape, bool)
    past[:row] = True
    past[row, :col] = True
    seen = (gradient > 0) & past
    if not seen.any():
        return np.zeros(gradient.shape, bool)
    rows, cols = np.nonzero(seen)
    inside = np.zeros(gradient.shape, bool)
    inside[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
    return past & ~seen & inside


def receptive_field(
    gradients, path, positions, titles=None, title: str = "which input pixels can each output see?"
) -> str:
    """Draws gradient-magnitude maps of one output pixel w.r.t. the input image.

    Used for the PixelCNN blind-spot figure: a zero gradient means the output
    cannot see that input pixel. Each panel shows the map (zero in white), the
    output pixel (red square) and the pixels the chain rule allows it to see
    (everything before it in raster order, outlined).

    Args:
        gradients: A list of ``(H, W)`` arrays (e.g. from
            ``AutoregressiveModel.receptive_field``).
        path: PNG file to write.
        positions: The ``(row, col)`` output pixel of each map.
        titles: Optional title per panel.
        title: Figure title.

    Returns:
        ``path``.
    """
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    gradients = [to_numpy(g).astype(np.float64) for g in gradients]
    fig, axes = plt.subplots(1, len(gradients), figsize=(3.2 * len(gradients), 3.4), squeeze=False)
    for k, (ax, grad, (row, col)) in enumerate(zip(axes.flat, gradients, positions)):
        height, width = grad.shape
        seen = grad > 0
        shown = np.where(seen, np.log10(grad + 1e-12), np.nan)
        ax.imshow(np.zeros_like(grad), cmap="gray_r", vmin=0, vmax=1)
        ax.imshow(shown, cmap="viridis", interpolation="nearest")
        blind = blind_spot_mask(grad, (row, col))
        for r, c in zip(*np.nonzero(blind)):
            ax.add_patch(
                Rectangle(
                    (c - 0.5, r - 0.5), 1, 1, fill=False, hatch="///", edgecolor="red", linewidth=0
                )
            )
        ax.add_patch(
            Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2)
        )
        name = titles[k] if titles is not None else f"output ({row}, {col})"
        ax.set_title(f"{name}\nblind spot: {int(blind.sum())} past pixels", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)
