"""The pixel-exact image grid (plots.image_grid): what the PNG holds, pixel for pixel."""

import matplotlib.image
import numpy as np
import pytest

from genkeras import plots


@pytest.mark.parametrize("shape, levels", [((64, 8, 8, 1), 17), ((6, 28, 28, 3), None)])
def test_image_grid_png_is_the_tiled_images_enlarged(tmp_path, shape, levels):
    rng = np.random.default_rng(0)
    if levels:
        images = rng.integers(0, levels, shape)
        unit = images / (levels - 1)
    else:
        images = unit = rng.random(shape).astype(np.float32)
    path = plots.image_grid(images, tmp_path / "grid.png", levels=levels)
    png = matplotlib.image.imread(path)[..., :3]  # (rows, cols, RGB) in [0, 1]
    canvas = plots.tile(unit, int(np.ceil(np.sqrt(shape[0]))), pad=max(1, shape[1] // 8))
    scale = png.shape[0] // canvas.shape[0]
    assert scale >= 2 and png.shape[:2] == (canvas.shape[0] * scale, canvas.shape[1] * scale)
    expected = np.broadcast_to(canvas, canvas.shape[:2] + (3,))
    for dy in (0, scale - 1):  # every enlarged pixel is one flat square: no resampling blur
        for dx in (0, scale - 1):
            np.testing.assert_allclose(png[dy::scale, dx::scale], expected, atol=1 / 255 + 1e-6)


def test_image_grid_title_and_captions_get_their_own_room(tmp_path):
    images = np.zeros((4, 8, 8, 1))  # black images: any light pixel above them is text or margin
    title = "a title much wider than two columns of eight-pixel images"
    bare = matplotlib.image.imread(plots.image_grid(images, tmp_path / "a.png", ncols=2))
    titled = matplotlib.image.imread(
        plots.image_grid(
            images, tmp_path / "b.png", ncols=2, title=title, labels=["x", "", "y", ""]
        )
    )
    assert titled.shape[1] > bare.shape[1]  # widened for the title
    assert titled.shape[0] > bare.shape[0]  # a title strip and a caption row above the images
    text_rows = titled[: titled.shape[0] - bare.shape[0]].min(axis=(1, 2))
    assert text_rows.min() < 0.5  # the title and captions were drawn (dark pixels)


def test_image_grid_places_the_images_under_the_title_pixel_for_pixel(tmp_path):
    images = np.random.default_rng(1).integers(0, 17, (9, 8, 8, 1))
    bare = matplotlib.image.imread(plots.image_grid(images, tmp_path / "a.png", levels=17))
    title = "a title wider than the three columns of images below it"
    titled = matplotlib.image.imread(
        plots.image_grid(images, tmp_path / "b.png", levels=17, title=title)
    )
    h, w = bare.shape[:2]
    x0 = (titled.shape[1] - w) // 2  # centred under the title, at the bottom
    np.testing.assert_array_equal(titled[-h:, x0 : x0 + w], bare)
    assert titled[-h:, :x0].min() == 1.0 and titled[-h:, x0 + w :].min() == 1.0  # white sides
