"""Tests for genkeras.data: built-in datasets, npz validation and the tf.data pipelines."""

import numpy as np
import pytest

from genkeras import data
from genkeras.data import DataError
from genkeras.registry import UnknownNameError


def test_digits_fixed_split_and_levels():
    spec = data.load("digits")
    assert spec.shape == (8, 8, 1) and spec.levels == 17 and spec.num_classes == 10
    assert (len(spec.x_train), len(spec.x_test)) == (1437, 360)
    assert spec.x_train.min() == 0 and spec.x_train.max() == 16
    again = data.load("digits")
    np.testing.assert_array_equal(spec.x_test, again.x_test)  # fixed, documented split
    from sklearn.datasets import load_digits

    images = load_digits().images.reshape(1797, -1)
    rows = {r.tobytes() for r in images.astype(np.int32)}
    assert all(x.reshape(-1).tobytes() in rows for x in spec.x_test[:20])


def test_digits_binarize_and_requantize():
    binary = data.load("digits", binarize=True)
    assert binary.levels == 2 and set(np.unique(binary.x_train)) == {0, 1}
    four = data.load("digits", levels=4)
    assert four.levels == 4 and four.x_train.max() == 3
    with pytest.raises(DataError, match="levels must be between 2 and 17"):
        data.load("digits", levels=40)


@pytest.mark.parametrize("name,modes,std", [("ring", 8, 0.01), ("grid", 25, 0.05)])
def test_synthetic_mixtures(name, modes, std):
    spec = data.load(name)
    assert spec.shape == (2,) and spec.levels is None
    centers = spec.extras["centers"]
    assert centers.shape == (modes, 2) and spec.extras["std"] == std
    offsets = spec.x_train - centers[spec.y_train]
    assert abs(offsets.std() - std) < 0.1 * std
    assert len(np.unique(spec.y_train)) == modes
    if name == "ring":
        np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 1.0, rtol=1e-6)
    else:
        assert sorted(set(centers[:, 0])) == [-4, -2, 0, 2, 4]


def test_continuous_data_refuses_levels():
    with pytest.raises(DataError, match="continuous data has no levels"):
        data.load("ring", binarize=True)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(UnknownNameError, match="Valid names: .*digits"):
        data.load("nope")


def test_npz_images_and_vectors(tmp_path):
    path = tmp_path / "mine.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(0, 4, size=(50, 6, 6)).astype(np.uint8), y=np.arange(50) % 3)
    spec = data.load(f"npz:{path}")
    assert spec.shape == (6, 6, 1) and spec.levels == 4 and spec.num_classes == 3
    assert len(spec.x_train) == 40 and len(spec.x_test) == 10
    vec = tmp_path / "vec.npz"
    np.savez(vec, x_train=rng.normal(size=(30, 3)), x_test=rng.normal(size=(5, 3)))
    spec = data.load(f"npz:{vec}")
    assert spec.shape == (3,) and spec.levels is None


@pytest.mark.parametrize(
    "arrays,message",
    [
        ({"x": np.zeros((0, 4, 4))}, "empty"),
        ({"x": np.zeros(10)}, "has shape"),
        ({"x": np.array([[1.0, np.nan], [0.0, 1.0]])}, "NaN or infinite"),
        ({"x": np.array([[1.0, np.inf], [0.0, 1.0]])}, "NaN or infinite"),
        ({"x": np.array([["a", "b"], ["c", "d"]])}, "dtype"),
        ({"x": -np.ones((4, 2, 2), dtype=int)}, "negative"),
        ({"x_train": np.zeros((4, 2)), "x_test": np.zeros((4, 3))}, "x_test examples have shape"),
        ({"images": np.zeros((4, 2))}, "expected an array 'x'"),
        ({"x": np.zeros((4, 2), dtype=int), "levels": 1}, "levels must be at least 2"),
        ({"x": np.zeros((10, 2)), "y": np.arange(7)}, "y must be 10 integer labels"),
        ({"x": np.zeros((10, 2)), "y": np.arange(10) - 1}, "negative label"),
        (
            {"x": np.zeros((10, 2)), "y": np.array([0, 1] * 4 + [100_000, 1])},
            "only 3 of the class ids 0..100000",
        ),
    ],
)
def test_npz_bad_data_names_file_and_problem(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message) as info:
        data.load(f"npz:{path}")
    assert str(path) in str(info.value)


def test_npz_missing_and_malformed_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        data.load(f"npz:{tmp_path / 'missing.npz'}")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="not a valid .npz"):
        data.load(f"npz:{junk}")


def test_fewer_examples_than_a_batch(tmp_path):
    path = tmp_path / "small.npz"
    np.savez(path, x_train=np.zeros((5, 2)), x_test=np.zeros((2, 2)))
    spec = data.load(f"npz:{path}")
    with pytest.raises(DataError, match="fewer than one batch of 8"):
        spec.check_batch_size(8)


def test_train_pipeline_is_a_function_of_seed_and_epoch():
    spec = data.load("digits")
    full = [b.numpy() for b in spec.train_dataset(100, seed=3, first_epoch=0, last_epoch=2)]
    steps = spec.steps_per_epoch(100)
    assert len(full) == 2 * steps and full[0].shape == (100, 8, 8, 1)
    resumed = [b.numpy() for b in spec.train_dataset(100, seed=3, first_epoch=1, last_epoch=2)]
    for a, b in zip(full[steps:], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(full[0], full[steps])  # a new order each epoch
    other = next(iter(spec.train_dataset(100, seed=4, first_epoch=0, last_epoch=1))).numpy()
    assert not np.array_equal(full[0], other)
    epoch = np.concatenate(full[:steps]).reshape(steps * 100, -1)
    assert len({r.tobytes() for r in epoch}) > 0.95 * steps * 100  # a permutation, not repeats


def test_test_pipeline_keeps_every_example():
    spec = data.load("digits")
    batches = list(spec.test_dataset(100, with_labels=True))
    assert sum(len(x) for x, _ in batches) == 360
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), spec.y_test)


def test_keras_image_loader_when_cached():
    import os

    if not os.path.exists(os.path.expanduser("~/.keras/datasets/mnist.npz")):
        pytest.skip("mnist is not in ~/.keras/datasets and tests never download")
    spec = data.load("mnist", binarize=True)
    assert spec.shape == (28, 28, 1) and spec.levels == 2 and len(spec.x_test) == 10000


def test_train_pipeline_with_labels_keeps_pairs_together():
    spec = data.load("digits")
    x, y = next(iter(spec.train_dataset(50, seed=1, first_epoch=2, last_epoch=3, with_labels=True)))
    plain = next(iter(spec.train_dataset(50, seed=1, first_epoch=2, last_epoch=3)))
    np.testing.assert_array_equal(x.numpy(), plain.numpy())  # same order with or without
    lookup = {a.tobytes(): b for a, b in zip(spec.x_train.astype(np.float32), spec.y_train)}
    assert all(lookup[a.tobytes()] == b for a, b in zip(x.numpy(), y.numpy()))
    ring = data.load("ring")
    ring.y_train = None
    with pytest.raises(DataError, match="has no labels"):
        ring.train_dataset(10, 0, with_labels=True)
