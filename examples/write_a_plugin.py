"""
Writing a genkeras plugin: a new GAN stabilizer, registered and used
====================================================================

Implement the drift penalty of Karras et al. as a stabilizer, register it in-process,
train a GAN with it from the registry, and reload the saved model.

:Author: the genkeras developers
:Date created: 2026/11/25
:Last modified: 2026/11/25
:Accelerator: None (CPU, about a minute; ``GENKERAS_EXAMPLE_QUICK=1`` takes seconds)
"""

# %%
# Introduction
# ------------
#
# genkeras finds its components -- model families, GAN stabilizers, datasets --
# in three registries (``genkeras.registry.models``, ``.stabilizers``, ``.datasets``).
# Every built-in gets there through an entry point in genkeras's own ``setup.cfg``,
# and a third-party plugin takes exactly the same path. For experiments there is
# a shorter one: register the component *in-process* with a decorator. That is
# what this example does; the last section shows the three lines that turn the
# same class into an installable plugin (the complete, tested version of such a
# distribution is ``plugins/genkeras-spectral-norm/``).
#
# The stabilizer we write is the *drift penalty* of progressive GANs [1,
# Appendix A.1]: a small term ``ε · E_x[l(x)²]`` added to the discriminator's loss,
# where ``l(x)`` is the discriminator's logit on real data. Karras et al. use it
# to keep an unbounded critic's outputs from drifting away from zero; in a
# standard GAN the sigmoid already bounds ``D(x)``, so here the penalty is mostly a
# vehicle for the mechanics -- we print what it does rather than promise an
# effect.
#
# **References**
#
# * [1] Karras, Aila, Laine & Lehtinen. Progressive Growing of GANs for Improved
#   Quality, Stability, and Variation. ICLR 2018. https://arxiv.org/abs/1710.10196

# %%
# Setup
# -----

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import shutil
import tempfile

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

import genkeras
from genkeras import data
from genkeras.run import lifecycle
from genkeras.stabilizers.base import Stabilizer

QUICK = os.environ.get("GENKERAS_EXAMPLE_QUICK", "") not in ("", "0")
OUT = os.environ.get("GENKERAS_EXAMPLE_OUT", ".")
os.makedirs(OUT, exist_ok=True)

EPOCHS = 1 if QUICK else 20
BATCH = 512 if QUICK else 128

# %%
# The stabilizer API
# ------------------
#
# A stabilizer is a ``keras.layers.Layer`` subclass of
# ``genkeras.stabilizers.base.Stabilizer`` that overrides only the hooks it needs.
# All hooks run inside the GAN's compiled ``train_step``, so they must be
# graph-safe: TensorFlow ops only, no NumPy, no Python ``if`` on tensor values.
#
# .. list-table::
#    :header-rows: 1
#
#    * - hook
#      - what it may do
#    * - ``discriminator_loss(ctx)`` / ``generator_loss(ctx)``
#      - return a scalar added to that player's loss
#    * - ``discriminator_input(x, step, training)``
#      - change what ``D`` sees (instance noise)
#    * - ``build_features(dim)``, ``transform_features(f, training)``
#      - add layers before ``D``'s head
#    * - ``setup(gan)``, ``after_discriminator_step(gan)``, ``after_step(gan)``
#      - keep and update state
#    * - ``tracked(ctx)`` with ``tracked_keys``
#      - extra values shown in the progress bar and history
#
# ``ctx`` is a ``StabilizerContext`` with the real and fake batches, the
# discriminator's trunk features and logits for both, the step counter and the
# GAN itself. Constructor arguments become the options of the stabilizer's spec
# string (``"drift-penalty:epsilon=0.01"``), and every stabilizer accepts
# ``weight``. Registering the class as a Keras serializable (with ``get_config``)
# lets a GAN trained with it be saved and reloaded.


@genkeras.registry.stabilizers.register("drift-penalty")
@keras.saving.register_keras_serializable(package="genkeras_examples")
class DriftPenalty(Stabilizer):
    """Drift penalty (Karras et al. 2018): ``weight · ε · mean l(x)²`` on real logits.

    Args:
        epsilon: ``ε``, the strength of the penalty.
        weight: Multiplier of the term.
        **kwargs: Passed to ``Stabilizer``.
    """

    tracked_keys = ("real_logit",)

    def __init__(self, epsilon: float = 0.01, weight: float = 1.0, **kwargs):
        super().__init__(weight=weight, **kwargs)
        epsilon = float(epsilon)
        if not epsilon >= 0.0:
            raise ValueError(f"epsilon must be >= 0. Received: epsilon={epsilon}")
        self.epsilon = epsilon

    def discriminator_loss(self, ctx):
        """``ε · E[l(x)²]`` over the real batch (a scalar; the GAN multiplies it by ``weight``)."""
        return self.epsilon * tf.reduce_mean(tf.square(ctx.real_logits))

    def tracked(self, ctx):
        """The mean real logit, to watch it stay near zero."""
        return {"real_logit": tf.reduce_mean(ctx.real_logits)}

    def get_config(self):
        """Returns the constructor arguments."""
        return {**super().get_config(), "epsilon": self.epsilon}


# %%
# The decorator put the class in the registry under the name ``drift-penalty``,
# next to the built-ins and any installed plugins. In-process entries have no
# distribution; entry-point plugins show theirs (this is what ``genkeras plugins``
# prints).

