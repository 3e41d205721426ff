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
