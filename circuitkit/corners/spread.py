"""Device-to-device and cycle-to-cycle spread of programmed RRAM states.

A programmed state is a lognormal resistance distribution (median, sigma of ln R, read
at 0.1 V): HfOx LRS/HRS after program-and-verify are close to lognormal (REFERENCES
section 3). Each Monte Carlo sample is a fresh programming cycle of a fresh cell, so one
draw covers both device-to-device and cycle-to-cycle spread. Resistances are turned into
the model's `gap_init` with the model card, so the simulated cell reads exactly the
drawn resistance at 0.1 V.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.device.model import ModelCard

# Weight value -> programmed states of the (BL, BLb) devices of a 2T2R cell.
CELL_STATES: Mapping[int, tuple[str, str]] = {+1: ("lrs", "hrs"), -1: ("hrs", "lrs"), 0: ("hrs", "hrs")}


@dataclasses.dataclass(frozen=True)
class StateDistribution:
    """Lognormal read resistance of one programmed state."""

    median_ohm: float
    sigma_ln: float
    samples: int | None = None  # cells behind a fitted distribution (None: given, taken as exact)

    def __post_init__(self) -> None:
        if not (self.median_ohm > 0 and math.isfinite(self.median_ohm)):
            raise CircuitkitError(f"median resistance must be a positive number of ohms, got {self.median_ohm!r}")
        if not (self.sigma_ln >= 0 and math.isfinite(self.sigma_ln)):
            raise CircuitkitError(f"sigma of ln R must be >= 0, got {self.sigma_ln!r}")

    @property
    def mu_ln(self) -> float:
        return math.log(self.median_ohm)


@dataclasses.dataclass(frozen=True)
class DeviceSpread:
    """LRS and HRS distributions. Defaults: the 130 nm HfOx 1T1R figures of REFERENCES
    section 3 (LRS median 10.5 kohm, 1-99 % 9.3-11.6 kohm -> sigma 0.095; HRS median
    85.8 kohm, 47-277 kohm -> sigma 0.37 after program-and-verify)."""

    lrs: StateDistribution = StateDistribution(10.5e3, 0.095)
    hrs: StateDistribution = StateDistribution(85.8e3, 0.37)

    def __post_init__(self) -> None:
        if self.hrs.median_ohm <= self.lrs.median_ohm:
            raise CircuitkitError(
                f"HRS median ({self.hrs.median_ohm:g} ohm) must be above LRS median ({self.lrs.median_ohm:g} ohm)"
            )

    def state(self, name: str) -> StateDistribution:
        return {"lrs": self.lrs, "hrs": self.hrs}[name]

    @classmethod
    def from_model_card(cls, card: ModelCard) -> "DeviceSpread":
        """The spread a resistance-distribution fit (`circuitkit fit --kind distribution`)
        stored on a model card: `variability` keys `median_r_<state>`, `sigma_lnR_<state>`,
        and the number of cells behind each from the fit's provenance."""
        values = card.variability
        missing = [f"{k}_{s}" for s in ("lrs", "hrs") for k in ("median_r", "sigma_lnR") if f"{k}_{s}" not in values]
        if missing:
            raise CircuitkitError(
                f"model card has no resistance-distribution fit (missing variability keys {', '.join(missing)}); "
                "fit one with `circuitkit fit DATA.csv --kind distribution`, or give LRS/HRS medians and sigmas"
            )
        quality = card.provenance.get("fit_quality", {}) if isinstance(card.provenance, dict) else {}

        def state(name: str) -> StateDistribution:
            samples = quality.get(name.upper(), {}).get("n") if isinstance(quality, dict) else None
            return StateDistribution(values[f"median_r_{name}"], values[f"sigma_lnR_{name}"],
                                     int(samples) if samples else None)

        return cls(state("lrs"), state("hrs"))

    def draw(self, rng: np.random.Generator, stored: int, count: int) -> np.ndarray:
        """Resistances (count x 2: BL device, BLb device) of `count` cells storing `stored`."""
        if stored not in CELL_STATES:
            raise CircuitkitError(f"stored weight {stored!r} is not one of {sorted(CELL_STATES)}")
        columns = []
        for state_name in CELL_STATES[stored]:
            state = self.state(state_name)
            columns.append(np.exp(rng.normal(state.mu_ln, state.sigma_ln, size=count)))
        return np.column_stack(columns)

    def to_dict(self) -> dict[str, float | int | None]:
        return {f"{name}_{key}": value for name in ("lrs", "hrs")
                for key, value in dataclasses.asdict(self.state(name)).items()}
