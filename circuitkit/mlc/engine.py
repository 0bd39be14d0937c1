"""The fitted pulse model applied to many cells, pulse after pulse, with the charge each
pulse drives through the cell and its access transistor.

A write-verify loop applies pulses from a short menu of (V_WL, V_BL, V_SL) conditions (its
ladders) thousands of times. `PulseModel.sample_after` rebuilds the model's elapsed-time
tables on every call; the engine builds them once for the whole menu, on one gap grid
covering every resistance a cell can reach, and then each step is a table look-up per
cell. The random parts are drawn exactly as `PulseModel.sample_after` draws them (rate
scale, programming spread, in that order; `tests/test_mlc.py` proves the outcomes equal
`sample_after`'s for the same generator), so the engine is the fitted model, not a copy
of it.

Energy. During a rectangular pulse the supply holds V = |V_BL - V_SL| across the series of
cell and transistor; the energy drawn is V times the charge Q = integral of I dt. The
pulse model knows the gap's motion: with the per-pulse rate scale m the gap moves at
m f(g), so while it moves dt = dg / (m |f(g)|) and

    Q = (1/m) * integral_{g_before}^{g_end} |I(g)| / |f(g)| dg  +  |I(g_end)| * t_rest,

where I(g) is the current with the cell voltage solved against the transistor at that
gap (the same KCL solve as the model's), g_end is where the motion ends (the pulse's end,
or the equilibrium the compliance sets), and t_rest the rest of the pulse spent there.
The integral is taken on 48 points between g_before and g_end, log-linearly interpolated
from the model's gap grid. Not included: charging the lines' capacitance, the word-line
gate, the programming spread's landing scatter (a read-out effect, it moves no charge
in the model) and the peripheral circuits. Verify reads are counted and costed
separately (V_read^2 / R over a read time the caller sets).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.device.access import fet_table
from circuitkit.device.pulse import (PulseCondition, PulseModel, _Conditions, _Tables, gap_grid, gaps_after,
                                     read_series_noise, scaled_read_noise)
from circuitkit.resources import bundled_data

# One cell of the bundled array read 10,000 times over 467 s (MIT licence, see its README):
# columns address, unix time (s), R (ohm at 0.2 V), ...
READ_SERIES = "rram-1t1r-130nm/ret1.csv.gz"

# Resistances a cell can take in a write-verify loop (ohm): the tables cover their gaps.
R_RANGE = (1e3, 1e8)
CHARGE_NODES = 48


@dataclasses.dataclass(frozen=True)
class PulseMenu:
    """The distinct terminal voltages (V_WL, V_BL, V_SL) a programming scheme uses."""

    voltages: np.ndarray  # (P, 3)

    @classmethod
    def of(cls, triples: Sequence[tuple[float, float, float]]) -> "PulseMenu":
        voltages = np.unique(np.round(np.asarray(triples, dtype=float).reshape(-1, 3), 9), axis=0)
        if voltages.size == 0:
            raise CircuitkitError("a pulse menu needs at least one (V_WL, V_BL, V_SL) condition")
        if np.any(voltages[:, 1] == voltages[:, 2]):
            raise CircuitkitError("a programming pulse needs V_BL != V_SL (SET: V_BL > V_SL, RESET: V_SL > V_BL)")
        return cls(voltages)

    def index(self, triples) -> np.ndarray:
        """Menu row of each (V_WL, V_BL, V_SL) (an error for a triple not on the menu)."""
        wanted = np.round(np.asarray(triples, dtype=float).reshape(-1, 3), 9)
        flat = self.voltages @ np.array([1e6, 1e3, 1.0])
        order = np.argsort(flat)
        keys = wanted @ np.array([1e6, 1e3, 1.0])
        position = np.clip(np.searchsorted(flat[order], keys), 0, len(flat) - 1)
        rows = order[position]
        if not np.allclose(self.voltages[rows], wanted, atol=1e-9, rtol=0):
            raise CircuitkitError("a pulse condition is not on the engine's menu")
        return rows


def with_read_noise_scale(model: PulseModel, scale: float) -> PulseModel:
    """`model` with its read-to-read noise multiplied by `scale` (0: noiseless reads), for
    every read the model makes (verify reads, crossbar reads). A knob for what-if runs
    (write-verify campaigns apply it on top of `with_measured_read_noise`)."""
    if scale < 0:
        raise CircuitkitError(f"read_noise_scale={scale!r}: expected >= 0")
    if scale == 1:
        return model
    noise = model.read_noise
    return dataclasses.replace(model, read_noise=dataclasses.replace(
        noise, sigma=noise.sigma * scale, sigma_max=noise.sigma_max * scale))


@functools.cache
def measured_read_noise() -> dict[str, Any]:
    """Read-to-read noise of the bundled single-cell read series (`READ_SERIES`): sigma of
    ln R between consecutive reads / sqrt 2 (robust), at the cell's median resistance."""
    return read_series_noise(bundled_data(READ_SERIES))


