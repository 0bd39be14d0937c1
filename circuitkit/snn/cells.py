"""What goes wrong in a single-level 1T1R synapse read by its current, and in the neuron
threshold: the SNN's error mechanisms, as small configs with their provenance.

A SPIRIT-style synapse cell is one RRAM in series with an access transistor, programmed
to LRS or HRS and read by the current it sources at <= 0.1 V; there is no sense
amplifier and no "bit decision" (a 2T2R sense amplifier's bit-error table does not
apply). Its errors are:

1. Resistance spread: the programmed resistance is lognormal per state (device to
   device), read through the characterized read path (`CharacterizationTable.synapse`:
   `lrs_sigma_ln`, `hrs_sigma_ln`), plus cycle-to-cycle read noise. Drawn per chip by
   `simulate.build_chips`.
2. Stuck cells (`StuckCells`): a cell that does not take the state it is programmed to
   and reads the other state's current: meant HRS but left in LRS (a failed RESET), or
   meant LRS but left in HRS (a failed SET). Fixed per chip.
3. Neuron threshold spread: the charge to threshold varies from neuron to neuron
   (transistor mismatch), measured by the characterization's ngspice Monte Carlo
   (`threshold_spread` gives the estimate with its interval and sample count).

Default stuck-cell rates (a dataset default, not the user's data; announced as such):
the cycling log of the public 130 nm 1T1R HfOx array data (a university group's
NI-based RRAM test set-up, 2021, MIT licence): 2,724 SET/RESET cycles of one cell, read
after each pulse. A RESET that left the cell below 15 kohm (above every LRS read of the
log, 6.8 - 12.7 kohm) counts as stuck in LRS: 1 of 2,724; a SET that left it above
15 kohm as stuck in HRS: 0 of 2,724. The point estimates are used, with their
Clopper-Pearson intervals reported; a user's own rates come from `--stuck-lrs/--stuck-hrs`
(no fit produces them from measurements yet).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy import stats

from circuitkit import CircuitkitError
from circuitkit.ber_table import TransitionMatrix
from circuitkit.stats import binomial_interval

# The public 1T1R array's cycling log (see the module docstring): failures, cycles.
DATASET_STUCK_LRS = (1, 2724)   # RESET left the cell at an LRS-level resistance
DATASET_STUCK_HRS = (0, 2724)   # SET left the cell at an HRS-level resistance
DATASET_SOURCE = ("public 130 nm 1T1R HfOx array data (NI-based RRAM test set-up, 2021, MIT licence): "
                  "cycling log, 2,724 SET/RESET cycles of one cell, stuck = read beyond 15 kohm on the wrong side")
# Monte Carlo samples below which a threshold spread is announced as too thin to trust.
MIN_THRESHOLD_SAMPLES = 100


@dataclasses.dataclass(frozen=True)
class StuckCells:
    """Per-cell probabilities of staying in the wrong state, and where they come from.

    `stuck_lrs`: a cell programmed to HRS stays in LRS; `stuck_hrs`: programmed to LRS,
    stays in HRS. `counts` keeps the (failures, trials) behind each when measured."""

    stuck_lrs: float
    stuck_hrs: float
    source: str = "given"
    counts: dict[str, tuple[int, int]] | None = None

    def __post_init__(self) -> None:
        for name in ("stuck_lrs", "stuck_hrs"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise CircuitkitError(f"{name} must be a probability in [0, 1], got {value!r}")

    @classmethod
    def dataset_default(cls) -> StuckCells:
        (k_lrs, n_lrs), (k_hrs, n_hrs) = DATASET_STUCK_LRS, DATASET_STUCK_HRS
        return cls(k_lrs / n_lrs, k_hrs / n_hrs, f"dataset default, not your data: {DATASET_SOURCE}",
                   {"stuck_lrs": DATASET_STUCK_LRS, "stuck_hrs": DATASET_STUCK_HRS})

    @property
    def is_default(self) -> bool:
        return self.source.startswith("dataset default")

    def transition(self) -> TransitionMatrix:
        """Over the cell states (-1 HRS, +1 LRS): P(actual state | programmed state)."""
        return TransitionMatrix((-1, 1), np.array([[1 - self.stuck_lrs, self.stuck_lrs],
                                                   [self.stuck_hrs, 1 - self.stuck_hrs]]))

    def intervals(self) -> dict[str, list[float]]:
        """Clopper-Pearson 95 % intervals of measured rates (empty when given)."""
        out = {}
        for name, (count, trials) in (self.counts or {}).items():
            interval = binomial_interval(int(count), int(trials))
            out[name] = [interval.low, interval.high]
        return out

    def upper_bounds(self) -> StuckCells:
        """The pessimistic case: every measured rate at its 95 % upper bound."""
        bounds = self.intervals()
        if not bounds:
            return self
        return dataclasses.replace(self, stuck_lrs=bounds["stuck_lrs"][1], stuck_hrs=bounds["stuck_hrs"][1],
                                   source=f"95 % upper bounds of: {self.source}")

    def to_dict(self) -> dict[str, Any]:
        return {"stuck_lrs": self.stuck_lrs, "stuck_hrs": self.stuck_hrs, "source": self.source,
                "counts": self.counts, "ci95": self.intervals()}


@dataclasses.dataclass(frozen=True)
class ThresholdSpread:
    """Relative neuron-to-neuron spread of the charge to threshold, from `samples`
    Monte Carlo samples, with its chi-square 95 % interval (normal samples assumed)."""

    sigma_rel: float
    samples: int
    low: float
    high: float

    @property
    def enough(self) -> bool:
        return self.samples >= MIN_THRESHOLD_SAMPLES

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"enough_samples": self.enough, "minimum_samples": MIN_THRESHOLD_SAMPLES}


def threshold_spread(table) -> ThresholdSpread:
    """The characterization table's threshold spread with its sample count and interval."""
    sigma = float(table.neuron.threshold_sigma_rel)
    samples = int(table.provenance.get("fits", {}).get("mc_samples", 0) or 0)
    if samples < 2:
        return ThresholdSpread(sigma, samples, math.nan, math.nan)
    dof = samples - 1
    low = sigma * math.sqrt(dof / stats.chi2.ppf(0.975, dof))
    high = sigma * math.sqrt(dof / stats.chi2.ppf(0.025, dof))
    return ThresholdSpread(sigma, samples, low, high)
