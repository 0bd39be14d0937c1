"""Shared fixtures. Tests that run ngspice are marked `spice`; they use the real toolchain
(ngspice + OSDI + sky130), never a stand-in: `make test` installs it first."""

from __future__ import annotations

import pytest

from circuitkit.device.model import ModelCard


@pytest.fixture(scope="session")
def default_card() -> ModelCard:
    return ModelCard.default()