def with_measured_read_noise(model: PulseModel) -> tuple[PulseModel, str]:
    """`model` with the read noise of a verify or later read taken from a measurement, and
    what it assumed (for artefacts).

    The pulse card's read term is what the fit could not attribute to a pulse: in the
    bundled sweeps R before and R after a pulse are read apart, and non-switching pulses
    disturb HRS cells, so the term absorbs more than the read itself. At 10.75 kohm the
    bundled card says 0.12 in ln R; the same array's cell read 10,000 times (`READ_SERIES`)
    shows 0.0125, and the sweeps' LRS cells under pulses that cannot switch them (V_BL
    0.5 V, 5-20 kohm) 0.026 between two reads, 0.018 per read. A write-verify loop reads
    right after its pulse, so its reads are the series' reads: the level is scaled so that
    sigma at the series' resistance is the measured one (`device.pulse.scaled_read_noise`,
    which says what it extrapolates)."""
    return scaled_read_noise(model, measured_read_noise(), source="one cell of the bundled array")


class ProgrammingEngine:
    """`model` (a fitted `PulseModel`) for pulses from `menu`: outcome and charge per pulse."""

    def __init__(self, model: PulseModel, menu: PulseMenu, grid: np.ndarray | None = None):
        self.model, self.menu = model, menu
        card = model.card
        fet = fet_table(model.transistor)
        if grid is None:
            grid = gap_grid(card, model.gap(np.asarray(R_RANGE)))
        v = menu.voltages
        self._conditions = _Conditions.build(card, fet, PulseCondition(v[:, 0], v[:, 1], v[:, 2], 1.0), grid,
                                             grid=grid)
        self._tables = _Tables.build(card, self._conditions, model.temp_c)
        self._row = self._conditions.index  # menu row -> table row
        is_set = v[:, 1] >= v[:, 2]
        self._sigma_program = np.where(is_set, model.sigma_ln_program[0], model.sigma_ln_program[1])
        self._spread = np.where(is_set, model.spread_scale[0], model.spread_scale[1])
        self.is_set = is_set
        self.drive = np.abs(v[:, 1] - v[:, 2])  # V across cell + transistor
        # ln |I| / |f| and ln 1 / |f| on the grid, per table row (for the charge integral)
        current = np.abs(card.current(self._conditions.v_cell, grid[None, :]))
        speed = np.maximum(np.abs(self._tables.rate), 1e-300)
        self._ln_current = np.log(np.maximum(current, 1e-300))
        self._ln_time_density = -np.log(speed)

    @classmethod
    def for_scheme(cls, model: PulseModel, scheme) -> "ProgrammingEngine":
        """An engine whose menu holds every pulse the scheme can apply."""
        return cls(model, PulseMenu.of(scheme.voltage_triples()))

    # ------------------------------------------------------------------ pulses
    def apply(self, r_before: np.ndarray, menu_row: np.ndarray, width: np.ndarray, rng: np.random.Generator,
              read_noise: bool = False, charge: bool = True, cell_z: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """R after one pulse per cell (menu row and width per cell) and the charge (C) it
        drove. `read_noise=True` returns what a read right after the pulse would show
        (what `PulseModel.sample_after` returns); the state itself carries none. `cell_z`:
        each cell's own rate offset (`PulseModel.draw_cell_z`, kept across its pulses)."""
        model = self.model
        r_before = np.asarray(r_before, dtype=float)
        menu_row = np.asarray(menu_row)
        width = np.broadcast_to(np.asarray(width, dtype=float), r_before.shape)
        rows = self._row[menu_row]
        gaps = model.gap(r_before)
        z = rng.standard_normal(gaps.shape)
        ln_rate = model.ln_rate_scale(self.is_set[menu_row], z, cell_z)
        ln_elapsed = np.log(width) + ln_rate
        g_end = gaps_after(self._tables, rows, gaps, ln_elapsed)
        r_after = model.resistance(g_end)
        moved = -np.expm1(-np.abs(np.log(r_after) - np.log(r_before)))
        scale = self._spread[menu_row]
        r_after = r_after * np.exp(scale * self._sigma_program[menu_row] * moved * rng.standard_normal(r_after.shape))
        if read_noise:
            r_after = r_after * np.exp(scale * model.read_noise.sigma_at(r_after) * rng.standard_normal(r_after.shape))
        q = self._charge(rows, gaps, g_end, np.exp(ln_rate), width) if charge else np.zeros_like(r_after)
        return r_after, q

    def energy(self, charge: np.ndarray, menu_row: np.ndarray) -> np.ndarray:
        """Energy (J) drawn from the pulsed line for pulses that drove `charge`."""
        return np.asarray(charge) * self.drive[np.asarray(menu_row)]

    def read(self, resistance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One read of each cell: the fitted read-to-read noise (lognormal, sigma(R))."""
        r = np.asarray(resistance, dtype=float)
        return r * np.exp(self.model.read_noise.sigma_at(r) * rng.standard_normal(r.shape))

    # ------------------------------------------------------------------ charge
    def _interp(self, table: np.ndarray, rows: np.ndarray, gaps: np.ndarray) -> np.ndarray:
        grid = self._conditions.grid
        j = np.clip(np.searchsorted(grid, gaps) - 1, 0, grid.size - 2)
        w = np.clip((gaps - grid[j]) / (grid[j + 1] - grid[j]), 0.0, 1.0)
        rows = rows.reshape(rows.shape + (1,) * (gaps.ndim - rows.ndim))
        return table[rows, j] * (1 - w) + table[rows, j + 1] * w

    def _charge(self, rows: np.ndarray, g_start: np.ndarray, g_end: np.ndarray, rate_scale: np.ndarray,
                width: np.ndarray) -> np.ndarray:
        """Charge (C) of each pulse: the moving part by quadrature on CHARGE_NODES points
        (ln of the integrands interpolated linearly in the gap, each segment integrated
        exactly for that exponential), the rest at the end current."""
        u = np.linspace(0.0, 1.0, CHARGE_NODES)
        path = g_start[:, None] + (g_end - g_start)[:, None] * u[None, :]
        ln_time = self._interp(self._ln_time_density, rows, path)
        ln_charge = ln_time + self._interp(self._ln_current, rows, path)
        step = np.abs(g_end - g_start)[:, None] / (CHARGE_NODES - 1)
        moving_time = (_exp_segments(ln_time) * step).sum(axis=1) / rate_scale
        moving_charge = (_exp_segments(ln_charge) * step).sum(axis=1) / rate_scale
        rest = np.clip(width - moving_time, 0.0, None)
        end_current = np.exp(self._interp(self._ln_current, rows, g_end))
        return np.minimum(moving_charge, np.exp(self._ln_current[rows].max(axis=1)) * width) + end_current * rest


def _exp_segments(ln_values: np.ndarray) -> np.ndarray:
    """Integral over each unit segment of exp(a + (b - a) x), x in [0, 1], for consecutive
    columns a, b: (e^b - e^a) / (b - a), the limit e^a where b == a."""
    a, b = ln_values[:, :-1], ln_values[:, 1:]
    difference = b - a
    high = np.maximum(a, b)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ratio = np.where(np.abs(difference) < 1e-9, 1.0, -np.expm1(-np.abs(difference)) / np.abs(difference))
    return np.exp(np.minimum(high, 700.0)) * ratio
