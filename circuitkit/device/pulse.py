"""Stochastic 1T1R pulse model: the distribution of R after a pulse, with the access transistor in the loop.

A programming pulse on a 1T1R cell raises the bit line (SET) or the source line (RESET)
while the word line holds the access transistor's gate, which sets the compliance. The
cell voltage is what the transistor leaves: at every gap g the node between cell and
transistor solves

    I_rram(V_BL - V_x, g) = I_fet(V_WL, drain V_x, source V_SL)    (bulk at 0 V)

(SET: the transistor's source is the grounded source line; RESET: the source line is
pulsed and the node V_x is the source, with its body effect), by bisection on the fast
surrogate of the sky130 transistor (`device.access`). The gap then follows the .va's
state equation dg/dt = f(V_cell(g), g) (`ModelCard.rate_function`). During a rectangular
pulse the terminal voltages are constant, so the motion is autonomous: the time to move
from g to g' is T(g') - T(g) with T(g) = integral dg / f. T is tabulated once per
(V_WL, V_BL, V_SL) on a gap grid, and a row's outcome is T^-1(T(g_before) + width * m).

What is random (the stochastic part, fitted by maximum likelihood):

- `rate_scale` m, lognormal with sigma `sigma_ln_rate`, drawn per pulse: the switching
  speed of this cell in this cycle (a lognormal switching time). With one pulse per cell
  in a sweep, cycle-to-cycle and device-to-device spread cannot be told apart: the fitted
  sigma is their total. It is the .va's instance parameter `rate_scale` (a factor on the
  gap velocity): an ngspice bench replays the draw as
  `rate_scale={exp(agauss(0, sigma_ln_rate, 1))}` on the device, redrawn by `reset`.
  Because the motion is autonomous, a rectangular pulse of width w at rate m*f ends
  exactly where a pulse of width m*w at rate f ends (`tests/test_pulse_model.py` checks
  both in ngspice).
  A cycling log of one cell (`fit_rate_split`, `circuitkit fit ... --cycling LOG`) splits
  it: the per-pulse (cycle-to-cycle) part `sigma_ln_rate_pulse`, fitted by maximum
  likelihood on the log with the cell's own offset a nuisance parameter, and the per-cell
  (device-to-device) rest sqrt(total^2 - pulse^2), drawn once per cell and kept for all its
  pulses (`draw_cell_z`, `ln_rate_scale`, the `cell_z` of `sample_after`). Assumed: the one
  cell's cycle-to-cycle spread holds for every cell and condition (every artefact says so).
- read-to-read noise: each read of R carries a lognormal factor whose sigma grows with R
  (HRS reads are noisier: random telegraph noise, relaxation between program and read):
  sigma(R) = min(sigma_read * (R / 10 kohm) ** read_exponent, sigma_read_max). It is part
  of what the measured R_after means, not a device parameter; a write-verify loop adds it
  to every verify read.

Judged on cells held out of the fit (`evaluate`): the coverage of the predictive 10-90 %
interval (target 80 +- 5 %), the rms ln-R error of the predictive median against each
condition's median in the data, and the log-likelihood, beside the no-change predictor
(R_after = R_before with the read-to-read spread of the training rows).
"""

from __future__ import annotations

import dataclasses
import math
import time as _time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Callable

import lmfit
import numpy as np
from scipy import special

from circuitkit import CircuitkitError
from circuitkit.device.access import AccessTransistor, FetTable, fet_table
from circuitkit.device.model import ModelCard, parameter_specs
from circuitkit.measurements import PulseTable
from circuitkit.stats import binomial_interval

Log = Callable[[str], None]
_NM = 1e-9
READ_NOISE_REFERENCE_OHM = 10e3
T_FLOOR = 1e-30  # s: T(g) is stored as ln(T + T_FLOOR)
_LN_T_SPAN = 2000.0  # offset between conditions in the flattened ln T tables (ln T stays within -70 .. 700)


class PulseModelError(CircuitkitError):
    """The pulse model cannot be built, evaluated or fitted."""


@dataclasses.dataclass(frozen=True)
class PulseCondition:
    """Terminal voltages (V) and width (s) of one pulse per element (arrays broadcast).
    The pulsed line decides the polarity: V_BL > V_SL is a SET, V_SL > V_BL a RESET."""

    v_wl: np.ndarray | float
    v_bl: np.ndarray | float
    v_sl: np.ndarray | float
    width: np.ndarray | float

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        arrays = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=float))
                                       for v in (self.v_wl, self.v_bl, self.v_sl, self.width)))
        v_wl, v_bl, v_sl, width = (np.ascontiguousarray(a) for a in arrays)
        if np.any(~np.isfinite(v_wl) | ~np.isfinite(v_bl) | ~np.isfinite(v_sl)) or np.any(~(width > 0)):
            raise PulseModelError("pulse conditions need finite voltages and positive widths")
        return v_wl, v_bl, v_sl, width

    @property
    def polarity(self) -> np.ndarray:
        _, v_bl, v_sl, _ = self.arrays()
        return np.where(v_bl > v_sl, "set", np.where(v_sl > v_bl, "reset", "none"))

    @classmethod
    def from_table(cls, table: PulseTable) -> "PulseCondition":
        if not table.has_terminals:
            raise PulseModelError(f"{table.source.path}: the pulse model needs the word-, bit- and source-line "
                                  "voltages of every pulse")
        return cls(table.wl_voltage, table.bl_voltage, table.sl_voltage, table.width)


@dataclasses.dataclass(frozen=True)
class ReadNoise:
    """Lognormal read-to-read noise: sigma(R) = min(sigma * (R / 10 kohm) ** exponent, sigma_max)."""

    sigma: float = 0.03
    exponent: float = 0.8
    sigma_max: float = 0.4

    def sigma_at(self, resistance: np.ndarray) -> np.ndarray:
        r = np.asarray(resistance, dtype=float)
        return np.minimum(self.sigma * (r / READ_NOISE_REFERENCE_OHM) ** self.exponent, self.sigma_max)


def outcome_sigma(ln_r_after: np.ndarray, ln_r_before: np.ndarray, read_noise: ReadNoise,
                  sigma_program: float) -> np.ndarray:
    """sigma of ln R_after around the model's outcome: the read-to-read noise at R_after,
    and the programming spread of a pulse that moved the cell, weighted by how far it moved
    (1 - exp(-|ln R_after - ln R_before|): 0 for a pulse that changes nothing, 1 for a switch)."""
    moved = -np.expm1(-np.abs(ln_r_after - ln_r_before))
    return np.sqrt(read_noise.sigma_at(np.exp(ln_r_after)) ** 2 + (sigma_program * moved) ** 2)


# ---------------------------------------------------------------------------- the engine


def solve_cell_voltage(card: ModelCard, fet: FetTable, v_wl, v_bl, v_sl, gap, iterations: int = 48,
                       temp_c: float = 27.0) -> np.ndarray:
    """Voltage across the RRAM's switching core (positive: SET) at `gap` (m) with the
    transistor in series: KCL at the node x between them, I_core(v) = I_fet(V_WL, V_x, V_SL)
    with V_x = V_BL - v - rs I_core(v), solved by bisection on v (the mismatch rises with v).
    Without a series resistance (rs = 0) this is V(te, be)."""
    v_wl, v_bl, v_sl, gap = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (v_wl, v_bl, v_sl, gap)))
    rs = card.value("rs")
    low = np.minimum(v_bl - v_sl, 0.0)
    high = np.maximum(v_bl - v_sl, 0.0)
    for _ in range(iterations):
        v = 0.5 * (low + high)
        current = card.core_current(v, gap, temp_c=temp_c)
        mismatch = current - fet.drain_current(v_wl, v_bl - v - rs * current, v_sl)  # increasing in v
        low = np.where(mismatch < 0, v, low)
        high = np.where(mismatch < 0, high, v)
    return 0.5 * (low + high)


def gap_grid(card: ModelCard, gaps: np.ndarray, points: int = 360) -> np.ndarray:
    """Gap grid covering the data's gaps and the card's bounds, denser within a few window
    widths of each bound (where the windows shut the rate)."""
    gmin, gmax, gwin = card.value("gmin"), card.value("gmax"), card.value("gwin")
    low = min(float(np.min(gaps)), gmin) - 4 * gwin
    high = max(float(np.max(gaps)), gmax) + 4 * gwin
    uniform = np.linspace(low, high, points)
    fine = np.concatenate([bound + gwin * np.linspace(-3, 3, 49) for bound in (gmin, gmax)])
    return np.unique(np.concatenate([uniform, fine[(fine > low) & (fine < high)]]))


@dataclasses.dataclass
class _Conditions:
    """Unique (V_WL, V_BL, V_SL) of a set of pulses, with the cell voltage on the gap grid."""

    grid: np.ndarray  # gap grid (m), increasing
    voltages: np.ndarray  # (C, 3)
    v_cell: np.ndarray  # (C, G) voltage across the switching core
    index: np.ndarray  # condition of each row

    @classmethod
    def build(cls, card: ModelCard, fet: FetTable, condition: PulseCondition, gaps: np.ndarray,
              grid: np.ndarray | None = None, temp_c: float = 27.0) -> "_Conditions":
        v_wl, v_bl, v_sl, _ = condition.arrays()
        triples = np.round(np.column_stack([v_wl, v_bl, v_sl]), 9)
        voltages, index = np.unique(triples, axis=0, return_inverse=True)
        grid = gap_grid(card, gaps) if grid is None else grid
        v_cell = solve_cell_voltage(card, fet, voltages[:, :1], voltages[:, 1:2], voltages[:, 2:3], grid[None, :],
                                    temp_c=temp_c)
        return cls(grid, voltages, v_cell, index.ravel())


@dataclasses.dataclass
class _Tables:
    """Elapsed-time tables per condition for one set of dynamics parameters.

    For each condition the grid splits at the equilibrium gap (where the rate changes sign):
    rows above it move down, rows below it move up. Along the motion, ln(T + T_FLOOR) is T the
    time to move down to grid[j] from the top of its stretch (increasing as j falls), or up
    to grid[j] from the bottom of its stretch. A stretch ends where the motion stops (a field
    below its threshold: at small gaps the access transistor takes most of the voltage), so a
    row that starts above a stretch where nothing moves is not frozen by it, and a row moves
    at most to the end of its own stretch. `down_key[c, j]` / `up_key[c, j]` order every node
    along the motion: its stretch number times _STRETCH_SPAN plus that ln T (all a look-up
    needs; the bare ln T is the key minus its stretch's offset)."""

    grid: np.ndarray
    rate: np.ndarray  # (C, G) dg/dt
    eq: np.ndarray  # (C,) equilibrium gap (m)
    up_key: np.ndarray  # (C, G)
    down_key: np.ndarray  # (C, G)
    up_end: np.ndarray  # (C, G) ln time at the top of each node's upward stretch
    down_end: np.ndarray  # (C, G) ln time at the bottom of each node's downward stretch
    up_blocked: np.ndarray  # (C, G - 1) no upward motion across grid interval j
    down_blocked: np.ndarray  # (C, G - 1)

    @classmethod
    def build(cls, card: ModelCard, conditions: _Conditions, temp_c: float) -> "_Tables":
        rate = card.rate_function(temp_c, core=True)(conditions.v_cell, conditions.grid[None, :])
        grid = conditions.grid
        C, G = rate.shape
        sign = rate < 0
        steps = np.diff(grid)
        with np.errstate(divide="ignore", over="ignore"):
            inverse = 1.0 / np.maximum(np.abs(rate), 1e-300)
        segment = 0.5 * (inverse[:, 1:] + inverse[:, :-1]) * steps  # time across each grid interval
        down_blocked = ~(sign[:, 1:] & sign[:, :-1])
        up_blocked = ~(~sign[:, 1:] & ~sign[:, :-1] & (rate[:, 1:] > 0) & (rate[:, :-1] > 0))
        up, up_stretch, up_end = _stretch_times(segment, up_blocked)
        down, down_stretch, down_end = (a[:, ::-1] for a in _stretch_times(segment[:, ::-1], down_blocked[:, ::-1]))
        # equilibrium: where down-motion stops (first interval from the top that is not downward)
        last_blocked = np.where(down_blocked.any(axis=1), G - 2 - np.argmax(down_blocked[:, ::-1], axis=1), -1)
        eq = grid[np.clip(last_blocked + 1, 0, G - 1)]
        return cls(grid, rate, eq, up_stretch * _STRETCH_SPAN + up, down_stretch * _STRETCH_SPAN + down,
                   up_end, down_end, up_blocked, down_blocked)


