"""Tests for genkeras.run.lifecycle.run: run folders, seeding, resume, NaN, strategies."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from genkeras import data, registry
from genkeras.models.base import TrainingSettings
from genkeras.run import checkpoint, lifecycle

SMALL_VAE = {"latent_dim": 2, "hidden": 8, "iwae_samples": 10}


def _run(out, epochs=2, **kwargs):
    kwargs.setdefault("options", SMALL_VAE)
    return lifecycle.run("vae", epochs=epochs, out=str(out), verbose=0, **kwargs)


def test_run_writes_the_run_folder(tmp_path):
    result = _run(tmp_path / "run", epochs=1)
    files = set(os.listdir(result.run_dir))
    assert {
        "model.keras",
        "config.json",
        "history.csv",
        "metrics.json",
        "samples.png",
        "curves.png",
        "reconstructions.png",
        "manifold.png",
        "latent.png",
        "checkpoint",
    } <= files
    config = json.load(open(os.path.join(result.run_dir, "config.json")))
    assert config["model"] == "vae" and config["options"]["latent_dim"] == 2
    assert config["batch_size"] == 32 and config["learning_rate"] == 3e-3  # the family's
    metrics = json.load(open(os.path.join(result.run_dir, "metrics.json")))
    assert metrics["iwae_nats"] >= metrics["elbo_nats"]
    assert os.path.exists(os.path.join(result.run_dir, "samples", "epoch-001.png"))


def test_same_seed_same_history(tmp_path):
    a = _run(tmp_path / "a", seed=3)
    b = _run(tmp_path / "b", seed=3)
    c = _run(tmp_path / "c", seed=4)
    assert a.history == b.history
    assert a.metrics == b.metrics
    assert a.history["loss"] != c.history["loss"]


def test_a_failing_figure_is_raised_and_resume_completes_the_run(tmp_path, monkeypatch):
    """A run is finished only with every file: --resume writes what a failure left out."""
    vae = registry.models.get("vae")
    good = vae.write_figures

    def broken(self, spec, out_dir):
        raise RuntimeError("the manifold figure failed")

    monkeypatch.setattr(vae, "write_figures", broken)
    with pytest.raises(RuntimeError, match="manifold figure failed"):
        _run(tmp_path / "run", epochs=1)
    assert not (tmp_path / "run" / "metrics.json").exists()  # so not presented as finished
    monkeypatch.setattr(vae, "write_figures", good)
    resumed = lifecycle.run("vae", resume=str(tmp_path / "run"), verbose=0)
    assert resumed.metrics["epochs"] == 1 and (tmp_path / "run" / "manifold.png").exists()
    assert resumed.metrics["iwae_nats"] >= resumed.metrics["elbo_nats"]


class _Interrupt(keras.callbacks.Callback):
    """Simulates Ctrl-C after the checkpoint of epoch ``at`` was written."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("lr_decay", [1.0, 0.1])
