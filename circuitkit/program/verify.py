"""Program-and-verify in ngspice: pulses with a verify read after each until a cell passes
its target or the pulse budget is spent, over a batch of cells, one deck per pulse step.

What decides a cell's fate, and who draws it:

- the gap's motion during each pulse: ngspice, the compiled rram_hfox.va behind the sky130
  access transistor (`netlist.programming.ProgrammingBench`), with the pulse model's
  switching-speed draw on each device's instance line: `rate_scale = exp(ln_rate)`,
  ln_rate = the cell's own offset (sigma_ln_rate_cell z_cell, drawn once per cell and kept
  for all its pulses) + the per-pulse part (sigma_ln_rate_pulse z, redrawn per pulse), as
  `PulseModel.ln_rate_scale` splits them; a card without cycling data draws the whole
  sigma_ln_rate per pulse (device-to-device and cycle-to-cycle together, as it says);
- where a switching pulse lands (the pulse model's programming spread, a lognormal factor
  sigma_ln_program (1 - exp(-|ln R_after / R_before|)) times its calibration) and every
  verify read's noise (the fitted read-to-read noise): Python draws after each deck, exactly
  as `device.pulse.PulseModel.sample_after` draws them: the .va has neither;
- the state a cell carries into the next pulse: the landed resistance, as its gap (a
  resistance below the closed gap's is held at gap 0).

Step k is one deck over the cells still unverified, each starting from the gap the previous
deck (and landing) left it at. The random numbers of a batch are drawn for every cell at
every step (whether it still runs or not), from one generator per batch: a batch's outcome
does not depend on which cells finish first, nor on batch splitting beyond its own stream.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.device.access import AccessTransistor
from circuitkit.device.pulse import PulseModel
from circuitkit.netlist.programming import (Operation, ProgrammingBench, ProgrammingPulse, Structure,
                                            check_rating, check_switching)
from circuitkit.operating import OperatingPoint
from circuitkit.spice.runner import SimulationError

Log = Callable[[str], None]
SAFER_OPTIONS = {"method": "gear", "reltol": 1e-3, "itl4": 100}


@dataclasses.dataclass(frozen=True)
class VerifyScheme:
    """Pulse k (k = 0, 1, ...): the first pulse with the word line raised by k `step_v_wl`
    (a compliance ladder), the amplitude by k `step_amplitude` (incremental amplitude) and
    the width times `width_factor`**k (incremental width). A cell passes when a verify read
    is at or below `target_ohm` (SET, forming) or at or above it (RESET). `verify=False`:
    one pulse, no verify (the write-failure rate is then the single pulse's, read once)."""

    first: ProgrammingPulse
    target_ohm: float
    max_pulses: int = 8
    step_v_wl: float = 0.0
    step_amplitude: float = 0.0
    width_factor: float = 1.0
    verify: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.first, ProgrammingPulse):
            raise CircuitkitError(f"VerifyScheme: first={self.first!r}: expected a ProgrammingPulse")
        if not (self.target_ohm > 0):
            raise CircuitkitError(f"VerifyScheme: target_ohm={self.target_ohm!r}: expected a resistance > 0 ohm")
        if isinstance(self.max_pulses, bool) or not isinstance(self.max_pulses, int) or self.max_pulses < 1:
            raise CircuitkitError(f"VerifyScheme: max_pulses={self.max_pulses!r}: expected an integer >= 1")
        if self.step_v_wl < 0 or self.step_amplitude < 0 or not (self.width_factor >= 1):
            raise CircuitkitError("VerifyScheme: step_v_wl and step_amplitude must be >= 0 V and width_factor >= 1 "
                                  "(pulses grow)")

    @property
    def budget(self) -> int:
        return self.max_pulses if self.verify else 1

    def pulse(self, k: int) -> ProgrammingPulse:
        first = self.first
        return dataclasses.replace(first, v_wl=first.v_wl + k * self.step_v_wl,
                                   amplitude=first.amplitude + k * self.step_amplitude,
                                   width=first.width * self.width_factor ** k)

    def passes(self, resistance: np.ndarray) -> np.ndarray:
        if self.first.operation is Operation.RESET:
            return np.asarray(resistance) >= self.target_ohm
        return np.asarray(resistance) <= self.target_ohm

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["first"] = dataclasses.asdict(self.first) | {"operation": str(self.first.operation)}
        return data

    @classmethod
    def from_dict(cls, data) -> "VerifyScheme":
        return cls(**{**data, "first": ProgrammingPulse(**data["first"])})

    def describe(self) -> str:
        ladder = [f"+{self.step_v_wl:g} V WL" if self.step_v_wl else "", f"+{self.step_amplitude:g} V amplitude"
                  if self.step_amplitude else "", f"x{self.width_factor:g} width" if self.width_factor != 1 else ""]
        steps = ", ".join(s for s in ladder if s) or "identical pulses"
        if not self.verify:
            return f"{self.first.label()}, single pulse, no verify (target {self.target_ohm:g} ohm read once)"
        return (f"{self.first.label()}, then {steps} per pulse, verify to {'>=' if self.first.operation is Operation.RESET else '<='} "
                f"{self.target_ohm:g} ohm, at most {self.max_pulses} pulses")


