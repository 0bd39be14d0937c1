"""What decides the network stage's numbers: `NetworkConfig`, a flow file's [network] table.

Its fields are the names of `circuitkit inject`'s options (`--dataset` -> `dataset`,
`--trials` -> `trials`, `--ber-range` -> `ber_range`, `--points-per-decade`,
`--bootstrap`), as `CampaignConfig`'s are of `circuitkit ber`'s; `bnn` and `tnn` are the
flow's two roles (the network the binary and the rare-event tables are injected into, and
the one the ternary table is), each what `--network` takes. It runs nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from circuitkit import CircuitkitError
from circuitkit.inject.tolerance import ToleranceConfig


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Networks, test data and the injection's statistics (see the module docstring)."""

    bnn: str = "bnn"                                 # a bundled network's name or a weight file
    tnn: str = "tnn"
    dataset: str = "mnist5k"                         # test data (`inject.data.load_dataset` specs)
    trials: int = 100                                # corrupted copies per condition or BER point
    ber_range: tuple[float, float] = (1e-5, 0.2)     # the tolerance curves' BER grid ...
    points_per_decade: int = 4                       # ... and its density
    bootstrap: int = 1000                            # resamples of the knees' intervals

    def __post_init__(self) -> None:
        object.__setattr__(self, "ber_range", tuple(float(v) for v in self.ber_range))
        for name in ("trials", "points_per_decade", "bootstrap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CircuitkitError(f"network: {name}={value!r}: expected a whole number >= 1")
        for name in ("bnn", "tnn", "dataset"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise CircuitkitError(f"network: {name}={getattr(self, name)!r}: expected a name or a path")
        self.tolerance()   # the grid checked now, not after the campaigns

    def tolerance(self, seed: int = 0) -> ToleranceConfig:
        """The tolerance curves these settings ask for."""
        if len(self.ber_range) != 2:
            raise CircuitkitError(f"network: ber_range={self.ber_range!r}: expected [start, stop]")
        start, stop = self.ber_range
        return ToleranceConfig(ber_start=start, ber_stop=stop, points_per_decade=self.points_per_decade,
                               trials=self.trials, bootstrap=self.bootstrap, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "ber_range": list(self.ber_range)}
