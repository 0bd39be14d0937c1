"""Where a circuit operates: process corner, supply and temperature, checked once.

`OperatingPoint` is the one type that carries a supply from the command line (`--vdd`),
a flow file (`vdd = [...]`) or Python (`vdd=`) to the netlist's `.param vdd=` and back
into a bit-error table's rows: it is validated when it is made, against the one
`OPERATING_RANGE` every stage shares, and passed on as it is. Transistor mismatch is not
part of a point; it is an option of the bench that simulates one.

This module is neutral ground: it imports nothing from the stages, so every stage (the
toolchain, netlists, corners, tables, the flow) can depend on it.
"""

from __future__ import annotations

import dataclasses
import enum
import math

from circuitkit import CircuitkitError

VDD_NOMINAL = 1.8
TEMP_NOMINAL_C = 27.0


class Corner(enum.StrEnum):
    """The sky130 process corners (NMOS/PMOS: typical, fast, slow). A `str`, so a corner
    prints, compares and serialises as its name ('tt')."""

    TT = "tt"
    FF = "ff"
    SS = "ss"
    SF = "sf"
    FS = "fs"

    @classmethod
    def parse(cls, value: str | Corner) -> Corner:
        """`value` as a Corner, or a CircuitkitError listing the corners."""
        try:
            return cls(value)
        except ValueError:
            raise CircuitkitError(f"unknown process corner {value!r}: expected one of "
                                  f"{', '.join(corner.value for corner in cls)}") from None


def _finite(value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


@dataclasses.dataclass(frozen=True)
class OperatingRange:
    """The supplies and temperatures circuitkit simulates: the one range every stage
    checks (netlists, campaigns, flows), before anything runs.

    Supply: the sky130 1.8 V devices up to their nominal 1.8 V + 10 % (1.98 V); below
    0.5 V (about one threshold voltage) nothing switches. The reads are verified by the
    tests from 0.9 V (the ternary supply) to 1.98 V. Temperature: the PDK's characterized
    -40..125 C.
    """

    vdd_min: float = 0.5
    vdd_max: float = 1.98
    temp_min_c: float = -40.0
    temp_max_c: float = 125.0

    def check_vdd(self, vdd: float, owner: str = "operating point") -> float:
        """`vdd` as a float, or a CircuitkitError naming `owner` and the range."""
        value = _finite(vdd)
        if not (math.isfinite(value) and value > 0):
            raise CircuitkitError(f"{owner}: vdd={vdd!r} V: expected a finite number > 0")
        if not self.vdd_min <= value <= self.vdd_max:
            raise CircuitkitError(f"{owner}: vdd={vdd!r} V is outside the range of the sky130 1.8 V devices "
                                  f"({self.vdd_min:g}..{self.vdd_max:g} V)")
        return value

    def check_temp(self, temp_c: float, owner: str = "operating point") -> float:
        """`temp_c` as a float, or a CircuitkitError naming `owner` and the range."""
        value = _finite(temp_c)
        if not (math.isfinite(value) and self.temp_min_c <= value <= self.temp_max_c):
            raise CircuitkitError(f"{owner}: temp_c={temp_c!r} C is outside {self.temp_min_c:g}..{self.temp_max_c:g} C")
        return value


OPERATING_RANGE = OperatingRange()


@dataclasses.dataclass(frozen=True)
class OperatingPoint:
    """Process corner, supply voltage (V) and temperature (C) of a simulation.

    Made once from user input and checked against `OPERATING_RANGE` then; a point in hand
    is always one circuitkit can simulate. The fields are normalised: `corner` a
    `Corner`, `vdd` and `temp_c` floats.
    """

    corner: Corner = Corner.TT
    vdd: float = VDD_NOMINAL
    temp_c: float = TEMP_NOMINAL_C

    def __post_init__(self) -> None:
        object.__setattr__(self, "corner", Corner.parse(self.corner))
        object.__setattr__(self, "vdd", OPERATING_RANGE.check_vdd(self.vdd))
        object.__setattr__(self, "temp_c", OPERATING_RANGE.check_temp(self.temp_c))

    def label(self) -> str:
        return f"{self.corner}, {self.vdd:g} V, {self.temp_c:g} C"