def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path, lr_decay):
    full = _run(tmp_path / "full", epochs=3, seed=1, lr_decay=lr_decay)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", epochs=3, seed=1, lr_decay=lr_decay, callbacks=[_Interrupt(at=2)])
    state = json.load(open(tmp_path / "cut" / "checkpoint" / "state.json"))
    assert state["epoch"] == 2
    resumed = lifecycle.run("vae", resume=str(tmp_path / "cut"), epochs=3, verbose=0)
    for a, b in zip(full.model.variables, resumed.model.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    for a, b in zip(full.model.optimizer.variables, resumed.model.optimizer.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    assert int(resumed.model.optimizer.iterations) == int(full.model.optimizer.iterations)
    np.testing.assert_allclose(resumed.history["loss"], full.history["loss"], rtol=1e-6)
    assert len(resumed.history["loss"]) == 3
    # The schedule ends at lr_decay times the family's rate, and reloads with the model.
    final_rate = float(resumed.model.optimizer.learning_rate)
    np.testing.assert_allclose(final_rate, lr_decay * 3e-3, rtol=1e-5)
    reloaded, _, record = lifecycle.load_run(resumed.run_dir)
    assert record.run.lr_decay == lr_decay
    np.testing.assert_allclose(float(reloaded.optimizer.learning_rate), final_rate, rtol=1e-5)


def test_learning_rate_schedule():
    assert TrainingSettings(0.01, total_steps=100).learning_rate_schedule() == 0.01
    schedule = TrainingSettings(0.01, 100, lr_decay=0.1).learning_rate_schedule()
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    np.testing.assert_allclose(float(schedule(0)), 0.01, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(50)), 0.01 * (0.1 + 0.9 * 0.5), rtol=1e-5)
    np.testing.assert_allclose(float(schedule(100)), 0.001, rtol=1e-5)


def _tiny_spec(model_cls):
    """Binarized digits for the discrete image families, 17-level digits for the others."""
    config = model_cls.config_class
    if config.requires_images or config.requires_discrete:
        return data.load("digits", binarize=True)
    return data.load("digits")


@pytest.mark.parametrize("name", registry.models.names())
def test_checkpoint_restores_every_optimizer(name, tmp_path):
    """Every family: all variables, all optimizers' state and the epoch come back."""
    family = registry.models.get(name)
    spec = _tiny_spec(family)
    keras.utils.set_random_seed(0)
    model = family.from_data(spec)
    model.build_from_shape()
    model.compile_for_training(TrainingSettings(1e-3))
    model.fit(spec.train_dataset(16, 0, 0, 1), epochs=1, steps_per_epoch=2, verbose=0)
    checkpoint.save_checkpoint(model, str(tmp_path), epoch=7)
    keras.utils.set_random_seed(1)
    fresh = family.from_data(spec)
    fresh.build_from_shape()
    fresh.compile_for_training(TrainingSettings(1e-3))
    assert checkpoint.restore_checkpoint(fresh, str(tmp_path)) == 7
    slots, fresh_slots = model.optimizer_slots(), fresh.optimizer_slots()
    assert len(slots) == len(fresh_slots)  # the mixture has none: EM's M-step is closed-form
    for (name_a, opt_a, _), (name_b, opt_b, _) in zip(slots, fresh_slots):
        assert name_a == name_b
        assert int(opt_a.iterations) == int(opt_b.iterations) > 0
        for a, b in zip(opt_a.variables, opt_b.variables):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(model.variables, fresh.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_truncated_checkpoint_is_refused_by_name(tmp_path):
    """state.bin must hold exactly the bytes state.json lists, or restoring names the file."""
    spec = _tiny_spec(registry.models.get("vae"))
    keras.utils.set_random_seed(0)
    models = []
    for _ in range(2):
        model = registry.models.get("vae").from_data(spec)
        model.build_from_shape()
        model.compile_for_training(TrainingSettings(1e-3))
        models.append(model)
    checkpoint.save_checkpoint(models[0], str(tmp_path), epoch=1)
    state = tmp_path / checkpoint.CHECKPOINT / checkpoint.STATE_BIN
    state.write_bytes(state.read_bytes()[:-4])
    with pytest.raises(ValueError, match="state.bin has"):
        checkpoint.restore_checkpoint(models[1], str(tmp_path))


def test_nan_loss_in_the_first_epoch_is_a_clear_error_and_blocks_no_retry(tmp_path):
    path = tmp_path / "huge.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=(rng.normal(size=(200, 2)) * 1e37).astype(np.float32))
    with pytest.raises(lifecycle.TrainingDivergedError, match="Nothing was kept"):
        lifecycle.run(
            "vae",
            dataset=f"npz:{path}",
            epochs=2,
            out=str(tmp_path / "run"),
            verbose=0,
            options=SMALL_VAE,
        )
    assert not (tmp_path / "run").exists()  # the same command can run again


def test_refuses_non_empty_out_and_bad_options(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="--overwrite"):
        _run(out)
    assert (out / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        _run(tmp_path / "x", epochs=0)
    with pytest.raises(ValueError, match="lr_decay must be in"):
        _run(tmp_path / "x", lr_decay=1.5)
    with pytest.raises(ValueError, match="strategy must be one of"):
        _run(tmp_path / "x", strategy="cluster")
    with pytest.raises(ValueError, match="Unknown VAEConfig option"):
        _run(tmp_path / "x", options={"latent": 2})
    with pytest.raises(data.DataError, match="fewer than one batch"):
        _run(tmp_path / "x", batch_size=5000)
    assert not (tmp_path / "x").exists()  # nothing written for bad input


def test_load_run_and_missing_folders(tmp_path):
    result = _run(tmp_path / "run", epochs=1)
    model, spec, config = lifecycle.load_run(result.run_dir)
    x = spec.x_test[:3].astype("float32")
    np.testing.assert_allclose(model(x).numpy(), result.model(x).numpy(), rtol=1e-6)
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        lifecycle.load_run(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        lifecycle.load_run(str(tmp_path / "empty"))


MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from genkeras.run import distribute, lifecycle
    out = {}
    for strategy in ("default", "mirrored"):
        r = lifecycle.run("vae", epochs=1, batch_size=64, seed=0, verbose=0,
                         strategy=strategy, out=sys.argv[1] + "/" + strategy,
                         options={"latent_dim": 2, "hidden": 8, "iwae_samples": 5})
        out[strategy] = {"loss": r.history["loss"], "replicas":
                         distribute.make_strategy(strategy).num_replicas_in_sync}
    print("RESULT=" + json.dumps(out))
""")


@pytest.mark.slow
def test_mirrored_two_replicas_match_one(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT=")][-1]
    result = json.loads(line[len("RESULT=") :])
    assert result["mirrored"]["replicas"] == 2 and result["default"]["replicas"] == 1
    np.testing.assert_allclose(result["mirrored"]["loss"], result["default"]["loss"], rtol=1e-3)


@pytest.mark.slow
def test_multiworker_strategy_runs_as_a_single_worker(tmp_path):
    """With no TF_CONFIG, MultiWorkerMirroredStrategy is one worker; the CLI trains under it."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    code = (
        "import sys; from genkeras.cli import main; "
        "main(['run', 'vae', '--epochs', '1', '--strategy', 'multiworker', '--quiet', "
        "'--iwae-samples', '5', '--hidden', '8', '--out', sys.argv[1]])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "mw")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((tmp_path / "mw" / "config.json").read_text())
    assert config["strategy"] == "multiworker"
    assert (tmp_path / "mw" / "model.keras").exists()


def test_steps_per_execution_does_not_change_the_run(tmp_path):
    """Any divisor of the epoch's steps gives the same history; others are refused."""
    a = _run(tmp_path / "a", epochs=2, steps_per_execution=1, batch_size=128)  # 11 steps/epoch
    b = _run(tmp_path / "b", epochs=2, steps_per_execution=11, batch_size=128)
    assert a.history == b.history
    assert a.config.steps_per_execution == 1 and b.config.steps_per_execution == 11
    with pytest.raises(ValueError, match=r"must divide the 11 steps of an epoch \(1, 11\)"):
        _run(tmp_path / "c", epochs=1, steps_per_execution=4, batch_size=128)


def test_sample_grids_every_k_epochs_and_the_last(tmp_path):
    result = _run(tmp_path / "run", epochs=5, sample_every=2, batch_size=256)
    grids = sorted(os.listdir(os.path.join(result.run_dir, "samples")))
    assert grids == ["epoch-002.png", "epoch-004.png", "epoch-005.png"]
    assert lifecycle.RunConfig(epochs=25).resolved().sample_every == 3  # about ten grids


# -- the run contract (issue 24) ---------------------------------------------------------------
def _tiny_model(name):
    family = registry.models.get(name)
    spec = _tiny_spec(family)
    keras.utils.set_random_seed(0)
    model = family.from_data(spec)
    model.build_from_shape()
    return model, spec


@pytest.mark.parametrize("name", [n for n in registry.models.names() if n != "gmm"])
def test_grad_clip_reaches_every_family_from_one_place(name, monkeypatch):
    """--grad-clip is one RunConfig field: every family's updates come out clipped."""
    model, spec = _tiny_model(name)
    clip = 1e-3
    model.compile_for_training(TrainingSettings(1e-3, grad_clip=clip))
    assert model.grad_clip == clip
    norms = []
    for _, optimizer, _ in model.optimizer_slots():
        original = optimizer.apply_gradients

        def recorded(pairs, _original=original):
            pairs = list(pairs)
            norms.append(float(tf.linalg.global_norm([g for g, _ in pairs if g is not None])))
            return _original(pairs)

        monkeypatch.setattr(optimizer, "apply_gradients", recorded)
    model.run_eagerly = True  # the Python wrapper sees every update
    batch = next(iter(model.train_dataset(spec, 16, 0, 0, 1)))
    model.train_on_batch(batch)
    assert norms and all(0 < n <= clip * (1 + 1e-4) for n in norms), norms


def test_grad_clip_is_refused_where_there_is_no_gradient(tmp_path):
    with pytest.raises(ValueError, match="gmm has no gradients to clip"):
        lifecycle.run("gmm", dataset="ring", epochs=1, grad_clip=1.0, out=str(tmp_path / "g"))
    assert not (tmp_path / "g").exists()


def test_validation_draws_from_its_own_seed(seeded):
    """How often validation runs changes nothing in training (the VAE's test_step noise)."""
    spec = data.load("digits")
    histories = []
    for freq in (1, 2):
        keras.utils.set_random_seed(0)
        model = registry.models.get("vae").from_data(spec, SMALL_VAE)
        model.build_from_shape()
        model.compile_for_training(TrainingSettings(1e-3))
        fit = model.fit(
            spec.train_dataset(128, 0, 0, 2),
            validation_data=spec.test_dataset(256),
            validation_freq=freq,
            epochs=2,
            steps_per_epoch=11,
            verbose=0,
        )
        histories.append(fit.history["loss"])
    assert histories[0] == histories[1]


def test_a_run_leaves_op_determinism_as_it_found_it_and_keeps_jit(tmp_path):
    from tensorflow.python.framework import config as tf_config

    assert not tf_config.is_op_determinism_enabled()
    _run(tmp_path / "run", epochs=1)  # a CPU run without XLA turns it on for itself
    assert not tf_config.is_op_determinism_enabled()
    model, _ = _tiny_model("vae")
    model.compile_for_training(TrainingSettings(1e-3, jit=True))
    assert model.jit_compile  # not dropped by a determinism the run left behind


def test_jit_is_never_dropped_silently(tmp_path, monkeypatch):
    # What Keras does when a layer cannot be compiled: it warns and compiles without XLA.
    monkeypatch.setattr("keras.src.trainers.trainer.model_supports_jit", lambda model: False)
    with pytest.raises(ValueError, match="--jit: Keras will not compile vae with XLA"):
        _run(tmp_path / "run", epochs=1, jit=True)
    assert not (tmp_path / "run").exists()


def test_a_dataset_plugin_takes_an_argument():
    def shifted(arg):
        spec = data.digits()
        spec.name = f"shifted:{arg}"
        spec.x_train = np.minimum(spec.x_train + int(arg), 16)
        return spec

    registry.datasets.register("test-shifted", data.Loader(shifted, "K", "Digits plus K."))
    try:
        assert data.load("test-shifted:3").x_train.min() >= 3
        with pytest.raises(data.DataError, match="takes an argument: --dataset test-shifted:K"):
            data.load("test-shifted")
        with pytest.raises(data.DataError, match="'digits' takes no argument"):
            data.load("digits:3")
        entry = registry.datasets.entry("test-shifted")
        assert entry.summary == "Digits plus K."
    finally:
        registry.datasets.unregister("test-shifted")


def test_resume_refuses_data_that_changed(tmp_path):
    path = tmp_path / "x.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(0, 17, (300, 8, 8)))
    _run(tmp_path / "run", epochs=1, dataset=f"npz:{path}", batch_size=64)
    np.savez(path, x=rng.integers(0, 17, (300, 8, 8)))  # same shape, other numbers
    with pytest.raises(ValueError, match="fingerprint changed"):
        lifecycle.plan_run("vae", resume=str(tmp_path / "run"), epochs=2)


def test_resume_refuses_out_and_overwrite(tmp_path):
    legacy = os.path.join(os.path.dirname(__file__), "..", "data", "legacy_runs", "vae")
    with pytest.raises(ValueError, match="--out .* would be ignored"):
        lifecycle.plan_run("vae", resume=legacy, out=str(tmp_path / "b"), epochs=3)
    with pytest.raises(ValueError, match="--overwrite would replace it"):
        lifecycle.plan_run("vae", resume=legacy, overwrite=True, epochs=3)


def test_a_dataset_declares_the_defaults_a_family_uses_on_it(tmp_path):
    def declared():
        spec = data.digits()
        spec.run_defaults = {"vae": {"batch_size": 64, "lr_decay": 0.5, "hidden": 8}}
        return spec

    registry.datasets.register("test-declared", declared)
    try:
        plan = lifecycle.plan_run("vae", dataset="test-declared", out=str(tmp_path / "a"))
        assert plan.run.batch_size == 64 and plan.run.lr_decay == 0.5
        assert plan.model_config.hidden == 8 and plan.run.epochs == 30  # the family's
        plan = lifecycle.plan_run(
            "vae", dataset="test-declared", batch_size=16, options={"hidden": 4}, out="x"
        )
        assert plan.run.batch_size == 16 and plan.model_config.hidden == 4  # explicit wins
        assert plan.record().to_dict()["batch_size"] == 16  # config.json: the resolved values
    finally:
        registry.datasets.unregister("test-declared")


@pytest.mark.parametrize("name", registry.models.names())
def test_every_family_refuses_a_sample_count_that_is_not_a_positive_integer(name):
    model, _ = _tiny_model(name)
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match=r"n \(the number of samples\) must be a positive"):
            model.sample(bad, seed=0)
    assert model.sample(np.int64(2), seed=0).shape[0] == 2


def test_a_model_too_big_for_memory_is_refused_and_a_large_one_warned(tmp_path, monkeypatch):
    from genkeras.run import lifecycle as lc

    monkeypatch.setattr(lc, "LARGE_MODEL", 1000)
    with pytest.warns(UserWarning, match="parameters .* model.keras and each checkpoint"):
        _run(tmp_path / "a", epochs=1)
    pages = os.sysconf("SC_PAGE_SIZE")
    monkeypatch.setattr(os, "sysconf", lambda name: 10 if name == "SC_AVPHYS_PAGES" else pages)
    with pytest.raises(ValueError, match="GiB of memory are free. Choose smaller sizes"):
        _run(tmp_path / "b", epochs=1)
    assert not (tmp_path / "b").exists()


def test_a_plugin_model_of_the_old_api_fails_naming_itself_and_the_change(tmp_path):
    from genkeras.errors import PluginError
    from genkeras.models.vae import VAE

    class OldVAE(VAE):
        """A VAE written for genkeras 0.1's gradient_loss."""

        def train_step(self, data):
            with tf.GradientTape() as tape:
                loss = self.gradient_loss(tf.reduce_mean(-self.elbo(data)))
            return {"loss": loss, "tape": tape}

    registry.models.register("test-old-vae", OldVAE)
    try:
        with pytest.raises(PluginError) as caught:
            lifecycle.run("test-old-vae", epochs=1, out=str(tmp_path / "r"), verbose=0)
    finally:
        registry.models.unregister("test-old-vae")
    message = str(caught.value)
    assert "model 'test-old-vae' from in-process code failed" in message
    assert "self.optimize(loss_fn" in message
    assert not (tmp_path / "r").exists()
