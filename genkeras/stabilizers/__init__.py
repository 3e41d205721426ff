"""Built-in GAN stabilizers, one module each, registered through entry points."""
