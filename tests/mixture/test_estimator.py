"""Tests for genkeras.mixture: EM on TFP against SciPy and scikit-learn references."""

import os
import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from genkeras.mixture import COVARIANCE_TYPES, GaussianMixture, NotFittedError

K, D = 3, 3
MEANS = np.array([[-4.0, 0.0, 1.0], [4.0, 1.0, -1.0], [0.0, 6.0, 0.0]])


def clusters(n=600, seed=0, spread=(1.0, 0.5, 0.3)):
    """Three well-separated anisotropic clusters in 3-D, with labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, n)
    scales = np.array(spread)[labels][:, None] * np.array([1.0, 0.6, 1.4])
    return MEANS[labels] + scales * rng.standard_normal((n, D)), labels


def initial(cov_type, x):
    """Deliberately poor shared starting point (so EM has work to do)."""
    w0 = np.array([0.2, 0.3, 0.5])
    m0 = x[[0, 1, 2]] * 0.3
    c0 = {
        "full": np.stack([np.eye(D) * 2.0] * K),
        "tied": np.eye(D) * 2.0,
        "diag": np.full((K, D), 2.0),
        "spherical": np.full(K, 2.0),
    }[cov_type]
    return w0, m0, c0


def scipy_logpdf(x, weights, means, full_covs):
    """Reference mixture log-density from scipy.stats, per point."""
    comps = [
        np.log(w) + stats.multivariate_normal(m, c).logpdf(x)
        for w, m, c in zip(weights, means, full_covs)
    ]
    return logsumexp(np.stack(comps, axis=1), axis=1)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_tfp_log_likelihood_equals_scipy_reference(cov_type):
    x, _ = clusters(300)
    gm = GaussianMixture(
        K, covariance_type=cov_type, random_state=0, dtype="float64", max_iter=5
    ).fit(x)
    ref = scipy_logpdf(x, gm.weights_, gm.means_, gm.full_covariances_)
    tfp_lp = gm.distribution.log_prob(x).numpy()
    np.testing.assert_allclose(tfp_lp, ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(gm.score_samples(x), ref, rtol=1e-9, atol=1e-9)
    assert gm.score(x) == pytest.approx(ref.mean(), rel=1e-12)
    # The fitted distribution really is the TFP mixture of MultivariateNormalTriL.
    assert type(gm.distribution.components_distribution).__name__ == "MultivariateNormalTriL"


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_em_log_likelihood_never_decreases(cov_type):
    x, _ = clusters(400, seed=1)
    gm = GaussianMixture(
        4,
        covariance_type=cov_type,
        init_params="random",
        random_state=3,
        max_iter=40,
        tol=0.0,
        dtype="float64",
    ).fit(x)
    h = np.asarray(gm.history_)
    assert len(h) == gm.n_iter_ + 1 == 41
    assert h[-1] > h[0] + 1e-3  # EM made real progress from the random start
    assert np.all(np.diff(h) >= -1e-10 * np.abs(h[1:])), np.diff(h).min()
    assert h[-1] == pytest.approx(gm.score(x), rel=1e-10)


def test_recovers_means_of_separated_clusters():
    x, labels = clusters(900, seed=2)
    gm = GaussianMixture(K, random_state=0).fit(x)
    order = [int(np.argmin(np.linalg.norm(gm.means_ - m, axis=1))) for m in MEANS]
    assert sorted(order) == [0, 1, 2]  # one fitted component per true cluster
    empirical = np.stack([x[labels == k].mean(0) for k in range(K)])
    np.testing.assert_allclose(gm.means_[order], empirical, atol=0.03)
    np.testing.assert_allclose(gm.means_[order], MEANS, atol=0.3)  # ~4 standard errors
    np.testing.assert_allclose(gm.weights_[order], np.bincount(labels) / len(x), atol=0.02)
    pred = gm.predict(x)
    assert np.mean(np.asarray(order)[labels] == pred) > 0.99
    proba = gm.predict_proba(x)
    assert proba.shape == (len(x), K)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(pred, proba.argmax(1))


@pytest.mark.parametrize(
    "cov_type,dtype", [(c, "float64") for c in COVARIANCE_TYPES] + [("full", "float32")]
)
def test_score_matches_sklearn_from_same_start(cov_type, dtype):
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    x, _ = clusters(500, seed=4)
    w0, m0, c0 = initial(cov_type, x)
    ours = GaussianMixture(
        K,
        covariance_type=cov_type,
        max_iter=8,
        tol=0.0,
        weights_init=w0,
        means_init=m0,
        covariances_init=c0,
        dtype=dtype,
    ).fit(x)
    precisions = {
        "full": np.linalg.inv(c0) if cov_type == "full" else None,
        "tied": np.linalg.inv(c0) if cov_type == "tied" else None,
        "diag": 1.0 / c0,
        "spherical": 1.0 / c0,
    }[cov_type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 never converges
        sk = SkGaussianMixture(
            K,
            covariance_type=cov_type,
            max_iter=8,
            tol=0.0,
            weights_init=w0,
            means_init=m0,
            precisions_init=precisions,
            init_params="random_from_data",
            random_state=0,
        ).fit(x)
    assert ours.n_iter_ == sk.n_iter_ == 8
    assert ours.score(x) == pytest.approx(sk.score(x), rel=1e-4)
    assert ours.history_[-2] == pytest.approx(sk.lower_bound_, rel=1e-4)
    np.testing.assert_allclose(ours.means_, sk.means_, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(ours.covariances_, sk.covariances_, rtol=1e-3, atol=1e-4)
    assert ours.bic(x) == pytest.approx(sk.bic(x), rel=1e-4)
    assert ours.aic(x) == pytest.approx(sk.aic(x), rel=1e-4)


def test_streamed_chunks_and_dataset_give_the_same_fit():
    import tensorflow as tf

    x, _ = clusters(500, seed=5)
    w0, m0, c0 = initial("full", x)
    kw = {
        "max_iter": 6,
        "tol": 0.0,
        "weights_init": w0,
        "means_init": m0,
        "covariances_init": c0,
        "dtype": "float64",
    }
    whole = GaussianMixture(K, **kw).fit(x)
    chunked = GaussianMixture(K, batch_size=37, **kw).fit(x)
    streamed = GaussianMixture(K, **kw).fit(tf.data.Dataset.from_tensor_slices(x).batch(64))
    for other in (chunked, streamed):
        np.testing.assert_allclose(other.means_, whole.means_, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(other.covariances_, whole.covariances_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(other.history_, whole.history_, rtol=1e-11)


def test_streamed_dataset_with_nan_is_refused():
    import tensorflow as tf

    x, _ = clusters(200)
    x[150, 1] = np.nan
    ds = tf.data.Dataset.from_tensor_slices(x[100:]).batch(32)
    gm = GaussianMixture(
        K,
        means_init=x[:3],
        weights_init=np.ones(3) / 3,
        covariances_init=np.stack([np.eye(D)] * 3),
        max_iter=2,
    )
    with pytest.raises(ValueError, match="NaN"):
        gm.fit(ds)


def test_save_and_load_round_trip(tmp_path):
    x, _ = clusters(300, seed=6)
    gm = GaussianMixture(K, covariance_type="diag", random_state=1).fit(x)
    path = gm.save(tmp_path / "gmm")
    assert path.endswith(".npz") and os.path.exists(path)
    back = GaussianMixture.load(path)
    assert back.covariance_type == "diag" and back.n_iter_ == gm.n_iter_
    np.testing.assert_array_equal(back.means_, gm.means_)
    np.testing.assert_array_equal(back.covariances_, gm.covariances_)
    np.testing.assert_allclose(back.score_samples(x), gm.score_samples(x), rtol=1e-6)
    np.testing.assert_array_equal(back.predict(x), gm.predict(x))
    assert back.history_ == gm.history_
    with pytest.raises(FileNotFoundError):
        GaussianMixture.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a saved GaussianMixture"):
        GaussianMixture.load(tmp_path / "other.npz")


def test_seeded_init_is_reproducible_and_n_init_keeps_the_best():
    x, _ = clusters(400, seed=7)
    for init in ("kmeans", "random"):
        a = GaussianMixture(5, init_params=init, random_state=11, max_iter=5).fit(x)
        b = GaussianMixture(5, init_params=init, random_state=11, max_iter=5).fit(x)
        np.testing.assert_array_equal(a.means_, b.means_)
    one = GaussianMixture(
        6, init_params="random", random_state=2, max_iter=10, tol=0, dtype="float64"
    ).fit(x)
    best = GaussianMixture(
        6, init_params="random", random_state=2, max_iter=10, tol=0, n_init=4, dtype="float64"
    ).fit(x)
    assert best.lower_bound_ >= one.lower_bound_ - 1e-12


def test_sample_shape_and_statistics():
    x, _ = clusters(600, seed=8)
    gm = GaussianMixture(K, random_state=0).fit(x)
    s, labels = gm.sample(4000)
    assert s.shape == (4000, D) and labels.shape == (4000,)
    np.testing.assert_allclose(s.mean(0), gm.weights_ @ gm.means_, atol=0.15)
    np.testing.assert_array_equal(s, gm.sample(4000)[0])  # an int random_state repeats


def test_bad_input_raises_clear_errors():
    x, _ = clusters(100)
    gm = GaussianMixture(K, random_state=0)
    with pytest.raises(NotFittedError, match="not fitted"):
        gm.predict(x)
    bad = x.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gm.fit(bad)
    with pytest.raises(ValueError, match="2D array"):
        gm.fit(x[:, 0])
    with pytest.raises(ValueError, match="dim 3"):
        gm.fit(x[:, :, None])
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(5).fit(x[:4])
    with pytest.raises(ValueError, match="float"):
        gm.fit(np.array([["a", "b"]] * 5))
    gm.fit(x)
    with pytest.raises(ValueError, match="features"):
        gm.score(x[:, :2])
    for kwargs, name in (
        ({"n_components": 0}, "n_components"),
        ({"covariance_type": "banana"}, "covariance_type"),
        ({"init_params": "nope"}, "init_params"),
        ({"tol": -1.0}, "tol"),
        ({"reg_covar": float("nan")}, "reg_covar"),
        ({"dtype": "float16"}, "dtype"),
        ({"max_iter": -1}, "max_iter"),
    ):
        # The constructor only stores; fit validates, with scikit-learn's message.
        estimator = GaussianMixture(**{"n_components": K, **kwargs})
        with pytest.raises(ValueError, match=f"The '{name}' parameter of GaussianMixture"):
            estimator.fit(x)
    with pytest.raises(ValueError, match="'means' should have the shape"):
        GaussianMixture(K, means_init=np.zeros((K, D + 1))).fit(x)


def test_non_positive_definite_covariance_is_a_value_error():
    # Points on a line and no regularisation: the full covariance is singular.
    t = np.linspace(-1, 1, 50)[:, None]
    x = np.concatenate([t, 2 * t], axis=1)
    with pytest.raises(ValueError, match="reg_covar"):
        GaussianMixture(1, reg_covar=0.0, max_iter=3, dtype="float64").fit(x)


# -- the registry family ---------------------------------------------------------------
