"""The typed simulation input every netlist generator returns: a `Bench`.

A bench is a frozen dataclass holding everything one simulation needs (the operating
point, the RRAM model card, the circuit's sizing and timing, what to measure) and the
two verbs a caller needs: `to_netlist()` writes the ngspice text, late and only at the
edge, and `measure(result)` turns the simulator's `SimResult` into the bench's own typed
outcome, from the bench's fields. A caller that built a bench measures with it; nothing
in a process reads its own netlist text back. (`circuitkit simulate FILE` is the one
exception: a file has only its text, so `circuitkit.netlist.run` measures it from the
`* circuitkit-bench:` header line that `header()` provides.)

Common fields (keyword-only, so each bench leads with its own): the `OperatingPoint`,
`mismatch` (the PDK's per-instance transistor mismatch, a property of the simulation,
not of the point), the model `card` (None: the Verilog-A defaults), the ngspice `seed`
of its random functions, extra `.options`, and `fet_library`: "binned" loads a copy of
the sky130 library holding only the model bins of the bench's transistor sizes (about 4x
faster and a tenth of the memory for Monte Carlo batches, same nominal numbers bit for
bit; `circuitkit.spice.binning`), "full" the PDK's whole library. A bench that cannot
say its sizes (`fet_sizes()` is None) always loads the full library.

A new bench (a programming pulse train with verify reads, a large array with wire RC)
subclasses `Bench`, sets `kind`, writes its text with `preamble()` and the helpers of
`circuitkit.netlist.common`, and returns its own outcome type from `measure`.

This module must not run campaigns or know about statistics: a bench is one simulation.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from circuitkit import CircuitkitError
from circuitkit.device.model import ModelCard
from circuitkit.netlist import common as c
from circuitkit.operating import OperatingPoint
from circuitkit.spice.binning import FetSizes
from circuitkit.spice.runner import SimResult, run_batch

Outcome = TypeVar("Outcome")
FET_LIBRARIES = ("binned", "full")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Bench(abc.ABC, Generic[Outcome]):
    """One simulation: its netlist text on demand and the measurement of its result."""

    point: OperatingPoint = OperatingPoint()
    mismatch: bool = False
    card: ModelCard | None = None
    seed: int | None = None
    options: Mapping[str, float | str] | None = None
    fet_library: str = "binned"

    # Every bench has a `kind`, the name its header gives it (`circuitkit netlist KIND`): a
    # class attribute, or a field where one class writes several kinds (PCSA reads).
    kind = "bench"

    def __post_init__(self) -> None:
        if not isinstance(self.point, OperatingPoint):
            raise CircuitkitError(f"{type(self).__name__}: point={self.point!r}: expected an OperatingPoint "
                                  "(circuitkit.operating)")
        if self.card is None:
            object.__setattr__(self, "card", ModelCard.default())
        if self.fet_library not in FET_LIBRARIES:
            raise CircuitkitError(f"{type(self).__name__}: fet_library={self.fet_library!r}: expected one of "
                                  f"{', '.join(FET_LIBRARIES)}")
        reltol = (self.options or {}).get("reltol")
        if reltol is not None and not (isinstance(reltol, (int, float)) and 0 < reltol < 1):
            raise CircuitkitError(f"{type(self).__name__}: options reltol={reltol!r}: expected a relative tolerance "
                                  "in (0, 1)")

    @abc.abstractmethod
    def header(self) -> dict[str, Any]:
        """The description written on the netlist's `* circuitkit-bench:` line: what
        `circuitkit simulate FILE` needs to measure the file."""

    @abc.abstractmethod
    def to_netlist(self) -> str:
        """The ngspice netlist text."""

    @abc.abstractmethod
    def measure(self, result: SimResult) -> Outcome:
        """The bench's typed outcome from a simulation of its netlist."""

    def fet_sizes(self) -> FetSizes | None:
        """The (device, W, L) of every transistor the netlist places (None: not known, the
        full library is loaded)."""
        return None

    def simulate(self, *, workdir: Path | str | None = None, name: str = "bench") -> Outcome:
        """Run the netlist in ngspice (`run_batch`) and measure the result."""
        return self.measure(run_batch(self.to_netlist(), workdir=workdir, name=name))

    def write(self, path: Path | str) -> Path:
        """Write the netlist text to `path` (atomically, parents created)."""
        return c.write(self.to_netlist(), path)

    def preamble(self, title: str, generator: str, params: Sequence[c.ParamEntry],
                 fet_sizes: FetSizes | None = None) -> list[str]:
        """Header, `.param` block (the supply, then `params`), `.options`, process corner
        (the bin-resolved library of `fet_sizes` unless `fet_library` is "full"),
        temperature and model card: the top of every bench's netlist."""
        lines = c.header(title, generator, self.header())
        lines += c.section("parameters")
        lines += c.param_lines([("vdd", self.point.vdd, "supply (V)"), *params])
        lines += c.options_lines(self.seed, self.options)
        lines += c.process_lines(self.point, self.mismatch, self.card,
                                 fet_sizes if self.fet_library == "binned" else None)
        return lines

    def label(self) -> str:
        """The operating point, and the mismatch if simulated ('tt, 1.8 V, 27 C, mismatch')."""
        return self.point.label() + (", mismatch" if self.mismatch else "")