entry = genkeras.registry.stabilizers.entry("drift-penalty")
print(f"registered stabilizers: {', '.join(genkeras.registry.stabilizers.names())}")
print(
    f"drift-penalty -> {entry.load().__name__}, "
    f"from {entry.distribution or 'in-process code'}: {entry.summary}"
)

# %%
# Train a GAN with it
# -------------------
#
# ``lifecycle.run("gan", options={"stabilizers": (...)})`` is the Python form of
# ``genkeras run gan --stabilizer drift-penalty:epsilon=0.05``. The GAN looks the
# name up in the registry, builds the stabilizer from the spec string, adds its
# loss term and tracks it as ``drift_penalty_d``, plus our tracked value as
# ``drift_penalty_real_logit``. For comparison we train the same GAN, same seed,
# without it, on the 8-Gaussian ring.

spec = data.load("ring")
run_root = tempfile.mkdtemp(prefix="write_a_plugin_")
common = dict(dataset="ring", epochs=EPOCHS, batch_size=BATCH, seed=0, verbose=0 if QUICK else 2)
plain = lifecycle.run("gan", out=os.path.join(run_root, "plain"), **common)
drift = lifecycle.run(
    "gan",
    out=os.path.join(run_root, "drift"),
    options={"stabilizers": ("drift-penalty:epsilon=0.05",)},
    **common,
)

print("\n| epoch | drift_penalty_d | mean real logit |")
print("| ---: | ---: | ---: |")
for epoch, (term, logit) in enumerate(
    zip(drift.history["drift_penalty_d"], drift.history["drift_penalty_real_logit"]), start=1
):
    print(f"| {epoch} | {term:.4f} | {logit:.3f} |")

# %%
# After training we look at the discriminator's logits on held-out real points
# for both runs (the penalty acts on ``mean l(x)²``, i.e. on both the mean and the
# spread of the logits) and at the mode coverage of 2,500 samples (modes within
# three standard deviations of a sample; the ring has 8).

x_test = tf.constant(spec.x_test, tf.float32)  # (2500, 2)
logits = {
    name: result.model.discriminate(result.model.to_model_range(x_test))[1].numpy()
    for name, result in (("no stabilizer", plain), ("drift-penalty", drift))
}
print("\n| run | mean l(x) | mean l(x)² | modes covered |")
print("| --- | ---: | ---: | ---: |")
for name, result in (("no stabilizer", plain), ("drift-penalty", drift)):
    value = logits[name]
    print(
        f"| {name} | {value.mean():.3f} | {np.mean(value**2):.3f} | "
        f"{result.metrics.get('modes_covered', float('nan')):.0f} |"
    )

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for name, value in logits.items():
    axes[0].hist(value, bins=40, alpha=0.6, label=name)
axes[0].set_xlabel("discriminator logit l(x) on real test points")
axes[0].set_ylabel("count")
axes[0].set_title("D's logits on real test points")
axes[0].legend(fontsize=8)
samples = drift.model.sample(2000, seed=0).numpy()  # (2000, 2)
axes[1].scatter(spec.x_test[:, 0], spec.x_test[:, 1], s=2, color="0.75", label="data")
axes[1].scatter(samples[:, 0], samples[:, 1], s=2, color="C1", label="GAN + drift-penalty")
axes[1].set_aspect("equal")
axes[1].set_title(f"samples after {EPOCHS} epoch(s)")
axes[1].legend(fontsize=8, markerscale=4)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "plugin_drift_penalty.png"), dpi=80)
plt.close(fig)

# %%
# Saving and reloading
# --------------------
#
# ``lifecycle.run`` saved the trained GAN as ``model.keras``. Because the class is
# registered as a Keras serializable, ``keras.saving.load_model`` (safe mode on)
# rebuilds it -- stabilizer included -- and the reloaded generator produces the
# same samples.

reloaded = keras.saving.load_model(os.path.join(drift.run_dir, "model.keras"))
print(f"\nreloaded stabilizers: {[type(s).__name__ for s in reloaded.stabilizer_layers]}")
same = np.allclose(
    reloaded.sample(8, seed=1).numpy(), drift.model.sample(8, seed=1).numpy(), atol=1e-5
)
print(f"reloaded model samples equal the original's: {same}")
shutil.rmtree(run_root, ignore_errors=True)

# %%
# From a class in a script to an installable plugin
# -------------------------------------------------
#
# To publish the stabilizer, put the class in a module of your own distribution
# and add, in that distribution's ``setup.cfg``, an entry point in the group
# ``genkeras.stabilizers`` (models go in ``genkeras.models``, datasets in
# ``genkeras.datasets``):
#
# .. code-block:: ini
#
#    [options.entry_points]
#    genkeras.stabilizers =
#        drift-penalty = my_plugin:drift_penalty
#
# where ``my_plugin/__init__.py`` holds only a light handle, so that
# ``genkeras list`` can show the plugin without importing TensorFlow:
#
# .. code-block:: python
#
#    from genkeras.registry import Lazy
#
#    drift_penalty = Lazy("my_plugin.stabilizer:DriftPenalty",
#                         "Drift penalty (Karras et al. 2018) on D's real logits.")
#
# After ``pip install``, ``genkeras plugins`` lists it with its distribution and
# version (or, if its import fails, with the error -- a broken plugin never
# breaks the others), and ``genkeras run gan --stabilizer drift-penalty`` uses it.
# ``GENKERAS_DISABLE_PLUGIN_AUTOLOAD=1`` turns entry-point discovery off.
