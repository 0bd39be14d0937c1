"""The neuron's share of what goes wrong in the SNN: the threshold spread, with the
evidence behind it. (The synapse's share, device spread, read noise and stuck cells, is
the shared `circuitkit.device.nonideality.DeviceNonideality`.)

A SPIRIT-style synapse cell is one RRAM in series with an access transistor, programmed
to LRS or HRS and read by the current it sources at <= 0.1 V; there is no sense
amplifier and no "bit decision" (a 2T2R sense amplifier's bit-error table does not
apply). The SNN's error mechanisms:

1. Resistance spread: the programmed resistance per state (device to device), read
   through the characterized read path (`CharacterizationTable.synapse`: `lrs_sigma_ln`,
   `hrs_sigma_ln`), plus cycle-to-cycle read noise (`DeviceNonideality.read_noise`).
   Drawn per chip by `simulate.build_chips`.
2. Stuck cells (`DeviceNonideality.stuck`, a `device.nonideality.StuckCells`): a cell
   that does not take the state it is programmed to and reads the other state's
   current. Fixed per chip.
3. Neuron threshold spread: the charge to threshold varies from neuron to neuron
   (transistor mismatch), measured by the characterization's ngspice Monte Carlo
   (`threshold_spread` gives the estimate with its interval and sample count).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from scipy import stats

# Monte Carlo samples below which a threshold spread is announced as too thin to trust.
MIN_THRESHOLD_SAMPLES = 100


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
