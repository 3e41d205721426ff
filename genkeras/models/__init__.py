"""The model families. Import a family's module directly (e.g. ``genkeras.models.vae``)
or look it up by name in :data:`genkeras.registry.models`."""