_STRETCH_SPAN = 1000.0  # > the range of ln T (-70 .. 700): keys of successive stretches never overlap


def _stretch_times(segment: np.ndarray, blocked: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Along the grid: ln(T + T_FLOOR) with T the time since the start of the node's stretch
    (restarting after every blocked interval; a running sum, not a difference of cumulative
    sums, which would lose a fast stretch's nanoseconds behind a slow one's ages), the
    stretch number, and ln T at the stretch's last node."""
    C, S = segment.shape
    time = np.zeros((C, S + 1))
    for j in range(S):
        time[:, j + 1] = np.where(blocked[:, j], 0.0, time[:, j] + segment[:, j])
    ln_time = np.log(np.minimum(time, 1e300) + T_FLOOR)
    stretch = np.concatenate([np.zeros((C, 1)), np.cumsum(blocked, axis=1)], axis=1)
    end = ln_time.copy()
    for j in range(S - 1, -1, -1):
        end[:, j] = np.where(blocked[:, j], ln_time[:, j], end[:, j + 1])
    return ln_time, stretch, end


def _interp_rows(x: np.ndarray, xp: np.ndarray, fp: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """np.interp of x[i] in table row rows[i] (xp shared, increasing)."""
    j = np.clip(np.searchsorted(xp, x) - 1, 0, len(xp) - 2)
    w = np.clip((x - xp[j]) / (xp[j + 1] - xp[j]), 0.0, 1.0)
    return fp[rows, j] * (1 - w) + fp[rows, j + 1] * w


def _inverse_rows(target: np.ndarray, table: np.ndarray, grid: np.ndarray, rows: np.ndarray,
                  reverse: bool, span: float = _LN_T_SPAN) -> np.ndarray:
    """Gap where table row rows[i] reaches target[i]; the table increases along the grid
    (reverse=False) or against it (reverse=True). One searchsorted on all rows at once."""
    C, G = table.shape
    t = table[:, ::-1] if reverse else table
    g = grid[::-1] if reverse else grid
    t = np.maximum.accumulate(np.clip(t, -span / 2 + 1, span / 2 - 1), axis=1)
    t = t + np.arange(G) * 1e-9  # strictly increasing, so ties never stall the search
    offsets = np.arange(C)[:, None] * span
    flat = (t + offsets).ravel()
    key = np.clip(target, -span / 2 + 1, span / 2 - 1) + rows * span
    position = np.searchsorted(flat, key) - rows * G
    j = np.clip(position - 1, 0, G - 2)
    lower, upper = t[rows, j], t[rows, j + 1]
    w = np.clip((key - rows * span - lower) / np.maximum(upper - lower, 1e-300), 0.0, 1.0)
    return g[j] * (1 - w) + g[j + 1] * w


def gaps_after(tables: _Tables, rows: np.ndarray, gap_before: np.ndarray, ln_elapsed: np.ndarray,
               repeat: int = 1) -> np.ndarray:
    """Gap after a pulse of duration exp(ln_elapsed) (width times the rate scale).

    `rows`, `gap_before` per row; `ln_elapsed` per row, or `repeat` values per row (rows x
    repeat, flattened: one per quadrature node), which share the row's start."""
    grid = tables.grid
    eq = tables.eq[rows]
    going_down = gap_before > eq
    j0 = np.clip(np.searchsorted(grid, gap_before) - 1, 0, len(grid) - 2)
    key_table = (tables.down_key, tables.up_key)
    start_key = np.where(going_down, _interp_rows(gap_before, grid, tables.down_key, rows),
                         _interp_rows(gap_before, grid, tables.up_key, rows))
    stretch = np.floor((start_key + 100.0) / _STRETCH_SPAN)  # ln T >= ln T_FLOOR > -100
    start = start_key - stretch * _STRETCH_SPAN
    end = np.where(going_down, tables.down_end[rows, j0], tables.up_end[rows, j0])
    # A row inside an interval the motion cannot cross (T infinite) stays put.
    frozen = np.where(going_down, tables.down_blocked[rows, j0], tables.up_blocked[rows, j0]) | (start > 600.0)
    if repeat > 1:
        rows, gap_before, eq, going_down, start, end, stretch, frozen = (
            np.repeat(a, repeat) for a in (rows, gap_before, eq, going_down, start, end, stretch, frozen))
    # ln(T_before + elapsed) (T_FLOOR is negligible), at most the end of the row's stretch
    target = stretch * _STRETCH_SPAN + np.minimum(np.logaddexp(start, ln_elapsed), end)
    after = np.empty_like(target)
    down = going_down & ~frozen
    up = ~going_down & ~frozen
    span = 2 * _STRETCH_SPAN * (len(grid) + 2)
    after[down] = np.maximum(_inverse_rows(target[down], key_table[0], grid, rows[down], reverse=True, span=span),
                             eq[down])
    after[up] = np.minimum(_inverse_rows(target[up], key_table[1], grid, rows[up], reverse=False, span=span), eq[up])
    after[frozen] = gap_before[frozen]
    return after


# ---------------------------------------------------------------------------- the model


def _gauss_hermite(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal quadrature for the rate scale: equal-probability nodes (the normal's
    quantiles at (k + 1/2) / K, weights 1/K). The outcome is a step-like function of the rate
    scale (a cell switches or not), which Gauss-Hermite nodes resolve poorly when sigma is
    large; equal-probability nodes resolve any monotone outcome to within 1/K in probability."""
    z = special.ndtri((np.arange(nodes) + 0.5) / nodes)
    return z, np.full(nodes, -math.log(nodes))


@dataclasses.dataclass(frozen=True)
class PulseModel:
    """The fitted stochastic pulse model of one device type.

    `card` holds the current equation, the switching dynamics and the gap bounds;
    `transistor` the access device; `sigma_ln_rate` the per-pulse lognormal spread of the
    switching rate; `read_noise` the read-to-read noise; `v_read` the read voltage the
    resistances refer to. Vectorized verbs:

        model.sample_after(r_before, condition, rng)          -> R after, one draw per row
        model.predict(r_before, condition, (0.1, 0.5, 0.9))   -> quantiles of R after per row
        model.logpdf(r_after, r_before, condition)             -> log density of ln R after
        model.deterministic_after(r_before, condition)         -> R after at rate_scale 1, no read noise
    """

    card: ModelCard
    transistor: AccessTransistor
    sigma_ln_rate: tuple[float, float]  # (SET, RESET)
    read_noise: ReadNoise
    v_read: float
    temp_c: float = 27.0
    nodes: int = 48
    sigma_ln_program: tuple[float, float] = (0.0, 0.0)  # (SET, RESET)
    # Calibration (SET, RESET): a factor on the outcome's read and programming spread, chosen
    # on training rows so that 80 % of them fall inside their predicted 10-90 % interval.
    spread_scale: tuple[float, float] = (1.0, 1.0)
    # The per-pulse (cycle-to-cycle) part of sigma_ln_rate (SET, RESET), from a cycling log
    # (`fit_rate_split`); the rest, sqrt(total^2 - pulse^2), is the cell's own (device-to-device)
    # offset, drawn once per cell. None: no cycling data, all of it drawn per pulse.
    sigma_ln_rate_pulse: tuple[float, float] | None = None
    rate_split_note: str = ""

    @property
    def sigma_ln_rate_cell(self) -> tuple[float, float]:
        """The per-cell (device-to-device) part of the rate spread, (SET, RESET): sqrt(total^2 -
        pulse^2); 0 where the pulse part is the whole (or, flagged by the fit, exceeds it)."""
        if self.sigma_ln_rate_pulse is None:
            return (0.0, 0.0)
        return tuple(math.sqrt(max(t * t - p * p, 0.0)) for t, p in zip(self.sigma_ln_rate, self.sigma_ln_rate_pulse))

    @property
    def sigma_ln_rate_per_pulse(self) -> tuple[float, float]:
        return self.sigma_ln_rate if self.sigma_ln_rate_pulse is None else self.sigma_ln_rate_pulse

    @property
    def has_cell_part(self) -> bool:
        return any(c > 0 for c in self.sigma_ln_rate_cell)

    def rate_split_text(self) -> str:
        """The rate spread's split, in words (for every artefact that uses the model)."""
        total, pulse, cell = self.sigma_ln_rate, self.sigma_ln_rate_per_pulse, self.sigma_ln_rate_cell
        numbers = (f"sigma ln rate_scale SET {total[0]:.3g} = per cell {cell[0]:.3g} (+) per pulse {pulse[0]:.3g}, "
                   f"RESET {total[1]:.3g} = per cell {cell[1]:.3g} (+) per pulse {pulse[1]:.3g}")
        if self.sigma_ln_rate_pulse is None:
            return f"{numbers}: all per pulse (no cycling data)"
        return f"{numbers}: {self.rate_split_note}" if self.rate_split_note else numbers

    def draw_cell_z(self, cells: int, rng: np.random.Generator) -> np.ndarray | None:
        """Each cell's standard-normal rate offset, drawn once and kept for all its pulses;
        None for a model without a per-cell part (nothing drawn: the stream is today's)."""
        return rng.standard_normal(cells) if self.has_cell_part else None

    def draw_or_check_cell_z(self, cells: int, rng: np.random.Generator, cell_z: np.ndarray | None,
                             caller: str) -> np.ndarray | None:
        """The cells' own rate offsets: `cell_z` as given (checked: one per cell, else an
        error naming `caller`), or drawn here once (`draw_cell_z`) when not given."""
        if cell_z is None:
            return self.draw_cell_z(cells, rng)
        if np.shape(cell_z) != (cells,):
            raise CircuitkitError(f"{caller}: {np.shape(cell_z)} cell offsets for {cells} cells")
        return cell_z

    def ln_rate_scale(self, is_set: np.ndarray, z: np.ndarray, cell_z: np.ndarray | None = None) -> np.ndarray:
        """ln rate_scale of pulses (polarity `is_set`) with per-pulse draws `z` and the cells'
        own `cell_z` (`draw_cell_z`): cell part x cell_z + pulse part x z. Without `cell_z`
        the whole spread is drawn per pulse (the sweep-level law: one pulse per cell)."""
        if cell_z is None:
            return np.where(is_set, self.sigma_ln_rate[0], self.sigma_ln_rate[1]) * z
        pulse, cell = self.sigma_ln_rate_per_pulse, self.sigma_ln_rate_cell
        return (np.where(is_set, cell[0], cell[1]) * cell_z + np.where(is_set, pulse[0], pulse[1]) * z)

    def _per_row(self, pair: tuple[float, float], condition: PulseCondition) -> np.ndarray:
        _, v_bl, v_sl, _ = condition.arrays()
        return np.where(v_bl >= v_sl, pair[0], pair[1])

    # -- maps
    def gap(self, resistance) -> np.ndarray:
        return self.card.gap_for_resistance(np.asarray(resistance, dtype=float), self.v_read, self.temp_c)

    def resistance(self, gap) -> np.ndarray:
        return self.card.resistance(np.asarray(gap, dtype=float), self.v_read, self.temp_c)

    def _engine(self, r_before, condition: PulseCondition):
        fet = fet_table(self.transistor)
        gaps = self.gap(np.atleast_1d(r_before))
        conditions = _Conditions.build(self.card, fet, condition, gaps, temp_c=self.temp_c)
        tables = _Tables.build(self.card, conditions, self.temp_c)
        _, _, _, width = condition.arrays()
        gaps, width = np.broadcast_arrays(gaps, width)
        return tables, conditions.index, gaps, width

    def cell_voltage(self, r_before, condition: PulseCondition) -> np.ndarray:
        """Cell voltage at the start of the pulse (V; positive SET)."""
        v_wl, v_bl, v_sl, _ = condition.arrays()
        return solve_cell_voltage(self.card, fet_table(self.transistor), v_wl, v_bl, v_sl, self.gap(r_before),
                                  temp_c=self.temp_c)

    def deterministic_after(self, r_before, condition: PulseCondition, rate_scale=1.0) -> np.ndarray:
        tables, rows, gaps, width = self._engine(r_before, condition)
        return self.resistance(gaps_after(tables, rows, gaps, np.log(width * rate_scale)))

    def sample_after(self, r_before, condition: PulseCondition, rng: np.random.Generator,
                     read_noise: bool = True, cell_z: np.ndarray | None = None) -> np.ndarray:
        """R after one pulse per row (what a read right after it shows with `read_noise`).
        `cell_z`: each row's cell offset (`draw_cell_z`), kept by the caller across the cell's
        pulses; without it the whole rate spread is drawn per pulse."""
        tables, rows, gaps, width = self._engine(r_before, condition)
        z = rng.standard_normal(gaps.shape)
        _, v_bl, v_sl, _ = condition.arrays()
        ln_rate = self.ln_rate_scale(np.broadcast_to(v_bl >= v_sl, gaps.shape), z,
                                     None if cell_z is None else np.broadcast_to(cell_z, gaps.shape))
        r_after = self.resistance(gaps_after(tables, rows, gaps, np.log(width) + ln_rate))
        moved = -np.expm1(-np.abs(np.log(r_after) - np.log(np.broadcast_to(r_before, r_after.shape))))
        program = self._per_row(self.sigma_ln_program, condition)
        scale = self._per_row(self.spread_scale, condition)
        r_after = r_after * np.exp(scale * program * moved * rng.standard_normal(r_after.shape))
        if read_noise:
            r_after = r_after * np.exp(scale * self.read_noise.sigma_at(r_after) * rng.standard_normal(r_after.shape))
        return r_after

    def _outcomes(self, r_before, condition: PulseCondition) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ln R after at each quadrature node (rows x nodes), node log-weights, read sigmas."""
        tables, rows, gaps, width = self._engine(r_before, condition)
        z, log_w = _gauss_hermite(self.nodes)
        ln_t = np.log(width)[:, None] + self._per_row(self.sigma_ln_rate, condition)[:, None] * z[None, :]
        n = gaps.size
        g = gaps_after(tables, rows, gaps, ln_t.ravel(), repeat=len(z)).reshape(n, len(z))
        ln_r = np.log(self.resistance(g))
        ln_before = np.log(np.broadcast_to(np.atleast_1d(r_before), gaps.shape))[:, None]
        program = self._per_row(self.sigma_ln_program, condition)[:, None]
        scale = self._per_row(self.spread_scale, condition)[:, None]
        return ln_r, log_w, scale * outcome_sigma(ln_r, ln_before, self.read_noise, program)

    def logpdf(self, r_after, r_before, condition: PulseCondition) -> np.ndarray:
        """Log density of ln R_after per row (the likelihood the fit maximises)."""
        ln_r, log_w, sigma = self._outcomes(r_before, condition)
        x = np.log(np.asarray(r_after, dtype=float))[:, None]
        z = (x - ln_r) / sigma
        return special.logsumexp(log_w - 0.5 * z * z - np.log(sigma) - 0.5 * math.log(2 * math.pi), axis=1)

    def predict(self, r_before, condition: PulseCondition, quantiles: Sequence[float] = (0.1, 0.5, 0.9)
                ) -> np.ndarray:
        """Quantiles of R_after (rows x len(quantiles)) of the predictive distribution: the
        rate-scale quadrature mixed with the read-to-read noise, inverted by bisection."""
        ln_r, log_w, sigma = self._outcomes(r_before, condition)
        w = np.exp(log_w)
        out = np.empty((ln_r.shape[0], len(quantiles)))
        for k, q in enumerate(quantiles):
            low = (ln_r - 8 * sigma).min(axis=1)
            high = (ln_r + 8 * sigma).max(axis=1)
            for _ in range(50):
                middle = 0.5 * (low + high)
                cdf = special.ndtr((middle[:, None] - ln_r) / sigma) @ w
                low, high = np.where(cdf < q, middle, low), np.where(cdf < q, high, middle)
            out[:, k] = np.exp(0.5 * (low + high))
        return out

    # -- serialization (the card carries it)
    def to_dict(self) -> dict[str, Any]:
        dynamics = ("vel0", "gamma0", "beta", "alpha", "ea", "a0", "tox", "fmin_set", "fmin_reset", "rth", "gwin", "i0",
                    "g0", "v0", "g_h", "eac", "tnom", "rs")
        return {
            "model": "circuitkit 1T1R stochastic pulse model v1 (device/pulse.py)",
            "transistor": self.transistor.to_dict(),
            "v_read": self.v_read, "temp_c": self.temp_c, "quadrature_nodes": self.nodes,
            "card_values": {key: self.card.value(key) for key in dynamics + ("gmin", "gmax")},
            "spread_scale": {"set": self.spread_scale[0], "reset": self.spread_scale[1],
                             "meaning": "calibration factor on the read and programming spread, chosen on training "
                                        "rows for 80 % coverage of the 10-90 % interval"},
            "random_parameters": {
                "rate_scale": self._rate_scale_dict(),
                "program_spread": {"distribution": "lognormal factor on R after a pulse, sigma_ln times "
                                   "(1 - exp(-|ln R_after - ln R_before|))",
                                   "sigma_ln": {"set": self.sigma_ln_program[0], "reset": self.sigma_ln_program[1]},
                                   "drawn": "per pulse", "scope": "Python-only: where a switching pulse lands "
                                   "scatters; the .va's c2c_sigma covers this only for pulses that end at a bound"},
                "read_noise": {"distribution": "lognormal factor on each read", "sigma_ln_at_10kohm":
                               self.read_noise.sigma, "exponent": self.read_noise.exponent,
                               "sigma_ln_max": self.read_noise.sigma_max,
                               "formula": "min(sigma_ln_at_10kohm * (R / 10 kohm) ** exponent, sigma_ln_max)",
                               "scope": "measurement: add to every (verify) read"},
            },
        }

    def _rate_scale_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "distribution": "lognormal", "median": 1.0,
            "sigma_ln": {"set": self.sigma_ln_rate[0], "reset": self.sigma_ln_rate[1]},
            "drawn": "per pulse (cycle-to-cycle and device-to-device together: one pulse per cell in the fitted "
                     "data cannot tell them apart; no cycling data)",
            "scope": "rram_hfox.va instance parameter rate_scale: in ngspice draw it per pulse as "
                     "rate_scale={exp(agauss(0, sigma_ln, 1))} (redrawn by `reset`), with the sigma of the pulse's "
                     "polarity"}
        if self.sigma_ln_rate_pulse is None:
            return out
        pulse, cell = self.sigma_ln_rate_pulse, self.sigma_ln_rate_cell
        return out | {
            "sigma_ln_pulse": {"set": pulse[0], "reset": pulse[1]},
            "sigma_ln_cell": {"set": cell[0], "reset": cell[1]},
            "drawn": "sigma_ln is the total the one-pulse-per-cell sweeps identify; sigma_ln_pulse is drawn per "
                     "pulse (cycle-to-cycle), sigma_ln_cell = sqrt(sigma_ln^2 - sigma_ln_pulse^2) once per cell and "
                     "kept for all its pulses (device-to-device): ln rate_scale = sigma_ln_cell z_cell + "
                     "sigma_ln_pulse z_pulse",
            "split_source": self.rate_split_note,
            "scope": "rram_hfox.va instance parameter rate_scale: in ngspice give each cell "
                     "exp(sigma_ln_cell z_cell), drawn once, times exp(sigma_ln_pulse z) redrawn per pulse"}

    @classmethod
    def from_card(cls, card: ModelCard) -> "PulseModel":
        """The pulse model a fitted card carries (`ModelCard.pulse_model`)."""
        data = card.pulse_model
        if not data:
            raise PulseModelError("the model card carries no pulse model (fit one: circuitkit fit SET.tsv RESET.tsv "
                                  "--kind pulse with word-, bit- and source-line voltages)")
        try:
            random = data["random_parameters"]
            noise = random["read_noise"]
            rate = random["rate_scale"]["sigma_ln"]
            split = random["rate_scale"].get("sigma_ln_pulse")
            program = random.get("program_spread", {}).get("sigma_ln", {"set": 0.0, "reset": 0.0})
            return cls(card, AccessTransistor.from_dict(data["transistor"]),
                       (float(rate["set"]), float(rate["reset"])),
                       ReadNoise(float(noise["sigma_ln_at_10kohm"]), float(noise["exponent"]),
                                 float(noise["sigma_ln_max"])), float(data["v_read"]), float(data["temp_c"]),
                       int(data.get("quadrature_nodes", 32)), (float(program["set"]), float(program["reset"])),
                       (float(data.get("spread_scale", {}).get("set", 1.0)),
                        float(data.get("spread_scale", {}).get("reset", 1.0))),
                       None if split is None else (float(split["set"]), float(split["reset"])),
                       str(random["rate_scale"].get("split_source", "")))
        except (KeyError, TypeError, ValueError) as error:
            raise PulseModelError(f"malformed pulse model on the card: {error}") from None


# ---------------------------------------------------------------------------- fitting


@dataclasses.dataclass(frozen=True)
class _Free:
    """A fitted quantity in a well-scaled fit space."""

    name: str  # report name
    key: str  # card key, or a stochastic parameter
    transform: str  # '' | 'log10' | 'nm' (fitted in nm) | 'GV/m' (fitted in 1e9 V/m)
    lower: float
    upper: float
    unit: str = ""

    def value(self, x: float) -> float:
        if self.transform == "log10":
            return 10.0 ** x
        return x * _SCALES.get(self.transform, 1.0)

    def fit(self, value: float) -> float:
        if self.transform == "log10":
            return math.log10(max(value, 1e-300))
        return value / _SCALES.get(self.transform, 1.0)

    def stderr(self, value: float, se: float | None) -> float | None:
        """A fit-space standard error in the value's own units."""
        if se is None:
            return None
        return value * math.log(10) * se if self.transform == "log10" else se * _SCALES.get(self.transform, 1.0)

    @property
    def fit_name(self) -> str:
        return {"log10": f"log10_{self.key}", "nm": f"{self.key}_nm", "GV/m": f"{self.key}_GV_per_m"}.get(
            self.transform, self.key)


_SCALES = {"nm": _NM, "GV/m": 1e9}


FREE = (
    _Free("vel0", "vel0", "log10", -12.0, 14.0, "m/s"),
    # field enhancement: published HfOx values are 16-18; above ~25 the motion at a pulse's
    # full amplitude (before the access transistor's node has charged) becomes instantaneous,
    # which the quasi-static cell voltage of this model cannot represent
    _Free("gamma0", "gamma0", "", 1.0, 25.0),
    _Free("beta", "beta", "", 0.0, 120.0),
    # field thresholds of SET and RESET (the SET/RESET asymmetry the bundled array shows)
    _Free("fmin_set", "fmin_set", "GV/m", 0.0, 20.0, "V/m"),
    _Free("fmin_reset", "fmin_reset", "GV/m", 0.0, 20.0, "V/m"),
    _Free("gmin", "gmin", "nm", 0.0, 1.0, "m"),
    _Free("gmax", "gmax_span", "nm", 0.3, 4.0, "m"),  # gmax = gmin + span: the bounds never cross
    _Free("sigma_ln_rate_set", "sigma_ln_rate_set", "", 0.05, 25.0),
    _Free("sigma_ln_rate_reset", "sigma_ln_rate_reset", "", 0.05, 25.0),
    _Free("sigma_ln_program_set", "sigma_ln_program_set", "", 0.0, 1.5),
    _Free("sigma_ln_program_reset", "sigma_ln_program_reset", "", 0.0, 1.5),
    # Read-to-read noise, bounded to what cells that cannot switch show (a few % in LRS, up to
    # ~0.4 in ln R for R > 100 kohm in the bundled sweeps): a wider noise would let the fit
    # explain switching away as noise.
    _Free("read_sigma", "read_sigma", "", 0.003, 0.3),
    _Free("read_exponent", "read_exponent", "", 0.0, 1.5),
    _Free("read_sigma_max", "read_sigma_max", "", 0.02, 0.6),
)
_SPAN = next(free for free in FREE if free.key == "gmax_span")
CARD_KEYS = ("vel0", "gamma0", "beta", "fmin_set", "fmin_reset", "gmin", "gmax")
FIT_NODES = 16


def card_for(start: ModelCard, values: Mapping[str, float]) -> ModelCard:
    """`start` with fitted dynamics and bounds (gmax from gmin + span)."""
    card_values = {k: values[k] for k in CARD_KEYS if k in values and k != "gmax"}
    if "gmax_span" in values:
        card_values["gmax"] = values.get("gmin", start.value("gmin")) + values["gmax_span"]
    return start.with_values(card_values)


class _Likelihood:
    """Per-row log-likelihood of a pulse table for the free parameters, with everything that
    does not depend on them (gaps before, cell voltage on the gap grid) computed once."""

    def __init__(self, start: ModelCard, fet: FetTable, table: PulseTable, v_read: float, temp_c: float,
                 nodes: int = FIT_NODES, grid_points: int = 800):
        self.start, self.v_read, self.temp_c = start, v_read, temp_c
        self.gaps = start.gap_for_resistance(table.r_before, v_read, temp_c)
        low = min(float(self.gaps.min()), 0.0)
        high = max(float(self.gaps.max()), _SPAN.upper * _NM) + 0.1e-9
        self.conditions = _Conditions.build(start, fet, PulseCondition.from_table(table), self.gaps,
                                            grid=np.linspace(low, high, grid_points), temp_c=temp_c)
        self.x = np.log(table.r_after)
        self.ln_before = np.log(table.r_before)
        self.is_set = table.bl_voltage >= table.sl_voltage
        self.ln_width = np.log(table.width)
        self.z, self.log_w = _gauss_hermite(nodes)

    def card(self, values: Mapping[str, float]) -> ModelCard:
        return card_for(self.start, values)

    def per_row(self, values: Mapping[str, float]) -> np.ndarray:
        card = self.card(values)
        tables = _Tables.build(card, self.conditions, self.temp_c)
        rate_sigma = np.where(self.is_set, values["sigma_ln_rate_set"], values["sigma_ln_rate_reset"])
        ln_t = (self.ln_width[:, None] + rate_sigma[:, None] * self.z[None, :]).ravel()
        g = gaps_after(tables, self.conditions.index, self.gaps, ln_t, repeat=len(self.z)).reshape(len(self.x),
                                                                                                  len(self.z))
        ln_r = np.log(card.resistance(g, self.v_read, self.temp_c))
        noise = ReadNoise(values["read_sigma"], values["read_exponent"], values["read_sigma_max"])
        program = np.where(self.is_set, values["sigma_ln_program_set"], values["sigma_ln_program_reset"])[:, None]
        sigma = outcome_sigma(ln_r, self.ln_before[:, None], noise, program)
        u = (self.x[:, None] - ln_r) / sigma
        return special.logsumexp(self.log_w - 0.5 * u * u - np.log(sigma) - 0.5 * math.log(2 * math.pi), axis=1)


def _start_values(start: ModelCard, table: PulseTable, v_read: float) -> dict[str, float]:
    """Gap bounds from the data: gmin below the lowest R_after, gmax above the HRS R_before."""
    gap = lambda r: float(start.gap_for_resistance(r, v_read))  # noqa: E731
    gmin = max(gap(float(np.quantile(np.minimum(table.r_after, table.r_before), 0.001))) - 0.02e-9, 0.0)
    gmax = max(gap(float(np.quantile(np.maximum(table.r_after, table.r_before), 0.99))), gmin + 0.4e-9)
    return {"vel0": start.value("vel0"), "gamma0": start.value("gamma0"), "beta": start.value("beta"),
            "fmin_set": start.value("fmin_set"), "fmin_reset": start.value("fmin_reset"), "gmin": gmin, "gmax_span": gmax - gmin, "sigma_ln_rate_set": 2.0, "sigma_ln_rate_reset": 2.0,
            "sigma_ln_program_set": 0.3, "sigma_ln_program_reset": 0.3, "read_sigma": 0.03, "read_exponent": 1.0,
            "read_sigma_max": 0.4}


_GMIN_ABOVE_DATA = 0.06e-9  # m: how far the fitted gmin may sit above the start value read off the data


def _clip(free: _Free, value: float) -> float:
    x = free.fit(value)
    span = free.upper - free.lower
    return min(max(x, free.lower + 1e-6 * span), free.upper - 1e-6 * span)


def held_out_cells(table: PulseTable, fraction: float, seed: int) -> np.ndarray:
    """Rows whose cell (address; row index without one) is held out of the fit."""
    if not 0 < fraction < 1:
        raise PulseModelError(f"the held-out fraction must lie in (0, 1), got {fraction!r}")
    cells = table.address if table.address is not None else np.arange(len(table)).astype(str)
    unique = np.unique(cells)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(unique, size=max(1, int(round(fraction * unique.size))), replace=False)
    return np.isin(cells, chosen)


def transistors_from_options(options: Any) -> list[AccessTransistor]:
    """The access transistor(s) `circuitkit fit` options ask for: one (default W = 1 um,
    L = 0.5 um, see `device.access`), or several widths (--fet-width 1,3,10) for the fit to
    compare."""
    widths = getattr(options, "fet_width_um", None) or (None,)
    widths = widths if isinstance(widths, (tuple, list)) else (widths,)
    candidates = []
    for width in widths:
        fields = {"corner": getattr(options, "fet_corner", "tt"), "temp_c": getattr(options, "temp_c", 27.0)}
        if width:
            fields["w_um"] = float(width)
        if getattr(options, "fet_length_um", None):
            fields["l_um"] = options.fet_length_um
        candidates.append(AccessTransistor(**fields))
    return candidates


def stratified_rows(table: PulseTable, per_condition: int, seed: int) -> np.ndarray:
    """Up to `per_condition` rows of every pulse condition (a seeded draw): a subsample that
    keeps the whole grid of conditions."""
    keys = _condition_keys(table)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(table))
    rank = np.empty(len(table), int)
    seen: dict[int, int] = {}
    for row in order:
        rank[row] = seen.get(keys[row], 0)
        seen[keys[row]] = rank[row] + 1
    return np.sort(np.flatnonzero(rank < per_condition))


def _median_score(likelihood: _Likelihood, values: Mapping[str, float], keys: np.ndarray,
                  data_median: np.ndarray) -> float:
    """rms over conditions of (median deterministic ln R_after - median measured ln R_after)."""
    card = likelihood.card(values)
    tables = _Tables.build(card, likelihood.conditions, likelihood.temp_c)
    gaps = gaps_after(tables, likelihood.conditions.index, likelihood.gaps, likelihood.ln_width)
    ln_r = np.log(card.resistance(gaps, likelihood.v_read, likelihood.temp_c))
    order = np.argsort(keys, kind="stable")
    bounds = np.flatnonzero(np.diff(keys[order])) + 1
    medians = np.array([np.median(part) for part in np.split(ln_r[order], bounds)])
    return float(np.sqrt(np.mean((medians - data_median) ** 2)))


RESET_KEYS = ("fmin_reset", "sigma_ln_rate_reset", "sigma_ln_program_reset")  # enter only the RESET rows' likelihood


def reset_field_reach(likelihood: _Likelihood, values: Mapping[str, float]) -> float | None:
    """The largest local field (V/m) any RESET pulse of the likelihood's table puts on the
    cell, at any gap from the most conductive RESET cell up to gmax (the motion's range):
    a RESET threshold above it means no RESET pulse ever moves a cell. None without RESET
    rows."""
    card = likelihood.card(values)
    voltages, grid = likelihood.conditions.voltages, likelihood.conditions.grid
    reset = voltages[:, 1] < voltages[:, 2]
    if not reset.any():
        return None
    reach = (grid >= float(np.min(likelihood.gaps[~likelihood.is_set], initial=grid[-1]))) & (grid <= card.value("gmax"))
    field = -card.local_field(likelihood.conditions.v_cell[reset], grid[None, :], temp_c=likelihood.temp_c, core=True)
    return float(np.max(field[:, reach], initial=0.0))


def refine_reset(start: ModelCard, fet: FetTable, subsample: PulseTable, values: Mapping[str, float], v_read: float,
                 temp_c: float, log: Log) -> tuple[dict[str, float], dict[str, Any]]:
    """The RESET-only parameters (`RESET_KEYS`) by maximum likelihood on the subsample's
    RESET rows, the shared dynamics held: a scan of thresholds within the RESET pulses'
    reach and rate spreads, then L-BFGS-B with the threshold bounded by the reach.

    Why: a RESET threshold beyond every pulse's field makes the likelihood flat in it and in
    the RESET rate spread (no cell moves, whatever their values), so the joint optimiser,
    once there, never comes back; on the bundled array it stopped at 6.1 GV/m against a
    reach of ~2 GV/m, predicting no RESET while ~0.7 % of RESET pulses switch a cell. The
    result replaces `values` only where it is more likely; the step is exact coordinate
    ascent, as the SET rows' likelihood does not depend on these parameters."""
    from scipy.optimize import minimize

    reset_rows = subsample.bl_voltage < subsample.sl_voltage
    record: dict[str, Any] = {"rows": int(reset_rows.sum())}
    if not reset_rows.any():
        return dict(values), record | {"result": "no RESET rows"}
    table = subsample.rows(reset_rows)
    likelihood = _Likelihood(start, fet, table, v_read, temp_c)
    rough = _Likelihood(start, fet, table, v_read, temp_c, nodes=8, grid_points=500)  # for the scan
    reach = reset_field_reach(likelihood, values)
    record["field_reach_V_per_m"] = reach
    frees = [next(f for f in FREE if f.key == key) for key in RESET_KEYS]

    def mean_ll(point: Mapping[str, float], of: _Likelihood = likelihood) -> float:
        value = float(np.mean(of.per_row(point)))
        return value if math.isfinite(value) else -1e6

    before = mean_ll(values)
    candidates = [dict(values)]
    if reach and reach > 0:
        candidates += [dict(values) | {"fmin_reset": fraction * reach, "sigma_ln_rate_reset": sigma}
                       for fraction in (0.5, 0.6, 0.7, 0.8, 0.9) for sigma in (1.0, 3.0, 8.0, 16.0)]
    # ranked on the rough likelihood, the best few decided on the full one (the rough
    # quadrature resolves switching probabilities only to 1/8)
    ranked = sorted(candidates[1:], key=lambda point: mean_ll(point, rough), reverse=True)
    # the start point's value is `before` (evaluated once); ties keep the start point
    best = max([(before, candidates[0])] + [(mean_ll(point), point) for point in ranked[:5]],
               key=lambda scored: scored[0])[1]
    lower = np.array([f.lower for f in frees])
    upper = np.array([f.upper for f in frees])
    if reach and reach > 0:  # the threshold stays where a RESET pulse can reach it
        upper[0] = min(upper[0], frees[0].fit(reach))
    x0 = np.clip([f.fit(best[f.key]) for f in frees], lower, upper)
    scale = np.where(upper > lower, upper - lower, 1.0)

    def point_of(u: np.ndarray) -> dict[str, float]:
        return dict(best) | {f.key: f.value(lower[k] + scale[k] * u[k]) for k, f in enumerate(frees)}

    result = minimize(lambda u: -mean_ll(point_of(u)), (x0 - lower) / scale, method="L-BFGS-B",
                      bounds=[(0.0, 1.0)] * len(frees), options={"maxfun": 200, "eps": 1e-5, "ftol": 1e-10})
    refined = point_of(result.x)
    after = mean_ll(refined)
    if after <= before:
        refined, after = dict(values), before
    record |= {"mean_log_likelihood_before": before, "mean_log_likelihood_after": after,
               "fmin_reset_before_V_per_m": values["fmin_reset"], "fmin_reset_after_V_per_m": refined["fmin_reset"],
               "evaluations": int(result.nfev) + len(candidates) + 6, "result": "refined" if after > before else "kept"}
    log(f"pulse model: RESET refinement on {record['rows']} RESET rows: threshold "
        f"{values['fmin_reset'] / 1e9:.3g} -> {refined['fmin_reset'] / 1e9:.3g} GV/m (the RESET pulses reach "
        f"{(reach or 0) / 1e9:.3g} GV/m), mean log-likelihood {before:.4f} -> {after:.4f}")
    return refined, record


def fit_pulse_model(table: PulseTable, start: ModelCard | None = None, *, v_read: float, temp_c: float = 27.0,
                    holdout: float = 0.2, seed: int = 1,
                    transistors: Sequence[AccessTransistor] | None = None, log: Log | None = None,
                    fit_rows_per_condition: int = 4, max_iterations: int = 120, max_evaluations: int = 2500,
                    cycling: Path | str | None = None, read_series: Path | str | None = None):
    """Maximum-likelihood fit of the stochastic pulse model on the cells not held out, then
    judged on the held-out cells. Returns a `device.fit.FitOutcome` (kind 'pulse').

    Stages: (1) for each candidate access transistor (default: the one of `device.access`)
    a coarse scan of the switching dynamics against the per-condition medians of a
    stratified subsample; the candidate whose best scan point follows them best is kept;
    (2) L-BFGS-B on the log-likelihood of a stratified subsample (`fit_rows_per_condition`
    rows of every condition); (2b) the RESET-only parameters refined on the subsample's
    RESET rows with the threshold within the RESET pulses' reach (`refine_reset`); (3) the
    log-likelihood and standard errors on every training row; (4) the judgement on the
    held-out cells. With `cycling` (one cell's SET/RESET cycling log,
    `measurements.cycling.read_cycling`), (5) the rate spread's per-pulse part from it
    (`fit_rate_split`; its reads' noise from `read_series`, a single cell read many times,
    else the card's read term), the rest per cell; without it all of it stays per pulse."""
    from circuitkit.device.fit import FitOutcome, parameter_flags

    began = _time.perf_counter()
    log = log or (lambda message: None)
    start = start or ModelCard.default()
    test = held_out_cells(table, holdout, seed)
    train = table.rows(~test)
    log(f"pulse model: fitting on {len(train)} rows, {int(test.sum())} rows of held-out cells kept for judging it")
    subsample = train.rows(stratified_rows(train, fit_rows_per_condition, seed))
    keys = _condition_keys(subsample)
    x = np.log(subsample.r_after)
    order = np.argsort(keys, kind="stable")
    data_median = np.array([np.median(part) for part in
                            np.split(x[order], np.flatnonzero(np.diff(keys[order])) + 1)])
    initial = _start_values(start, train, v_read)
    candidates = list(transistors or [AccessTransistor(temp_c=temp_c)])
    # (fmin_reset starts where RESET still moves: a threshold above every reachable field
    # leaves the likelihood flat in it, and L-BFGS-B stuck there)
    scan = {"log10_vel0": np.arange(-6.0, 13.0, 3.0), "gamma0": (12.0, 16.0, 20.0, 24.0),
            "beta": (0.0, 5.0), "gmin": (initial["gmin"], initial["gmin"] + 0.5 * _GMIN_ABOVE_DATA),
            "fmin_reset": (0.7 * initial["fmin_reset"], initial["fmin_reset"])}
    width_scores: dict[str, float] = {}
    best_overall = None
    for candidate in candidates:
        fet = fet_table(candidate)
        quick = _Likelihood(start, fet, subsample, v_read, temp_c, nodes=1, grid_points=500)
        scored = []
        for lv in scan["log10_vel0"]:
            for gamma0 in scan["gamma0"]:
                for beta in scan["beta"]:
                    for gmin in scan["gmin"]:
                        for fmin_reset in scan["fmin_reset"]:
                            trial = initial | {"vel0": 10.0 ** lv, "gamma0": gamma0, "beta": beta, "gmin": gmin,
                                               "fmin_reset": fmin_reset}
                            scored.append((_median_score(quick, trial, keys, data_median), trial))
        scored.sort(key=lambda item: item[0])
        width_scores[candidate.describe()] = scored[0][0]
        log(f"pulse model: {candidate.describe()}: per-condition medians followed to rms ln R {scored[0][0]:.3f} "
            "(coarse scan)")
        # the likelihood decides among the best few scan points and the spread of the rate scale
        rough = _Likelihood(start, fet, subsample, v_read, temp_c, nodes=8, grid_points=500)
        for _, trial in scored[:12]:
            for sigma in (1.0, 3.0, 8.0):
                point = trial | {"sigma_ln_rate_set": sigma, "sigma_ln_rate_reset": sigma}
                value = float(np.mean(rough.per_row(point)))
                if best_overall is None or value > best_overall[2]:
                    best_overall = (candidate, point, value)
    transistor, best, _ = best_overall
    fet = fet_table(transistor)
    log(f"pulse model: access transistor {transistor.describe()}")

    likelihood = _Likelihood(start, fet, subsample, v_read, temp_c)
    evaluations = [0]
    free_x0 = np.array([_clip(free, best[free.key]) for free in FREE])
    lower = np.array([free.lower for free in FREE])
    upper = np.array([free.upper for free in FREE])
    # gmin (the SET saturation) no higher than just above the most conductive cells seen: a
    # bound above the programmed LRS cells would put them outside [gmin, gmax]
    k_gmin = next(k for k, free in enumerate(FREE) if free.key == "gmin")
    upper[k_gmin] = min(upper[k_gmin], FREE[k_gmin].fit(initial["gmin"] + _GMIN_ABOVE_DATA))
    free_x0 = np.minimum(free_x0, upper)
    scale = upper - lower

    def values_of(u: np.ndarray) -> dict[str, float]:
        return {free.key: free.value(lower[k] + scale[k] * u[k]) for k, free in enumerate(FREE)}

    def objective(u: np.ndarray) -> float:
        evaluations[0] += 1
        value = float(np.mean(likelihood.per_row(values_of(u))))
        return -value if math.isfinite(value) else 1e6

    from scipy.optimize import minimize

    result = minimize(objective, (free_x0 - lower) / scale, method="L-BFGS-B", bounds=[(0.0, 1.0)] * len(FREE),
                      options={"maxiter": max_iterations, "maxfun": max_evaluations, "eps": 1e-5, "ftol": 1e-10,
                               "gtol": 1e-7})
    values = values_of(result.x)
    log(f"pulse model: maximum likelihood on the subsample ({len(subsample)} rows) after {evaluations[0]} "
        f"evaluations: mean log-likelihood {-result.fun:.4f} per row ({result.message})")
    values, reset_refinement = refine_reset(start, fet, subsample, values, v_read, temp_c, log)
    full = _Likelihood(start, fet, train, v_read, temp_c)
    stderr = _standard_errors(full, values)
    train_ll = float(np.mean(full.per_row(values)))
    card = full.card(values).with_values(variability=dict(start.variability) | {"v_read": v_read})
    model = PulseModel(card, transistor, (values["sigma_ln_rate_set"], values["sigma_ln_rate_reset"]),
                       ReadNoise(values["read_sigma"], values["read_exponent"], values["read_sigma_max"]), v_read,
                       temp_c, sigma_ln_program=(values["sigma_ln_program_set"], values["sigma_ln_program_reset"]))
    scale = calibrate_spread(model, subsample)
    log(f"pulse model: spread calibrated on the {len(subsample)} fitting rows: x{scale[0]:.3g} (SET), "
        f"x{scale[1]:.3g} (RESET)")
    model = dataclasses.replace(model, spread_scale=scale)
    split_record, split_flags = None, []
    if cycling is not None:
        model, split_record, split_flags = _split_from_files(model, cycling, read_series, v_read, log)
    card = card.with_values(pulse_model=model.to_dict() | {"width_scan": width_scores})
    model = dataclasses.replace(model, card=card)
    rows = _parameter_rows(values, stderr, initial, card, result)
    flags = parameter_flags(rows, None)
    if not result.success:
        flags.append({"what": "optimizer", "problem": "not_converged",
                      "message": f"the likelihood optimiser did not converge ({result.message}): the card is the best "
                      "point it reached"})
    if len(candidates) > 1 and transistor.w_um == max(c.w_um for c in candidates):
        flags.append({"what": "transistor", "problem": "widest_transistor",
                      "message": f"the widest access transistor offered ({transistor.w_um:g} um) follows the data best: "
                      "the final LRS depends on the word-line voltage (the compliance) more weakly than the model "
                      "with a narrower device predicts; the transistor then acts mostly as a switch with a threshold"})
    log("pulse model: judging it on the held-out cells")
    judged = evaluate(model, table.rows(test), train)
    flags += judgement_flags(judged) + split_flags
    metrics = {"held_out": {k: v for k, v in judged.items() if k != "curves"},  # per-row quantiles: plot only
               "train_rows": len(train), "held_out_rows": int(test.sum()),
               "fit_rows": len(subsample), "mean_log_likelihood_train": train_ll, "reset_refinement": reset_refinement,
               "transistor_width_scan_rms_ln_r": width_scores,
               "rms_ln_r_after": judged["model"]["rms_ln_r_after_vs_rows"],
               "rate_split": split_record or {"result": "all per pulse (no cycling data)"}}
    settings = {
        "model": "stochastic 1T1R pulse model (device/pulse.py): gap ODE of rram_hfox.va with the cell voltage "
                 "solved against the access transistor; lognormal per-pulse rate scale; R-dependent read noise",
        "likelihood": f"ln R_after: quadrature over the rate scale ({FIT_NODES} equal-probability nodes in the "
                      "fit, 48 in predictions), Gaussian read and programming noise",
        "optimizer": f"coarse scan of the dynamics per transistor width against per-condition medians, then "
                     f"L-BFGS-B (scipy) on the mean log-likelihood of {fit_rows_per_condition} rows per condition",
        "standard_errors": "outer product of per-row score vectors (BHHH) on every training row, central "
                           "differences in fit space",
        "calibration": "per polarity, a factor on the read and programming spread chosen on the fitting rows so "
                       "that 80 % of them fall inside their 10-90 % interval (the held-out cells judge it)",
        "transistor": transistor.to_dict(), "v_read": v_read, "temp_c": temp_c,
        "holdout": {"fraction": holdout, "seed": seed, "by": "cell address"},
        "fitted": [free.key for free in FREE],
        "fixed": [k for k in parameter_specs(card.module) if k not in CARD_KEYS],
        "pulse_shape": "rectangular plateau of the given width; word line held for the whole pulse",
        "rate_split": ("per-pulse part of the rate spread by maximum likelihood on the cycling log " + str(cycling)
                       + f" ({SPLIT_ASSUMPTION})" if cycling is not None else "all per pulse (no cycling data)"),
    }
    summary_lines = judgement_lines(judged) + [f"rate spread: {model.rate_split_text()}"]
    for line in summary_lines:
        log(line)
    return FitOutcome(
        kind="pulse", card=card, parameters=rows, metrics=metrics, settings=settings | {"summary": summary_lines},
        curves={"pulse_model": model, "test": test, "judged": judged},
        nfev=evaluations[0], success=bool(result.success), message=str(result.message),
        runtime_s=_time.perf_counter() - began, flags=flags,
    )


def _split_from_files(model: PulseModel, cycling: Path | str, read_series: Path | str | None, v_read: float,
                      log: Log) -> tuple[PulseModel, dict[str, Any], list[dict[str, str]]]:
    """`fit_rate_split` on the cycling log at `cycling`, its reads' noise from `read_series`."""
    from circuitkit.measurements.cycling import read_cycling

    record = read_cycling(cycling, read_voltage=v_read)
    log(f"pulse model: cycling log {cycling}: {len(record)} pulses of cell(s) "
        f"{', '.join(map(str, record.cells))} ({record.dropped})")
    noise, text = None, ""
    if read_series is not None:
        noise_model, text = scaled_read_noise(model, read_series_noise(read_series))
        noise = noise_model.read_noise
        text = f"{read_series}: {text}"
    return fit_rate_split(model, record, read_noise=noise, read_noise_text=text, log=log)


def calibrate_spread(model: PulseModel, table: PulseTable, target: float = 0.8) -> tuple[float, float]:
    """Per polarity, the factor on the outcome spread that puts `target` of `table`'s rows
    inside their predicted 10-90 % interval (probability integral transform of each row,
    no quantile inversion; a grid of factors, the closest wins, ties to 1)."""
    condition = PulseCondition.from_table(table)
    ln_r, log_w, sigma = model._outcomes(table.r_before, condition)
    x = np.log(table.r_after)[:, None]
    w = np.exp(log_w)
    is_set = table.bl_voltage >= table.sl_voltage
    factors = np.geomspace(0.25, 4.0, 49)
    scales = []
    for pick in (is_set, ~is_set):
        if not pick.any():
            scales.append(1.0)
            continue
        coverage = []
        for factor in factors:
            u = special.ndtr((x[pick] - ln_r[pick]) / (factor * sigma[pick])) @ w
            coverage.append(np.mean((u >= 0.1) & (u <= 0.9)))
        error = np.abs(np.array(coverage) - target) + 1e-6 * np.abs(np.log(factors))
        scales.append(float(factors[int(np.argmin(error))]))
    return scales[0], scales[1]


def _standard_errors(likelihood: _Likelihood, values: Mapping[str, float]) -> dict[str, float | None]:
    """Standard errors in fit space from the per-row scores (BHHH): cov = (J^T J)^-1."""
    x0 = {free.key: free.fit(values[free.key]) for free in FREE}
    columns = []
    for free in FREE:
        step = 1e-4 * (free.upper - free.lower)
        shifted = []
        for sign in (+1, -1):
            x = min(max(x0[free.key] + sign * step, free.lower), free.upper)
            trial = dict(values) | {free.key: free.value(x)}
            shifted.append((x, likelihood.per_row(trial)))
        (x_plus, plus), (x_minus, minus) = shifted
        columns.append((plus - minus) / (x_plus - x_minus) if x_plus != x_minus else np.zeros_like(plus))
    jacobian = np.column_stack(columns)
    information = jacobian.T @ jacobian
    try:
        covariance = np.linalg.inv(information)
    except np.linalg.LinAlgError:
        return {free.key: None for free in FREE}
    diagonal = np.diag(covariance)
    return {free.key: (float(math.sqrt(d)) if d > 0 and math.isfinite(d) else None)
            for free, d in zip(FREE, diagonal)}


def _parameter_rows(values, stderr, initial, card: ModelCard, result) -> dict[str, dict[str, Any]]:
    specs = parameter_specs(card.module)
    rows: dict[str, dict[str, Any]] = {"gmax": {"value": card.value("gmax"), "stderr": None, "unit": "m",
                                                "vary": False, "note": "gmin + gmax_span"}}
    for free in FREE:
        x = free.fit(values[free.key])
        se = stderr.get(free.key)
        value_se = free.stderr(values[free.key], se)
        unit = specs[free.key].unit if free.key in specs else free.unit
        rows[free.key] = {"value": values[free.key], "stderr": value_se, "unit": unit if free.key in specs else
                          free.unit, "vary": True,
                          "initial": initial[free.key],
                          "scope": "rram_hfox.va" if free.key in CARD_KEYS + ("gmax_span",) else "pulse model (Python side)",
                          "fit_space": {"name": free.fit_name, "value": x, "stderr": se, "lower": free.lower,
                                        "upper": free.upper}}
    for key, spec in specs.items():
        if key not in rows and key in card.parameters | dict(card.instance_defaults):
            rows[key] = {"value": card.value(key), "stderr": None, "unit": spec.unit, "vary": False}
    return rows


# ---------------------------------------------------------------------------- the rate split (cycling log)

SPLIT_ASSUMPTION = ("one cell's cycle-to-cycle spread, measured at the cycling log's conditions, taken for every cell "
                    "and every condition")
_MU_BOUNDS = (-40.0, 40.0)  # ln rate_scale offset of the cycled cell
_PULSE_BOUNDS = (0.0, 25.0)  # the sweeps' own bound on sigma_ln_rate
_PROGRAM_BOUNDS = (0.0, 1.5)
_CHI2_95 = 3.841458820694124  # chi-square, 1 degree of freedom, 95 %


def read_series_noise(path: Path | str) -> dict[str, Any]:
    """Read-to-read noise of one cell read many times (columns address, unix time (s), R
    (ohm), ... comma-separated, as the bundled `ret1.csv.gz`): sigma of ln R between
    consecutive reads / sqrt 2 (robust), at the cell's median resistance."""
    import gzip

    from circuitkit.device.relaxation import read_noise_and_relaxation

    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as handle:
            series = np.loadtxt(handle, delimiter=",", usecols=(1, 2), ndmin=2)
    except (OSError, ValueError) as error:
        raise PulseModelError(f"{path}: expected rows of address, unix time (s), R (ohm), ...: {error}") from None
    return {**read_noise_and_relaxation(series[:, 0], series[:, 1]), "source": str(path)}


def scaled_read_noise(model: PulseModel, measured: Mapping[str, Any],
                      source: str = "one cell") -> tuple[PulseModel, str]:
    """`model` with its read noise scaled so that sigma at the measured series' resistance is
    the series' (`read_series_noise`, measured on `source`), and what that assumed: the growth
    with R (the card's exponent) and the ceiling stay the card's, an extrapolation above the
    series' R."""
    card = model.read_noise
    at = float(card.sigma_at(measured["median_ohm"]))
    if at <= 0:
        return model, "read-to-read noise off (the pulse card's is zero)"
    factor = measured["read_noise_sigma_ln"] / at
    noise = ReadNoise(card.sigma * factor, card.exponent, card.sigma_max)
    text = (f"read-to-read noise measured on {source} ({measured['reads']} reads over "
            f"{measured['span_s']:.0f} s: sigma {measured['read_noise_sigma_ln']:.4f} in ln R at "
            f"{measured['median_ohm'] / 1e3:.2f} kohm; the pulse card's read term, {at:.3f} there, also holds what "
            f"its sweeps cannot attribute to a pulse); its growth with R (exponent {card.exponent:.2f}) and its "
            f"ceiling ({card.sigma_max:.2f}) are the pulse card's, extrapolated above "
            f"{measured['median_ohm'] / 1e3:.2f} kohm: sigma(R) = min({noise.sigma:.4f} (R / 10 kohm) ** "
            f"{noise.exponent:.2f}, {noise.sigma_max:.2f})")
    return dataclasses.replace(model, read_noise=noise), text


class _CyclingLikelihood:
    """Per-pulse log-likelihood of one cell's pulses of one polarity: R before = the previous
    read, ln rate_scale = mu (the cell's own offset) + sigma_pulse z (z standard normal,
    quadrature), the landing spread sigma_program (1 - exp(-|ln R_after - ln R_before|)) and
    the given read noise. The elapsed-time tables are built once."""

    def __init__(self, model: PulseModel, table: PulseTable, read_noise: ReadNoise, nodes: int = 48):
        self.tables, self.rows, self.gaps, width = model._engine(table.r_before, PulseCondition.from_table(table))
        self.model, self.read_noise = model, read_noise
        self.ln_width = np.log(width)
        self.x = np.log(table.r_after)
        self.ln_before = np.log(table.r_before)
        self.z, self.log_w = _gauss_hermite(nodes)
        self._last: tuple[tuple[float, float], np.ndarray] | None = None

    def outcomes(self, mu: float, sigma_pulse: float) -> np.ndarray:
        """ln R after at each quadrature node (rows x nodes); the last one kept (a step in
        the landing spread alone, as the optimisers take, needs no new motion)."""
        if self._last is not None and self._last[0] == (mu, sigma_pulse):
            return self._last[1]
        ln_t = (self.ln_width[:, None] + mu + sigma_pulse * self.z[None, :]).ravel()
        g = gaps_after(self.tables, self.rows, self.gaps, ln_t, repeat=self.z.size).reshape(self.x.size, self.z.size)
        ln_r = np.log(self.model.resistance(g))
        self._last = ((mu, sigma_pulse), ln_r)
        return ln_r

    def per_row(self, mu: float, sigma_pulse: float, sigma_program: float) -> np.ndarray:
        ln_r = self.outcomes(mu, sigma_pulse)
        sigma = outcome_sigma(ln_r, self.ln_before[:, None], self.read_noise, sigma_program)
        u = (self.x[:, None] - ln_r) / sigma
        return special.logsumexp(self.log_w - 0.5 * u * u - np.log(sigma) - 0.5 * math.log(2 * math.pi), axis=1)

    def total(self, theta) -> float:
        value = float(np.sum(self.per_row(*theta)))
        return value if math.isfinite(value) else -1e12

    def coverage(self, mu: float, sigma_pulse: float, sigma_program: float) -> Any:
        """Fraction of pulses whose R after lies in its predicted 10-90 % interval (PIT)."""
        ln_r = self.outcomes(mu, sigma_pulse)
        sigma = outcome_sigma(ln_r, self.ln_before[:, None], self.read_noise, sigma_program)
        u = special.ndtr((self.x[:, None] - ln_r) / sigma) @ np.exp(self.log_w)
        return binomial_interval(int(np.sum((u >= 0.1) & (u <= 0.9))), int(u.size))


_THETA = ("cell_ln_rate_offset", "sigma_ln_rate_pulse", "sigma_ln_program_pulse")
_BOUNDS = (_MU_BOUNDS, _PULSE_BOUNDS, _PROGRAM_BOUNDS)


def _maximize(likelihood: _CyclingLikelihood, start: Sequence[float], fixed: dict[int, float] | None = None,
              evaluations: int = 400) -> tuple[np.ndarray, float]:
    """Maximum of the log-likelihood over the parameters not `fixed` (L-BFGS-B from `start`)."""
    from scipy.optimize import minimize

    fixed = fixed or {}
    free = [k for k in range(3) if k not in fixed]
    lower = np.array([_BOUNDS[k][0] for k in free])
    upper = np.array([_BOUNDS[k][1] for k in free])

    def theta_of(u: np.ndarray) -> list[float]:
        theta = [0.0, 0.0, 0.0]
        for k, value in fixed.items():
            theta[k] = value
        for j, k in enumerate(free):
            theta[k] = float(lower[j] + (upper[j] - lower[j]) * u[j])
        return theta

    u0 = np.clip((np.array([start[k] for k in free]) - lower) / (upper - lower), 0.0, 1.0)
    result = minimize(lambda u: -likelihood.total(theta_of(u)), u0, method="L-BFGS-B", bounds=[(0.0, 1.0)] * len(free),
                      options={"maxfun": evaluations, "eps": 1e-6, "ftol": 1e-12, "gtol": 1e-8})
    best = theta_of(result.x)
    value = likelihood.total(best)
    start_value = likelihood.total(list(start))
    if start_value > value:
        return np.array(start, dtype=float), start_value
    return np.array(best), value


def _profile_interval(likelihood: _CyclingLikelihood, best: np.ndarray, peak: float, k: int, bisections: int
                      ) -> dict[str, Any]:
    """95 % profile-likelihood interval of parameter k: where 2 (peak - profile) <= 3.84.
    Each side steps out from the estimate by doubling steps until the profile crosses (or
    the parameter's bound is reached: that end is open, the data bound it only on the other
    side), then bisects the crossing `bisections` times."""
    low, high = _BOUNDS[k]
    cut = peak - _CHI2_95 / 2
    ends: dict[str, float | None] = {}
    profile: list[tuple[float, float]] = []

    def level_at(value: float, start: np.ndarray) -> tuple[np.ndarray, float]:
        theta, level = _maximize(likelihood, np.where(np.arange(3) == k, value, start), {k: float(value)}, 150)
        profile.append((float(value), float(level)))
        return theta, level

    for side, edge in (("low", low), ("high", high)):
        sign = -1.0 if side == "low" else 1.0
        inside, start, outside = float(best[k]), best.copy(), None
        step = 0.005
        while outside is None and inside != edge:
            value = float(np.clip(best[k] + sign * step, low, high))
            theta, level = level_at(value, start)
            if level < cut:
                outside = value
            else:
                inside, start = value, theta
                step *= 2.0
        if outside is None:
            ends[side] = None
            continue
        for _ in range(bisections):
            middle = 0.5 * (inside + outside)
            theta, level = level_at(middle, start)
            if level < cut:
                outside = middle
            else:
                inside, start = middle, theta
        ends[side] = 0.5 * (inside + outside)
    return {"estimate": float(best[k]), "ci95": [ends["low"], ends["high"]],
            "bounded_only": [side for side in ("low", "high") if ends[side] is None],
            "method": "profile likelihood (chi-square 1 dof, 3.84)", "profile": sorted(profile)}


def fit_rate_split(model: PulseModel, record, *, read_noise: ReadNoise | None = None, read_noise_text: str = "",
                   nodes: int = 48, bisections: int = 8, log: Log | None = None
                   ) -> tuple[PulseModel, dict[str, Any], list[dict[str, str]]]:
    """The per-pulse part of the rate spread, per polarity, by maximum likelihood on a cycling
    log (`measurements.cycling.read_cycling`) of one cell, with the pulse model's own
    machinery: each pulse starts from the previous read; free per polarity are the cell's ln
    rate_scale offset (a nuisance), the per-pulse rate spread and the per-pulse landing spread;
    the read noise is given (default the card's read term). 95 % profile-likelihood intervals.

    A polarity whose outcome does not depend on the rate scale at the log's conditions (no
    motion at any rate, or always saturated) is not identified: it keeps the whole spread per
    pulse, flagged. A pulse part known only up to a bound (its interval reaches 0) is taken
    at its upper bound, flagged. A pulse part above the sweeps' total is flagged (the cell
    part is then 0), never clipped silently. Returns the model with the split, the fit's
    record (for fit_report.json) and flags."""
    log = log or (lambda message: None)
    table = record.pulses
    cells = record.cells
    if cells.size != 1:
        raise PulseModelError(f"{table.source.path}: the rate split needs one cell's cycling log (a cell's own "
                              f"offset is fitted); found cells {', '.join(map(str, cells[:5]))}")
    noise = read_noise or model.read_noise
    out: dict[str, Any] = {"assumption": SPLIT_ASSUMPTION, "source": str(table.source.path),
                           "sha256": table.source.sha256, "cell": str(cells[0]),
                           "read_noise": read_noise_text or "the pulse card's read term",
                           "dropped_pulses": dict(record.dropped), "by_polarity": {}}
    flags: list[dict[str, str]] = []
    pulse_parts = list(model.sigma_ln_rate)
    is_set = record.is_set
    for index, (name, pick) in enumerate((("SET", is_set), ("RESET", ~is_set))):
        total = model.sigma_ln_rate[index]
        if not pick.any():
            out["by_polarity"][name] = {"pulses": 0, "status": "no pulses: all per pulse"}
            continue
        part = table.rows(pick)
        likelihood = _CyclingLikelihood(model, part, noise, nodes)
        conditions = np.unique(np.column_stack([part.wl_voltage, part.bl_voltage, part.sl_voltage, part.width]), axis=0)
        entry: dict[str, Any] = {"pulses": int(pick.sum()), "conditions": conditions.tolist(),
                                 "sigma_ln_rate_total": total,
                                 "data": {"median_r_after_ohm": float(np.exp(np.median(likelihood.x))),
                                          "sd_ln_r_after": float(np.std(likelihood.x)),
                                          "r_after_10_90_ohm": np.exp(np.quantile(likelihood.x, [0.1, 0.9])).tolist()}}
        # identification: does the outcome move with the rate scale at these pulses at all?
        reach = likelihood.outcomes(0.0, 0.0)
        spread_over_rate = [float(np.median(np.abs(likelihood.outcomes(mu, 0.0)[:, 0] - reach[:, 0])))
                            for mu in np.linspace(*_MU_BOUNDS, 17)]
        entry["median_ln_r_change_over_rate_offsets"] = max(spread_over_rate)
        card_law = likelihood.coverage(0.0, total, model.sigma_ln_program[index] * model.spread_scale[index])
        entry["coverage_10_90_card_all_per_pulse"] = [card_law.estimate, card_law.low, card_law.high]
        if max(spread_over_rate) < 0.05:
            entry["status"] = "not identified: all per pulse"
            message = (f"{name}: the cycling log ({entry['pulses']} pulses of {conditions.tolist()}) does not identify "
                       f"the per-pulse rate spread: at these pulses the card's outcome moves by at most "
                       f"{max(spread_over_rate):.3g} in ln R over ln rate_scale {_MU_BOUNDS[0]:g} .. {_MU_BOUNDS[1]:g} "
                       "(the card's threshold or saturation, not the rate, decides it); the whole spread stays per "
                       "pulse (no cycling data for this polarity)")
            flags.append({"what": f"rate_split_{name.lower()}", "problem": "undetermined", "message": message})
            log(f"pulse model: rate split: {message}")
            out["by_polarity"][name] = entry
            continue
        # start: a grid over (offset, pulse spread, landing spread), then L-BFGS-B
        grid = [(mu, s, p) for mu in np.arange(-20.0, 21.0, 2.0) for s in (0.05, 0.3, 1.0, 3.0)
                for p in (0.03, 0.3)]
        start = max(grid, key=likelihood.total)
        best, peak = _maximize(likelihood, start)
        intervals = {key: _profile_interval(likelihood, best, peak, k, bisections) for k, key in enumerate(_THETA)}
        pulse = intervals["sigma_ln_rate_pulse"]
        upper = pulse["ci95"][1]
        if "low" in pulse["bounded_only"] and upper is not None:
            used, how = upper, "upper 95 % bound (the data bound it only from above)"
            flags.append({"what": f"rate_split_{name.lower()}", "problem": "bound_only",
                          "message": f"{name}: the cycling log only bounds the per-pulse rate spread (95 % profile "
                          f"interval 0 .. {upper:.3g}; estimate {best[1]:.3g}): the card uses the bound {upper:.3g}"})
        elif upper is None:
            used, how = float(best[1]), "estimate (no upper bound within 25: the log cannot bound it)"
            flags.append({"what": f"rate_split_{name.lower()}", "problem": "unbounded",
                          "message": f"{name}: the per-pulse rate spread has no upper 95 % bound below 25"})
        else:
            used, how = float(best[1]), "maximum-likelihood estimate"
        if used > total:
            flags.append({"what": f"rate_split_{name.lower()}", "problem": "pulse_exceeds_total",
                          "message": f"{name}: the per-pulse rate spread {used:.3g} exceeds the sweeps' total "
                          f"{total:.3g}: the cell part is set to 0 and the per-pulse part kept as measured (the "
                          "one cycled cell is not like the sweeps' cells, or the card's dynamics misjudge it)"})
        pulse_parts[index] = used
        cell = math.sqrt(max(total * total - used * used, 0.0))
        predicted = likelihood.coverage(*best)
        entry |= {"status": "fitted", "used_sigma_ln_rate_pulse": used, "used_as": how,
                  "sigma_ln_rate_cell": cell, "cell_z": float(best[0] / cell) if cell > 0 else None,
                  "max_log_likelihood": peak, "parameters": intervals,
                  "coverage_10_90": {"split_model": [predicted.estimate, predicted.low, predicted.high],
                                     "pulses": predicted.samples, "target": 0.8}}
        log(f"pulse model: rate split {name} on {entry['pulses']} pulses: per-pulse sigma ln rate {best[1]:.3g} "
            f"[{_fmt(pulse['ci95'][0])}, {_fmt(upper)}] (used {used:.3g}, {how}), cell offset ln rate "
            f"{best[0]:.3g} [{_fmt(intervals['cell_ln_rate_offset']['ci95'][0])}, "
            f"{_fmt(intervals['cell_ln_rate_offset']['ci95'][1])}], landing spread per pulse {best[2]:.3g} "
            f"[{_fmt(intervals['sigma_ln_program_pulse']['ci95'][0])}, "
            f"{_fmt(intervals['sigma_ln_program_pulse']['ci95'][1])}]; per cell {cell:.3g} of the total {total:.3g}; "
            f"the log's 10-90 % coverage {predicted.estimate:.1%} [{predicted.low:.1%}, {predicted.high:.1%}]")
        out["by_polarity"][name] = entry
    fitted = [name for name, entry in out["by_polarity"].items() if entry.get("status") == "fitted"]
    if not fitted:
        out["result"] = "no polarity identified: the model keeps all of the rate spread per pulse"
        return model, out, flags
    note = (f"per-pulse part from the cycling log {Path(out['source']).name} (cell {out['cell']}; "
            f"{', '.join(fitted)} fitted, "
            + ", ".join(f"{n} {e['status']}" for n, e in out["by_polarity"].items() if n not in fitted)
            + f"); assumption: {SPLIT_ASSUMPTION}")
    note = note.replace(", )", ")")
    out["result"] = note
    split = dataclasses.replace(model, sigma_ln_rate_pulse=(pulse_parts[0], pulse_parts[1]), rate_split_note=note)
    log(f"pulse model: {split.rate_split_text()}")
    return split, out, flags


def _fmt(value: float | None) -> str:
    return "open" if value is None else f"{value:.3g}"


# ---------------------------------------------------------------------------- judging it


def _condition_keys(table: PulseTable) -> np.ndarray:
    keys = np.column_stack([np.round(table.wl_voltage, 6), np.round(table.bl_voltage, 6), np.round(table.sl_voltage, 6),
                            np.round(np.log(table.width), 6)])
    return np.unique(keys, axis=0, return_inverse=True)[1].ravel()


def evaluate(model: PulseModel, test: PulseTable, train: PulseTable) -> dict[str, Any]:
    """The model on held-out rows beside the no-change predictor: coverage of the 10-90 %
    interval, rms ln-R error of the predictive median (per row, and per condition against
    the condition's median in the data), mean log-likelihood; per polarity and in total."""
    condition = PulseCondition.from_table(test)
    quantiles = model.predict(test.r_before, condition, (0.1, 0.5, 0.9))
    log_likelihood = model.logpdf(test.r_after, test.r_before, condition)
    # the no-change predictor: R_after = R_before with the training rows' spread of ln(R_after / R_before)
    sigma0 = float(np.sqrt(np.mean(np.log(train.r_after / train.r_before) ** 2)))
    z10 = special.ndtri(0.9)
    nochange = np.column_stack([test.r_before * math.exp(-z10 * sigma0), test.r_before, test.r_before *
                                math.exp(z10 * sigma0)])
    x = np.log(test.r_after)
    nochange_ll = -0.5 * ((x - np.log(test.r_before)) / sigma0) ** 2 - math.log(sigma0) - 0.5 * math.log(2 * math.pi)
    polarity = np.where(test.bl_voltage > test.sl_voltage, "SET", "RESET")
    keys = _condition_keys(test)

    def judge(predicted: np.ndarray, ll: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
        inside = (test.r_after[rows] >= predicted[rows, 0]) & (test.r_after[rows] <= predicted[rows, 2])
        cover = binomial_interval(int(inside.sum()), int(rows.sum()))
        median = np.log(predicted[rows, 1])
        data_median, model_median = [], []
        for key in np.unique(keys[rows]):
            pick = keys[rows] == key
            data_median.append(np.median(x[rows][pick]))
            model_median.append(np.median(median[pick]))
        return {"rows": int(rows.sum()), "conditions": len(data_median),
                "coverage_10_90": cover.estimate, "coverage_ci95": [cover.low, cover.high],
                "rms_ln_r_median_vs_condition_median": float(np.sqrt(np.mean((np.array(model_median)
                                                                              - np.array(data_median)) ** 2))),
                "rms_ln_r_after_vs_rows": float(np.sqrt(np.mean((median - x[rows]) ** 2))),
                "mean_log_likelihood": float(np.mean(ll[rows]))}

    out: dict[str, Any] = {"target_coverage": [0.75, 0.85], "no_change_sigma_ln": sigma0}
    for name, predicted, ll in (("model", quantiles, log_likelihood), ("no_change", nochange, nochange_ll)):
        out[name] = judge(predicted, ll, np.ones(len(test), bool))
        out[name]["by_polarity"] = {p: judge(predicted, ll, polarity == p) for p in ("SET", "RESET")
                                    if np.any(polarity == p)}
    # the condition-median oracle of the issue: each held-out row predicted by its condition's
    # median in the training rows (no R_before used)
    train_keys = np.column_stack([np.round(train.wl_voltage, 6), np.round(train.bl_voltage, 6),
                                  np.round(train.sl_voltage, 6), np.round(np.log(train.width), 6)])
    test_keys = np.column_stack([np.round(test.wl_voltage, 6), np.round(test.bl_voltage, 6),
                                 np.round(test.sl_voltage, 6), np.round(np.log(test.width), 6)])
    lookup: dict[tuple, float] = {}
    train_x = np.log(train.r_after)
    for key in np.unique(train_keys, axis=0):
        lookup[tuple(key)] = float(np.median(train_x[np.all(train_keys == key, axis=1)]))
    predicted = np.array([lookup.get(tuple(k), np.nan) for k in test_keys])
    ok = np.isfinite(predicted)
    out["condition_median_predictor_rms_ln_r"] = float(np.sqrt(np.mean((predicted[ok] - x[ok]) ** 2)))
    out["curves"] = {"q10": quantiles[:, 0], "q50": quantiles[:, 1], "q90": quantiles[:, 2]}
    return out


def judgement_flags(judged: Mapping[str, Any]) -> list[dict[str, str]]:
    flags = []
    model, nochange = judged["model"], judged["no_change"]
    low, high = judged["target_coverage"]
    if not low <= model["coverage_10_90"] <= high:
        flags.append({"what": "coverage", "problem": "coverage_off_target",
                      "message": f"on held-out cells {model['coverage_10_90']:.1%} of the measured R_after fall inside "
                      f"the predicted 10-90 % interval (target 80 +- 5 %): the predicted spread is "
                      + ("too narrow" if model["coverage_10_90"] < low else "too wide")})
    if model["mean_log_likelihood"] <= nochange["mean_log_likelihood"]:
        flags.append({"what": "likelihood", "problem": "no_better_than_no_change",
                      "message": "on held-out cells the model is no more likely than 'a pulse changes nothing'"})
    for polarity, row in model["by_polarity"].items():
        base = nochange["by_polarity"][polarity]
        if row["rms_ln_r_median_vs_condition_median"] > base["rms_ln_r_median_vs_condition_median"]:
            flags.append({"what": polarity, "problem": "condition_medians_worse_than_no_change",
                          "message": f"{polarity}: the predicted medians follow the per-condition medians of the data "
                          f"worse (rms ln R {row['rms_ln_r_median_vs_condition_median']:.3f}) than 'nothing changes' "
                          f"({base['rms_ln_r_median_vs_condition_median']:.3f}): the model cannot follow these "
                          "conditions"})
    return flags


def judgement_lines(judged: Mapping[str, Any]) -> list[str]:
    lines = [f"held-out cells ({judged['model']['rows']} rows): model vs 'a pulse changes nothing' "
             f"(sigma {judged['no_change_sigma_ln']:.3f} in ln R)"]
    for scope in ["all"] + list(judged["model"]["by_polarity"]):
        m = judged["model"] if scope == "all" else judged["model"]["by_polarity"][scope]
        n = judged["no_change"] if scope == "all" else judged["no_change"]["by_polarity"][scope]
        lines.append(f"  {scope:<5} coverage of the 10-90 % interval {m['coverage_10_90']:.1%} "
                     f"(95 % CI {m['coverage_ci95'][0]:.1%}..{m['coverage_ci95'][1]:.1%}; no-change "
                     f"{n['coverage_10_90']:.1%}), rms ln R of the median vs condition medians "
                     f"{m['rms_ln_r_median_vs_condition_median']:.3f} (no-change "
                     f"{n['rms_ln_r_median_vs_condition_median']:.3f}), per row {m['rms_ln_r_after_vs_rows']:.3f} "
                     f"(no-change {n['rms_ln_r_after_vs_rows']:.3f}), mean log-likelihood "
                     f"{m['mean_log_likelihood']:.3f} (no-change {n['mean_log_likelihood']:.3f})")
    lines.append(f"  predicting each row by its condition's median in the training cells: rms ln R "
                 f"{judged['condition_median_predictor_rms_ln_r']:.3f}")
    return lines


# ---------------------------------------------------------------------------- ngspice and plot

RESIMULATED_ROWS = 400  # held-out rows re-simulated in ngspice by default (a seeded draw)


def resimulate(outcome, table: PulseTable, options: Any, workdir: Path, safer: bool):
    """The fitted card in ngspice: a seeded subsample of held-out rows, each a 1T1R cell with
    the real sky130 transistor and the compiled .va, pulsed at its median rate scale. Its R
    after against the Python model's (the same physics: this checks the surrogate and the
    quadrature) and against the data."""
    from circuitkit.device.resimulate import ngspice_1t1r_pulses

    model: PulseModel = outcome.curves["pulse_model"]
    test = np.flatnonzero(outcome.curves["test"])
    rng = np.random.default_rng(getattr(options, "seed", 1))
    count = min(len(test), RESIMULATED_ROWS, getattr(options, "ngspice_cells", RESIMULATED_ROWS))
    rows = np.sort(rng.choice(test, size=count, replace=False))
    sub = table.rows(rows)
    gaps = model.gap(sub.r_before)
    clipped = gaps < 0  # the .va refuses gap_init < 0: such cells start at gap 0
    gaps = np.maximum(gaps, 0.0)
    r_start = model.resistance(gaps)
    python = model.deterministic_after(r_start, PulseCondition.from_table(sub))
    gap_after = ngspice_1t1r_pulses(model.card, model.transistor, sub.wl_voltage, sub.bl_voltage, sub.sl_voltage,
                                    sub.width, gaps, temp_c=model.temp_c, workdir=workdir, safer=safer,
                                    chunk=5 if safer else 20)
    spice = model.resistance(gap_after)
    difference = np.log(spice / python)
    metrics = {"rows": int(count), "rows_started_at_gap_0": int(clipped.sum()),
               "rms_ln_r_ngspice_vs_python": float(np.sqrt(np.mean(difference ** 2))),
               "max_abs_ln_r_ngspice_vs_python": float(np.max(np.abs(difference))),
               "rms_ln_r_after": float(np.sqrt(np.mean(np.log(spice / sub.r_after) ** 2))),
               "rms_ln_r_after_python_median_pulse": float(np.sqrt(np.mean(np.log(python / sub.r_after) ** 2)))}
    details = {"rows_simulated": int(count), "subsample": f"{count} rows of held-out cells (seed "
               f"{getattr(options, 'seed', 1)}), each pulsed at the median rate scale (rate_scale = 1)"}
    return {"rows": rows, "r_after": spice}, metrics, details


def plot(path, table: PulseTable, outcome, spice, name: str):
    """Held-out rows: measured R_after against the predictive median with its 10-90 % band,
    per pulsed line; and coverage per condition against the word-line voltage."""
    from circuitkit.report.fit_plots import finish as _finish, plt

    judged = outcome.curves["judged"]
    test = outcome.curves["test"]
    held = table.rows(test)
    q10, q50, q90 = (judged["curves"][k] for k in ("q10", "q50", "q90"))
    is_set = held.bl_voltage > held.sl_voltage
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    for ax, pick, label in ((axes[0], is_set, "SET"), (axes[1], ~is_set, "RESET")):
        if not pick.any():
            ax.set_visible(False)
            continue
        order = np.argsort(q50[pick])
        rank = np.arange(pick.sum())
        ax.fill_between(rank, q10[pick][order], q90[pick][order], color="tab:blue", alpha=0.25, linewidth=0,
                        label="predicted 10-90 %")
        ax.plot(rank, q50[pick][order], color="tab:blue", linewidth=1.0, label="predicted median")
        ax.plot(rank, held.r_after[pick][order], ".", color="0.25", markersize=1.5, alpha=0.5, label="measured")
        row = judged["model"]["by_polarity"][label]
        ax.set_yscale("log")
        ax.set_xlabel("held-out rows, sorted by predicted median")
        ax.set_ylabel("R after the pulse (ohm)")
        ax.set_title(f"{label}: coverage {row['coverage_10_90']:.1%} (target 80 %), {row['rows']} rows", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(True, which="both", alpha=0.3)
    ax = axes[2]
    inside = (held.r_after >= q10) & (held.r_after <= q90)
    for pick, label, color in ((is_set, "SET", "tab:red"), (~is_set, "RESET", "tab:green")):
        if not pick.any():
            continue
        volts = np.unique(held.wl_voltage[pick].round(2))
        cover = [inside[pick & (held.wl_voltage.round(2) == v)].mean() for v in volts]
        ax.plot(volts, cover, "o-", color=color, markersize=3, label=f"{label}: model")
    ax.axhspan(0.75, 0.85, color="0.85", label="target 80 +- 5 %")
    if spice is not None:
        rows = spice["rows"]
        ax.text(0.02, 0.02, f"ngspice 1T1R re-simulation of {len(rows)} rows: see fit_report.json", fontsize=7,
                transform=ax.transAxes)
    ax.set_ylim(0, 1)
    ax.set_xlabel("word-line voltage (V)")
    ax.set_ylabel("fraction inside the predicted 10-90 % interval")
    ax.set_title("coverage per word-line voltage (held-out cells)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    return _finish(fig, path, f"{name}: stochastic 1T1R pulse model ({outcome.card.pulse_model['transistor']['w_um']:g} "
                              "um access transistor in the loop), held-out cells")
