"""Fixtures of the stabilizer tests."""

import pytest

from genkeras import registry


@pytest.fixture
def registered():
    """Registers test stabilizer classes in-process; unregisters them afterwards."""
    names = []

    def add(name, cls):
        registry.stabilizers.register(name, cls)
        names.append(name)

    yield add
    for name in names:
        registry.stabilizers.unregister(name)
