"""What decides the SNN stage's numbers in a flow: `SnnConfig`, a flow file's [snn] table.

Its fields are the names of `circuitkit snn`'s options (`--chips` -> `chips`); the test
data are the flow's [network] dataset, the seed the flow's. It runs nothing.
"""

from __future__ import annotations

import dataclasses

from circuitkit import CircuitkitError


@dataclasses.dataclass(frozen=True)
class SnnConfig:
    """`chips`: simulated chips per SNN case (their spread gives the interval); 0: no
    SNN stage."""

    chips: int = 20

    def __post_init__(self) -> None:
        if isinstance(self.chips, bool) or not isinstance(self.chips, int) or self.chips == 1 or self.chips < 0:
            raise CircuitkitError(f"snn: chips={self.chips!r}: expected 0 (no SNN stage) or a whole number >= 2 "
                                  "(an interval over chips needs two)")
