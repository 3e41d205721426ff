"""Lazy handles for genkeras's built-in components.

genkeras's ``setup.cfg`` points its own entry points (groups
``genkeras.models``, ``genkeras.stabilizers``) at these handles, exactly as a
third-party plugin would point at its components. A :class:`~genkeras.registry.Lazy`
handle names the component by import path and carries a one-line summary (and,
for a model family, the path of its config dataclass), so ``genkeras list`` and
``genkeras run MODEL --help`` answer without importing TensorFlow; the module is
imported when the component is first used.
"""

from genkeras.registry import Lazy

# -- models ---------------------------------------------------------------------
CONFIGS = "genkeras.models.config"

vae = Lazy(
    "genkeras.models.vae:VAE",
    "Variational autoencoder (Kingma & Welling 2014): ELBO, reparameterization, IWAE bound.",
    config=f"{CONFIGS}:VAEConfig",
)
pixelcnn = Lazy(
    "genkeras.models.pixelcnn:PixelCNN",
    "PixelCNN (van den Oord et al. 2016): masked convolutions, exact categorical likelihood.",
    config=f"{CONFIGS}:PixelCNNConfig",
)
gated_pixelcnn = Lazy(
    "genkeras.models.pixelcnn:GatedPixelCNN",
    "Gated PixelCNN (van den Oord et al. 2016b): vertical/horizontal stacks, no blind spot, "
    "optional class conditioning.",
    config=f"{CONFIGS}:GatedPixelCNNConfig",
)
pixelrnn = Lazy(
    "genkeras.models.pixelrnn:PixelRNN",
    "PixelRNN (van den Oord et al. 2016): Row LSTM or Diagonal BiLSTM layers, exact likelihood.",
    config=f"{CONFIGS}:PixelRNNConfig",
)
gmm = Lazy(
    "genkeras.models.gmm:GMM",
    "Gaussian mixture fitted by EM (Dempster et al. 1977) on TFP: one EM iteration per epoch, "
    "full/tied/diag/spherical, BIC/AIC, fitted ellipses.",
    config=f"{CONFIGS}:GMMConfig",
)

# -- GAN model and stabilizers ----------------------------------------------------------
gan = Lazy(
    "genkeras.models.gan:GAN",
    "GAN (Goodfellow et al. 2014): minimax / non-saturating losses, d-steps, stabilizer plugins.",
    config=f"{CONFIGS}:GANConfig",
)
feature_matching = Lazy(
    "genkeras.stabilizers.feature_matching:FeatureMatching",
    "Feature matching (Salimans et al. 2016): G matches mean discriminator features.",
)
minibatch_discrimination = Lazy(
    "genkeras.stabilizers.minibatch_discrimination:MinibatchDiscrimination",
    "Minibatch discrimination (Salimans et al. 2016): D sees each sample's batch similarity.",
)
historical_averaging = Lazy(
    "genkeras.stabilizers.historical_averaging:HistoricalAveraging",
    "Historical averaging (Salimans et al. 2016): penalise distance to mean past parameters.",
)
top_k = Lazy(
    "genkeras.stabilizers.top_k:TopK",
    "Top-k training (Sinha et al. 2020): G learns from its k best-scored samples.",
)
one_sided_label_smoothing = Lazy(
    "genkeras.stabilizers.label_smoothing:OneSidedLabelSmoothing",
    "One-sided label smoothing (Salimans et al. 2016): real target 1 - s for D.",
)
instance_noise = Lazy(
    "genkeras.stabilizers.instance_noise:InstanceNoise",
    "Instance noise (Sønderby et al. 2017): annealed Gaussian noise on D's inputs.",
)
r1_penalty = Lazy(
    "genkeras.stabilizers.gradient_penalty:R1Penalty",
    "R1 gradient penalty (Mescheder et al. 2018): gamma/2 E||grad_x D(x)||^2 on real data.",
)
pacgan = Lazy(
    "genkeras.stabilizers.pacgan:PacGAN",
    "PacGAN (Lin et al. 2018): D judges packs of m samples (m=4), concatenated.",
)
wgan_gp = Lazy(
    "genkeras.stabilizers.wgan_gp:WGANGP",
    "WGAN-GP (Gulrajani et al. 2017): Wasserstein critic with a gradient penalty, lambda=10.",
)


# -- loading a saved model after ``import genkeras`` alone --------------------------------
#: The built-in model families, whose classes a saved ``model.keras`` names.
MODELS = (vae, pixelcnn, gated_pixelcnn, pixelrnn, gmm, gan)
#: Keras's registry of serializable classes: a small module with no TensorFlow in it.
KERAS_REGISTRY = "keras.src.saving.object_registration"


class _Deferred:
    """Stands in Keras's registry for a built-in family until a file needs it.

    ``keras.saving.load_model`` looks a ``"genkeras>VAE"`` up and calls its
    ``from_config``; only then is the family's module (and TensorFlow
    Probability) imported, and the real class -- which replaces this entry
    as it registers itself -- builds the model.
    """

    def __init__(self, handle: Lazy):
        self.handle = handle
        self.__name__ = handle.target.rpartition(":")[2]

    def from_config(self, config, custom_objects=None):
        """Imports the family and builds it from ``config``."""
        return self.handle.load().from_config(config)


def _register(registry_module) -> None:
    for handle in MODELS:
        name = "genkeras>" + handle.target.rpartition(":")[2]
        registry_module.GLOBAL_CUSTOM_OBJECTS.setdefault(name, _Deferred(handle))


class _AfterKerasRegistry:
    """A one-shot import hook: once Keras's registry module is executed, add the families."""

    def find_spec(self, name, path=None, target=None):
        """Wraps the loader of :data:`KERAS_REGISTRY`; ``None`` for every other module."""
        import importlib.machinery
        import sys

        if name != KERAS_REGISTRY:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader:
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _register(module)


def register_with_keras() -> None:
    """Makes ``keras.saving.load_model`` find every built-in family after ``import genkeras``.

    Called by ``import genkeras``; imports no TensorFlow. If Keras is loaded
    already, the families are added to its registry now; otherwise as soon as
    Keras loads its registry.
    """
    import sys

    if KERAS_REGISTRY in sys.modules:
        _register(sys.modules[KERAS_REGISTRY])
    elif not any(isinstance(f, _AfterKerasRegistry) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKerasRegistry())