@dataclasses.dataclass
class VerifyOutcome:
    """Per cell of a batch."""

    r_start: np.ndarray      # ohm, the state before the first pulse
    r_final: np.ndarray      # ohm, the programmed state (landed, no read noise)
    r_verify: np.ndarray     # ohm, the last verify read
    r_spice: np.ndarray      # ohm, ngspice's read (V/I at the read bias) after the cell's last pulse
    pulses: np.ndarray       # int
    pulse_energy_j: np.ndarray  # from every source over the pulses
    read_energy_j: np.ndarray   # the verify reads (ngspice read phases)
    peak_current_a: np.ndarray  # largest cell current of any pulse
    passed: np.ndarray       # bool: a verify read met the target

    def to_arrays(self) -> dict[str, np.ndarray]:
        return dataclasses.asdict(self)

    @classmethod
    def from_arrays(cls, arrays) -> "VerifyOutcome":
        return cls(**{f.name: np.asarray(arrays[f.name]) for f in dataclasses.fields(cls)})

    @classmethod
    def concatenate(cls, parts) -> "VerifyOutcome":
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)})


def program_and_verify(model: PulseModel, scheme: VerifyScheme, r_start: np.ndarray, rng: np.random.Generator, *,
                       transistor: AccessTransistor | None = None, point: OperatingPoint = OperatingPoint(),
                       workdir=None, log: Log | None = None, name: str = "verify",
                       cell_z: np.ndarray | None = None) -> VerifyOutcome:
    """Program every cell (1T1R, starting at `r_start` ohm) with `scheme` in ngspice. Each
    cell's own rate offset is `cell_z`, else drawn here once (`PulseModel.draw_cell_z`)."""
    card = model.card
    transistor = transistor or model.transistor
    r_start = np.asarray(r_start, dtype=float)
    n = r_start.size
    operation = scheme.first.operation
    is_set = operation is not Operation.RESET
    sigma_program = model.sigma_ln_program[0 if is_set else 1]
    spread = model.spread_scale[0 if is_set else 1]
    # Bad input before any simulation: every pulse within the rating, the largest able to move the median cell
    for k in range(scheme.budget):
        check_rating(scheme.pulse(k), dataclasses.replace(transistor, corner=str(point.corner)), f"pulse {k + 1}")
    check_switching(card, dataclasses.replace(transistor, corner=str(point.corner), temp_c=point.temp_c),
                    scheme.pulse(scheme.budget - 1), [float(np.median(_gaps(model, r_start)))],
                    f"the scheme's last pulse ({scheme.budget}) on the median starting cell")
    cell_z = model.draw_or_check_cell_z(n, rng, cell_z, "program_and_verify")
    state = r_start.copy()
    out = VerifyOutcome(r_start, state, np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=np.int64),
                        np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool))
    active = np.ones(n, dtype=bool)
    for k in range(scheme.budget):
        # drawn for every cell at every step: the stream does not depend on who is still running
        z_rate, z_land, z_read = rng.standard_normal((3, n))
        if not active.any():
            continue
        cells = np.flatnonzero(active)
        pulse = scheme.pulse(k)
        gaps = _gaps(model, state[cells])
        fields = dict(pulses=(pulse,), structure=Structure.ONE_T_ONE_R, gap_before=gaps,
                      rate_scale=np.exp(model.ln_rate_scale(np.full(cells.size, is_set), z_rate[cells],
                                                            None if cell_z is None else cell_z[cells])),
                      transistor=transistor, card=card, point=point,
                      check_switching=False)
        result = _simulate(fields, workdir, f"{name}_p{k + 1:02d}", log)
        g_end = result.gap_final[:, 0]
        landed = np.asarray(card.resistance(g_end, model.v_read, model.temp_c), dtype=float)
        moved = -np.expm1(-np.abs(np.log(landed) - np.log(state[cells])))
        landed = landed * np.exp(spread * sigma_program * moved * z_land[cells])
        read = landed * np.exp(spread * model.read_noise.sigma_at(landed) * z_read[cells])
        state[cells] = landed
        out.r_verify[cells] = read
        out.r_spice[cells] = result.r_read[:, 0]
        out.pulses[cells] += 1
        out.pulse_energy_j[cells] += result.energy_total
        out.read_energy_j[cells] += result.read_energy
        out.peak_current_a[cells] = np.maximum(out.peak_current_a[cells], result.peak_current[0, :, 0])
        ok = scheme.passes(read)
        out.passed[cells] = ok
        active[cells[ok]] = False
    out.r_final = state
    return out


def _gaps(model: PulseModel, resistance: np.ndarray) -> np.ndarray:
    """Gap of each state (a resistance below the closed gap's is held at gap 0)."""
    return np.maximum(np.asarray(model.gap(resistance), dtype=float), 0.0)


def _simulate(fields: dict[str, Any], workdir, name: str, log: Log | None):
    """One deck; once more with safer integration (gear, looser tolerance, a time step of a
    quarter edge) if ngspice does not converge (the failing deck kept in `workdir` when given)."""
    bench = ProgrammingBench(**fields)
    try:
        return bench.simulate(workdir=workdir, name=name)
    except SimulationError as error:
        if log:
            log(f"program: deck {name} failed ({error}); retrying with {SAFER_OPTIONS} and a "
                f"{bench.fine_step:.3g} s step")
        safer = dataclasses.replace(bench, options=SAFER_OPTIONS, max_step=bench.fine_step)
        return safer.simulate(workdir=workdir, name=name + "_safer")
