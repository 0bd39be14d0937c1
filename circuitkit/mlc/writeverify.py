"""Closed-loop write-verify of many cells at once.

Every cell repeats: verify read (the fitted read-to-read noise on every read), stop if the
read lies in the cell's acceptance band, else the scheme's next pulse (the fitted pulse
model: the cell's own rate offset, drawn once per cell, its per-pulse rate spread and
programming spread), until its budget of pulses
is spent or the scheme gives up. All cells step together (a vectorized loop over pulse
number, over the cells still active), so 10^4-10^5 cells program in seconds.

The band is the level's band of the `LevelMap`, or target +- `tolerance` (a tighter
verify). The result keeps per cell: the true resistance the loop left (the state, no read
noise), its last verify read, success, pulse counts by polarity, attempts, the energy of
the pulses (`ProgrammingEngine`: V x charge through cell and transistor) and of the
verify reads (V_read^2 / R x `read_time_s`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.mlc.engine import ProgrammingEngine
from circuitkit.mlc.levels import LevelMap
from circuitkit.mlc.schemes import SchemeState

DEFAULT_READ_TIME_S = 100e-9  # duration of one verify read (assumed; set your own)


class DriftModel(Protocol):
    """Conductance relaxation after programming (a fitted model from `circuitkit.device`).

    `sample(resistance, t_s, temp_c, rng)` returns the resistance of each cell `t_s`
    seconds after programming, held at `temp_c` (`device.relaxation.RelaxationModel`, fitted
    by `circuitkit fit --kind retention`). Without one, drift is off and every artefact says so.
    """

    def sample(self, resistance: np.ndarray, t_s: float, temp_c: float, rng: np.random.Generator) -> np.ndarray:
        ...


@dataclasses.dataclass(frozen=True)
class ProgrammingResult:
    """Per cell: target level, the resistance left (true state), the last verify read,
    success, pulses (all, SET, RESET), verify reads, attempts, energies (J)."""

    level: np.ndarray
    r_final: np.ndarray
    r_verified: np.ndarray
    success: np.ndarray
    pulses: np.ndarray
    set_pulses: np.ndarray
    reset_pulses: np.ndarray
    reads: np.ndarray
    attempts: np.ndarray
    pulse_energy_j: np.ndarray
    read_energy_j: np.ndarray

    def __len__(self) -> int:
        return int(self.level.size)

    def later_read(self, engine: ProgrammingEngine, rng: np.random.Generator, *, drift: DriftModel | None = None,
                   t_s: float = 0.0, temp_c: float = 27.0) -> np.ndarray:
        """A fresh read of every cell (independent read noise), after `drift` over `t_s`
        seconds if a relaxation model is given."""
        state = self.r_final if drift is None else drift.sample(self.r_final, t_s, temp_c, rng)
        return engine.read(state, rng)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> "ProgrammingResult":
        return cls(**{field.name: np.asarray(arrays[field.name]) for field in dataclasses.fields(cls)})

    @classmethod
    def concatenate(cls, results: list["ProgrammingResult"]) -> "ProgrammingResult":
        return cls(**{field.name: np.concatenate([getattr(r, field.name) for r in results])
                      for field in dataclasses.fields(cls)})


def write_verify(engine: ProgrammingEngine, scheme, levels: LevelMap, target_levels, r_start, rng: np.random.Generator,
                 *, tolerance: float | None = None, read_time_s: float = DEFAULT_READ_TIME_S,
                 cell_z: np.ndarray | None = None) -> ProgrammingResult:
    """Program every cell (start resistance `r_start`, ohm) to its target level.

    Each cell's own rate offset (the per-cell part of the model's rate spread) is `cell_z`
    (the same cells programmed again keep theirs), else drawn once here, before the first
    pulse, and kept for all the cell's pulses; only the per-pulse part is redrawn per pulse.
    A model without a per-cell part draws nothing extra (`PulseModel.draw_cell_z`)."""
    target = np.asarray(target_levels, dtype=np.int64)
    r = np.array(r_start, dtype=float, copy=True)
    if target.shape != r.shape or target.ndim != 1:
        raise CircuitkitError(f"write_verify: {target.shape} target levels for {r.shape} cells")
    if np.any((target < 0) | (target >= levels.levels)):
        raise CircuitkitError(f"write_verify: target levels must lie in 0 .. {levels.levels - 1}")
    if not read_time_s > 0:
        raise CircuitkitError(f"write_verify: read_time_s={read_time_s!r}: expected > 0")
    n = r.size
    low, high = levels.band(target, tolerance)
    state = SchemeState.start(n)
    counts = {key: np.zeros(n, dtype=np.int64) for key in ("pulses", "set", "reset", "reads")}
    pulse_energy = np.zeros(n)
    read_energy = np.zeros(n)
    verified = np.full(n, np.nan)
    success = np.zeros(n, dtype=bool)
    v_read = engine.model.v_read
    cell_z = engine.model.draw_or_check_cell_z(n, rng, cell_z, "write_verify")

    def pulse(cells: np.ndarray, triples: np.ndarray, widths: np.ndarray) -> None:
        rows = engine.menu.index(triples)
        r[cells], charge = engine.apply(r[cells], rows, widths, rng,
                                        cell_z=None if cell_z is None else cell_z[cells])
        pulse_energy[cells] += engine.energy(charge, rows)
        counts["pulses"][cells] += 1
        is_set = engine.is_set[rows]
        counts["set"][cells] += is_set
        counts["reset"][cells] += ~is_set

    first = scheme.first_pulses(target)
    if first is not None:
        pulse(np.arange(n), *first)
    active = np.ones(n, dtype=bool)
    while np.any(active):
        cells = np.flatnonzero(active)
        read = engine.read(r[cells], rng)
        counts["reads"][cells] += 1
        read_energy[cells] += v_read * v_read / r[cells] * read_time_s
        verified[cells] = read
        g = 1.0 / read
        inside = (g >= low[cells]) & (g <= high[cells])
        success[cells[inside]] = True
        out_of_budget = ~inside & (counts["pulses"][cells] >= scheme.max_pulses)
        deciding = ~inside & ~out_of_budget
        active[cells[~deciding]] = False
        cells, g = cells[deciding], g[deciding]
        if cells.size == 0:
            break
        below, above = g < low[cells], g > high[cells]
        nxt = scheme.next_pulses(state, cells, below, above, target[cells])
        active[cells[nxt.give_up]] = False
        go = ~nxt.give_up
        if np.any(go):
            pulse(cells[go], nxt.triples[go], nxt.widths[go])
    return ProgrammingResult(target, r, verified, success, counts["pulses"], counts["set"], counts["reset"],
                             counts["reads"], state.attempts, pulse_energy, read_energy)
