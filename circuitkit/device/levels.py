"""Low-field I-V of programmed cells: does the model's current equation follow real reads?

The file holds, for many cells (an address column), the current at read voltages below
any switching (e.g. 0 - 0.35 V). The model (rram_hfox.va) says

    I = i0 exp(-g/g0) (V/v0) sinhc(h(g) V/v0),   h(g) = 1 - exp(-g/g_h)

(at the card's reference temperature and through its series resistance rs): every cell
has its own gap g, all share v0 and g_h, the shape of the state-dependent nonlinearity
(ohmic for a closed gap, sinh(V/v0) for an open one). The fit finds (v0, g_h) by profile
least squares: for each pair, every cell's gap (a one-dimensional search, vectorised over
the cells) and a current offset (the instrument's zero, linear, in closed form), with each
cell's residuals scaled by its own current so a 5 kohm cell and a 500 kohm cell count
alike. The absolute gaps come from the card's rule for i0: the most conductive 1 % of
cells sit at the gap gmin (i0, g0 and the gaps cannot be told apart from reads: only
i0 exp(-g/g0) is seen; h(g) makes the shape depend on where the gaps sit, so the rule is
applied inside the fit).

Reported beside it: the state-independent shape (g_h = 0, v0 fitted: the model before
issue 15), the start card's shape and an ohmic law, and the measured super-linearity
G(V_max)/G(0.1 V) per resistance band against the model's: how the fit follows the levels.
The series resistance rs is taken from the start card, never fitted: low-field reads
cannot tell it from the cell (the fit's error changes by 0.2 % between 0 and 4 kohm on the
bundled array, whose reads also include the access transistor's on-resistance).

Temperature series: the same cells read at several temperatures (one file per temperature,
`--temperatures 27,85,125`) fit the activation energy eac of the gap conduction jointly
with the shape. Every cell keeps ONE gap across the temperatures (a read does not move
it), each (cell, file) its own offset and scale, and theta = exp(-h(g) eac/k (1/T -
1/Tnom)) then sets how each cell's current changes with T: little for a closed gap, most
for an open one. Reads at one temperature cannot determine eac: it keeps the start card's
value, flagged as undetermined and announced as a fallback.
"""

from __future__ import annotations

import dataclasses
import math
import time as _time
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import optimize, stats

from circuitkit.device.fit import FitError, FitOutcome, parameter_flags
from circuitkit.device.model import ModelCard, parameter_specs
from circuitkit.measurements import IVSweep

V0_RANGE = (0.05, 50.0)  # V; at the top the sinh is linear to 1e-5 below 0.35 V
G_H_RANGE = (0.02e-9, 20e-9)  # m; at the bottom h = 1 at every gap (the state-independent shape)
ANCHOR_TOLERANCE = 1e-5  # x g0: the i0 rule inside a temperature-series objective (the gap search resolves ~1e-7)
EAC_RANGE = (0.0, 2.0)  # eV; far above any gap-conduction activation energy reported for HfOx
_LN_G_SPAN = 12.0  # ln-conductance search range per cell around its ohmic estimate
_BANDS = 8  # resistance bands of the nonlinearity table


@dataclasses.dataclass(frozen=True)
class LevelsSeries:
    """Low-field reads of the same cells (by address) at one or more temperatures, one
    file each. `temperature_origin` says where the temperatures came from."""

    sweeps: tuple[IVSweep, ...]
    temperatures_c: tuple[float, ...]
    temperature_origin: str

    def __post_init__(self):
        if len(self.sweeps) != len(self.temperatures_c) or not self.sweeps:
            raise FitError(f"a levels fit needs one temperature per file: {len(self.sweeps)} file(s), "
                           f"{len(self.temperatures_c)} temperature(s) ({', '.join(map(str, self.temperatures_c))})")

    @classmethod
    def of(cls, data: "IVSweep | LevelsSeries", card: ModelCard) -> "LevelsSeries":
        """`data` itself, or one file's reads taken at the card's reference temperature."""
        if isinstance(data, LevelsSeries):
            return data
        return cls((data,), (card.value("tnom"),), "not given: the card's reference temperature tnom")

    @classmethod
    def from_files(cls, sweeps: Sequence[IVSweep], temperatures_c: Sequence[float | str] | None,
                   card: ModelCard) -> "LevelsSeries":
        """The files of a levels fit with their temperatures (`--temperatures`, one per file in
        order); one file without a temperature is read at the card's tnom."""
        paths = ", ".join(str(sweep.source.path) for sweep in sweeps)
        if not temperatures_c:
            if len(sweeps) > 1:
                raise FitError(f"several levels files ({paths}) are a temperature series: give the temperature "
                               "(C) of each, in order, with --temperatures (e.g. --temperatures 27,85,125)")
            return cls.of(sweeps[0], card)
        if len(temperatures_c) != len(sweeps):
            raise FitError(f"--temperatures gives {len(temperatures_c)} temperature(s) "
                           f"({', '.join(map(str, temperatures_c))}) for {len(sweeps)} levels file(s) "
                           f"({paths}): one per file, in order")
        values = []
        for t in temperatures_c:
            try:
                values.append(float(t))
            except ValueError:
                values.append(math.nan)
            if not (math.isfinite(values[-1]) and values[-1] > -273.15):
                raise FitError(f"--temperatures: {t!r} is not a temperature in C")
        return cls(tuple(sweeps), tuple(values), "given (--temperatures)")

    @property
    def sources(self):
        return tuple(sweep.source for sweep in self.sweeps)

    @property
    def distinct_temperatures(self) -> tuple[float, ...]:
        return tuple(sorted(set(self.temperatures_c)))

    def reference(self, tnom: float) -> int:
        """The file whose temperature lies nearest tnom (the first of a tie): the one the
        nonlinearity table, the plot and the ngspice comparison with the data use."""
        return int(np.argmin([abs(t - tnom) for t in self.temperatures_c]))

    def __len__(self) -> int:
        return sum(len(sweep) for sweep in self.sweeps)


class _Reads:
    """The cells' reads as (cells x points) arrays (NaN-padded), their scales and an ohmic fit.

    With several files (temperatures) each file is a block of columns, `blocks[b]` = (its
    temperature, its column slice): a cell's reads at that temperature. Scales and offsets
    belong to a (cell, block) pair; a cell missing from a file has no reads in its block."""

    def __init__(self, series: LevelsSeries):
        for sweep in series.sweeps:
            if sweep.address is None:
                raise FitError(f"{sweep.source.path}: a levels fit needs an address column (which cell each read "
                               "is); map it with --column address=N")
        names = np.unique(np.concatenate([np.asarray(sweep.address) for sweep in series.sweeps]))
        self.names = names
        self.block_groups, self.blocks = [], []
        columns = 0
        for sweep, temp in zip(series.sweeps, series.temperatures_c):
            index = np.searchsorted(names, sweep.address)
            groups = [np.flatnonzero(index == k) for k in range(len(names))]
            short = [names[k] for k, g in enumerate(groups) if 0 < g.size < 4]
            if short:
                raise FitError(f"{sweep.source.path}: cell(s) {', '.join(map(str, short[:5]))} have fewer than 4 reads")
            width = max(g.size for g in groups)
            self.block_groups.append(groups)
            self.blocks.append((float(temp), slice(columns, columns + width)))
            columns += width
        self.voltage = np.full((len(names), columns), np.nan)
        self.current = np.full((len(names), columns), np.nan)
        for sweep, groups, (_, block) in zip(series.sweeps, self.block_groups, self.blocks):
            for k, rows in enumerate(groups):
                order = np.argsort(sweep.voltage[rows], kind="stable")
                self.voltage[k, block.start:block.start + rows.size] = sweep.voltage[rows][order]
                self.current[k, block.start:block.start + rows.size] = sweep.current[rows][order]
        self.valid = np.isfinite(self.voltage)
        self.v_safe = np.where(self.valid, self.voltage, 0.0)
        self.i_safe = np.where(self.valid, self.current, 0.0)
        self.count = self.valid.sum(axis=1)
        # per (cell, block): read count, current scale (every column of a block carries its
        # block's), and an ohmic conductance and offset by least squares
        self.block_count = np.stack([self.valid[:, block].sum(axis=1) for _, block in self.blocks], axis=1)
        self.scale = np.empty_like(self.voltage)
        ohmic = np.full((len(names), len(self.blocks)), np.nan)
        for b, (_, block) in enumerate(self.blocks):
            present = self.block_count[:, b] > 0
            n = np.maximum(self.block_count[:, b], 1)
            largest = np.where(self.valid[:, block], np.abs(self.i_safe[:, block]), 0.0).max(axis=1)
            self.scale[:, block] = np.maximum(largest, 1e-15)[:, None]
            v_mean = self.v_safe[:, block].sum(axis=1) / n
            dv = np.where(self.valid[:, block], self.v_safe[:, block] - v_mean[:, None], 0.0)
            g = (dv * self.i_safe[:, block]).sum(axis=1) / np.maximum((dv * dv).sum(axis=1), 1e-300)
            ohmic[:, b] = np.where(present, g, np.nan)
        # the gap search starts from the cell's ohmic conductance, averaged in ln over its
        # temperatures (thermal activation moves it far less than the search span)
        if len(self.blocks) == 1:
            self.ohmic_g = ohmic[:, 0]
        else:
            with np.errstate(invalid="ignore"):
                self.ohmic_g = np.exp(np.nanmean(np.log(np.maximum(ohmic, 1e-12)), axis=1))

    def block_offsets(self, residual: np.ndarray) -> np.ndarray:
        """Each (cell, block)'s mean of `residual` (cells x columns, 0 where padded): its offset."""
        return np.stack([residual[:, block].sum(axis=1) / np.maximum(self.block_count[:, b], 1)
                         for b, (_, block) in enumerate(self.blocks)], axis=1)

    def spread(self, per_block: np.ndarray) -> np.ndarray:
        """(cells x blocks) values spread onto the (cells x columns) layout."""
        out = np.empty_like(self.voltage)
        for b, (_, block) in enumerate(self.blocks):
            out[:, block] = per_block[:, b:b + 1]
        return out

    def block_reads(self, k: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Cell k's reads (voltage, current) at block b, voltage ascending."""
        block = self.blocks[b][1]
        pick = self.valid[k, block]
        return self.voltage[k, block][pick], self.current[k, block][pick]


def _card(start: ModelCard, v0: float, g_h: float, ln_g_ref: float, eac: float | None = None) -> ModelCard:
    """The start card with (v0, g_h[, eac]) and the i0 that puts a low-field conductance
    exp(ln_g_ref) at the gap gmin (at the card's reference temperature)."""
    gmin, g0 = start.value("gmin"), start.value("g0")
    values = {"v0": v0, "g_h": g_h, "i0": v0 * math.exp(ln_g_ref + gmin / g0)}
    return start.with_values(values | ({} if eac is None else {"eac": eac}))


def _model_currents(card: ModelCard, reads: _Reads, gaps: np.ndarray) -> np.ndarray:
    """The model's currents in the reads' layout, each block at its own temperature."""
    out = np.empty_like(reads.v_safe)
    for temp, block in reads.blocks:
        out[:, block] = card.current(reads.v_safe[:, block], gaps[:, None], temp_c=temp)
    return out


def _residuals(card: ModelCard, reads: _Reads, gaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scaled residuals (cells x points, 0 where padded) with each (cell, file)'s offset
    solved, and the offsets (cells x files)."""
    shape = _model_currents(card, reads, gaps)
    offset = reads.block_offsets(np.where(reads.valid, reads.i_safe - shape, 0.0))
    r = np.where(reads.valid, (reads.i_safe - shape - reads.spread(offset)) / reads.scale, 0.0)
    return r, offset


def _cell_gaps(card: ModelCard, reads: _Reads, iterations: int = 40) -> np.ndarray:
    """Every cell's gap for this card: golden-section search on ln(low-field conductance),
    vectorised over the cells, around the cell's ohmic conductance."""
    g0, i0, v0 = card.value("g0"), card.value("i0"), card.value("v0")
    ln_guess = np.log(np.maximum(reads.ohmic_g, 1e-12))

    def gap_of(ln_g):  # low-field conductance i0 exp(-g/g0) / v0
        return g0 * (math.log(i0 / v0) - ln_g)

    def cost(ln_g):
        r, _ = _residuals(card, reads, gap_of(ln_g))
        return (r * r).sum(axis=1)

    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    low, high = ln_guess - _LN_G_SPAN / 2, ln_guess + _LN_G_SPAN / 2
    c, d = high - ratio * (high - low), low + ratio * (high - low)
    fc, fd = cost(c), cost(d)
    for _ in range(iterations):
        left = fc < fd
        high, low = np.where(left, d, high), np.where(left, low, c)
        c_new, d_new = high - ratio * (high - low), low + ratio * (high - low)
        # golden section keeps one of its two points: evaluate only the new one
        f_new = cost(np.where(left, c_new, d_new))
        fc, fd = np.where(left, f_new, fd), np.where(left, fc, f_new)
        c, d = np.where(left, c_new, d), np.where(left, c, d_new)
    return gap_of(0.5 * (low + high))


class _Profile:
    """SSE of the reads for (v0, g_h[, eac]), every cell's gap and offset profiled out
    (eac None: the start card's)."""

    def __init__(self, start: ModelCard, reads: _Reads):
        self.start, self.reads = start, reads
        self.ln_g_ref = float(np.quantile(np.log(np.maximum(reads.ohmic_g, 1e-12)), 0.99))
        self.slope = 1.0  # gaps moved (in g0) per unit of ln_g_ref: 1 at low field and tnom

    def card(self, v0: float, g_h: float, eac: float | None = None) -> ModelCard:
        return _card(self.start, v0, g_h, self.ln_g_ref, eac)

    def solve(self, v0: float, g_h: float, eac: float | None = None
              ) -> tuple[ModelCard, np.ndarray, np.ndarray, np.ndarray]:
        card = self.card(v0, g_h, eac)
        gaps = _cell_gaps(card, self.reads)
        r, offset = _residuals(card, self.reads, gaps)
        return card, gaps, r, offset

    def sse(self, v0: float, g_h: float, eac: float | None = None) -> float:
        r = self.solve(v0, g_h, eac)[2]
        return float((r * r).sum())

    def anchor(self, v0: float, g_h: float, eac: float | None = None, tolerance: float | None = None
               ) -> tuple[ModelCard, np.ndarray, np.ndarray, np.ndarray]:
        """Put the most conductive 1 % of cells at gmin for this shape (the i0 rule); the
        last `solve`.

        A step of ln i0 moves every gap by g0 where neither the shape nor the thermal
        activation depends on the gap: reads at one temperature (tnom) come close, and one
        step is taken (`tolerance` None). With reads at several temperatures h(g) eac
        couples them (the step lands up to 3x off), so the rule is iterated (secant, from
        the last slope seen) until the 1 % quantile sits within `tolerance` x g0 of gmin."""
        g0 = self.start.value("g0")
        previous = None
        for _ in range(1 if tolerance is None else 30):
            solved = self.solve(v0, g_h, eac)
            miss = (solved[0].value("gmin") - float(np.quantile(solved[1], 0.01))) / g0
            if tolerance is not None and abs(miss) < tolerance:
                return solved
            if previous is not None and previous[1] != miss:
                self.slope = min(max((previous[1] - miss) / (self.ln_g_ref - previous[0]), 0.1), 10.0)
            previous = (self.ln_g_ref, miss)
            self.ln_g_ref += miss / self.slope
        return self.solve(v0, g_h, eac)


def nonlinearity(voltage: np.ndarray, current: np.ndarray, offset: float, v_high: float, v_low: float = 0.1) -> float:
    """Chord conductance at v_high over that at v_low (1 for an ohmic cell), offset removed."""
    i_high = np.interp(v_high, voltage, current) - offset
    i_low = np.interp(v_low, voltage, current) - offset
    return float((i_high / v_high) / (i_low / v_low))


def fit_levels(data: "IVSweep | LevelsSeries", start: ModelCard | None = None, *, v_read: float = 0.2) -> FitOutcome:
    """Fit the low-field shape (v0, g_h) to the reads of many cells; with reads of the same
    cells at two or more temperatures (a `LevelsSeries`), the activation energy eac too."""
    began = _time.perf_counter()
    start = start or ModelCard.default()
    series = LevelsSeries.of(data, start)
    reads = _Reads(series)
    temperatures = series.distinct_temperatures
    fit_eac = len(temperatures) >= 2
    cells = len(reads.names)
    n_points = len(series)
    n_params = cells + int(np.count_nonzero(reads.block_count)) + 2 + int(fit_eac)
    profile = _Profile(start, reads)
    names = ("v0", "g_h", "eac")[:2 + int(fit_eac)]
    bounds = [tuple(math.log(b) for b in V0_RANGE), tuple(math.log(b) for b in G_H_RANGE)] + ([EAC_RANGE] * fit_eac)
    low, high = [b[0] for b in bounds], [b[1] for b in bounds]
    # fit space: ln v0, ln g_h (and eac in eV, linear: it may be 0)

    def parameters(x: np.ndarray) -> tuple[float, float, float | None]:
        return math.exp(x[0]), math.exp(x[1]), (float(x[2]) if fit_eac else None)

    def objective(x: np.ndarray) -> float:
        shape = parameters(np.clip(x, low, high))
        if fit_eac:  # the i0 rule held at every point (the temperatures couple it to the shape)
            r = profile.anchor(*shape, tolerance=ANCHOR_TOLERANCE)[2]
            return float((r * r).sum())
        return profile.sse(*shape)

    # coarse grid, the i0 anchor at its best point, then Nelder-Mead
    eac_start = start.value("eac")
    grid = [(v0, g_h) for v0 in (0.1, 0.2, 0.4, 1.0) for g_h in (0.1e-9, 0.5e-9, 2e-9, G_H_RANGE[0])]
    if fit_eac:  # the shape and the activation energy gridded together: they trade off
        grid = [p + (e,) for p in grid for e in (eac_start, 0.0, 0.1, 0.2, 0.4, 0.8)]
    start_point = min(grid, key=lambda p: profile.sse(*p))
    x = np.array([math.log(start_point[0]), math.log(start_point[1]), *start_point[2:]])
    options = {"xatol": 1e-4, "fatol": 1e-12, "maxfev": 400}
    if fit_eac:
        options |= {"maxfev": 800, "fatol": 1e-9 * profile.sse(*start_point),
                    "initial_simplex": x + np.vstack([np.zeros(3), np.diag([0.2, 0.2, 0.05])])}
    profile.anchor(*parameters(x))
    result = optimize.minimize(objective, x, method="Nelder-Mead", options=options)
    x = np.clip(result.x, low, high)
    profile.anchor(*parameters(x))
    options = {"xatol": 1e-4, "fatol": 1e-12, "maxfev": 200}
    if fit_eac:
        options |= {"fatol": 1e-9 * objective(x),
                    "initial_simplex": x + np.vstack([np.zeros(3), np.diag([0.05, 0.05, 0.01])])}
    result = optimize.minimize(objective, x, method="Nelder-Mead", options=options)
    x = np.clip(result.x, low, high)
    v0, g_h, eac = parameters(x)
    card, gaps, r_fit, offsets = profile.solve(v0, g_h, eac)
    ref = series.reference(card.value("tnom"))
    offset = offsets[:, ref]
    best = float((r_fit * r_fit).sum())
    # approximate 95 % intervals: curvature of the profiled SSE in the fit space
    sigma2 = best / max(n_points - n_params, 1)
    steps = np.array([0.02, 0.02, 0.005])[:len(x)]
    hessian = np.empty((len(x), len(x)))
    for i in range(len(x)):
        for j in range(i, len(x)):  # symmetric: the upper triangle, mirrored (each entry costs 4 fits)
            e_i, e_j = np.eye(len(x))[i] * steps[i], np.eye(len(x))[j] * steps[j]
            hessian[i, j] = hessian[j, i] = (objective(x + e_i + e_j) - objective(x + e_i - e_j)
                                             - objective(x - e_i + e_j) + objective(x - e_i - e_j)) / (4 * steps[i] * steps[j])
    try:
        covariance = 2 * sigma2 * np.linalg.inv(hessian)
        se_ln = np.sqrt(np.where(np.diag(covariance) > 0, np.diag(covariance), np.nan))
    except np.linalg.LinAlgError:
        se_ln = np.full(len(x), np.nan)
    z = stats.norm.ppf(0.975)
    ci = {name: [math.exp(x[k] - z * se_ln[k]), math.exp(x[k] + z * se_ln[k])] if np.isfinite(se_ln[k]) else None
          for k, name in enumerate(("v0", "g_h"))}
    if fit_eac:  # linear in eV; the interval stops at 0 (eac >= 0 in the .va)
        ci["eac"] = [max(eac - z * se_ln[2], 0.0), eac + z * se_ln[2]] if np.isfinite(se_ln[2]) else None

    # alternatives: the state-independent shape (g_h -> 0, v0 refitted), the start card's, ohmic
    flat = optimize.minimize_scalar(lambda lv: profile.sse(math.exp(lv), G_H_RANGE[0], eac),
                                    bounds=bounds[0], method="bounded", options={"xatol": 1e-4})
    v0_flat = math.exp(flat.x)
    r_flat = profile.solve(v0_flat, G_H_RANGE[0], eac)[2]
    r_start = profile.solve(start.value("v0"), start.value("g_h"))[2]
    r_ohmic = profile.solve(V0_RANGE[1] * 100, G_H_RANGE[0], eac)[2]

    # the nonlinearity table on the reads nearest tnom (the temperature the ratios are modelled at)
    v_max = float(np.nanmax(reads.voltage[:, reads.blocks[ref][1]]))
    measured = np.array([nonlinearity(*reads.block_reads(k, ref), offset[k], v_max) if reads.block_count[k, ref]
                         else np.nan for k in range(cells)])
    t_ref = series.temperatures_c[ref]

    def model_ratio(c: ModelCard, gap: np.ndarray) -> np.ndarray:
        return (c.current(v_max, gap, temp_c=t_ref) / v_max) / (c.current(0.1, gap, temp_c=t_ref) / 0.1)

    ratio_fit = model_ratio(card, gaps)
    flat_card, flat_gaps = profile.solve(v0_flat, G_H_RANGE[0])[:2]
    ratio_flat = model_ratio(flat_card, flat_gaps)
    resistance_read = np.asarray(card.resistance(gaps, v_read, card.value("tnom")))
    usable = np.isfinite(measured)
    edges = np.quantile(np.log(resistance_read), np.linspace(0, 1, _BANDS + 1))
    band = np.clip(np.searchsorted(edges, np.log(resistance_read), side="right") - 1, 0, _BANDS - 1)
    bands = []
    for b in range(_BANDS):
        pick = (band == b) & usable
        if not pick.any():
            continue
        bands.append({"r_low_ohm": float(math.exp(edges[b])), "r_high_ohm": float(math.exp(edges[b + 1])),
                      "cells": int(pick.sum()), "measured_median": float(np.median(measured[pick])),
                      "measured_iqr": [float(np.quantile(measured[pick], 0.25)), float(np.quantile(measured[pick], 0.75))],
                      "model_median": float(np.median(ratio_fit[pick])),
                      "state_independent_model_median": float(np.median(ratio_flat[pick]))})
    band_error = lambda key: float(np.sqrt(np.mean([(row[key] - row["measured_median"]) ** 2 for row in bands])))  # noqa: E731

    rows = {
        "v0": _row(v0, ci["v0"], "V", start.value("v0"), V0_RANGE, x[0], se_ln[0], "ln_v0"),
        "g_h": _row(g_h, ci["g_h"], "m", start.value("g_h"), G_H_RANGE, x[1], se_ln[1], "ln_g_h"),
        "i0": {"value": card.value("i0"), "stderr": None, "unit": "A", "vary": True, "initial": start.value("i0"),
               "note": "set so the most conductive 1 % of cells sit at gmin (not determined by reads alone)"},
    }
    temps_text = ", ".join(f"{t:g}" for t in temperatures)
    if fit_eac:
        se_eac = float(se_ln[2]) if np.isfinite(se_ln[2]) else None
        rows["eac"] = {"value": eac, "stderr": se_eac, "ci95": ci["eac"], "unit": "eV", "vary": True,
                       "initial": eac_start, "note": f"fitted from the same cells read at {temps_text} C",
                       "fit_space": {"name": "eac", "value": eac, "stderr": se_eac, "lower": EAC_RANGE[0],
                                     "upper": EAC_RANGE[1]}}
    else:
        eac_source = f"the start card's value, from: {start.provenance.get('source', 'unknown')}"
        rows["eac"] = {"value": start.value("eac"), "stderr": None, "unit": "eV", "vary": False,
                       "note": f"NOT fitted: every read is at {temps_text} C (temperature "
                       f"{series.temperature_origin}); {eac_source}"}
    for key, spec in parameter_specs(card.module).items():
        if key not in rows and key in card.parameters | dict(card.instance_defaults):
            rows[key] = {"value": card.value(key), "stderr": None, "unit": spec.unit, "vary": False}
    flags = parameter_flags({k: rows[k] for k in names})
    if not fit_eac:  # the fallback, announced in the flags, the summary, the report and the card
        flags.append({"what": "eac", "problem": "undetermined",
                      "message": f"eac (activation energy of the gap conduction) is not determined: every read is at "
                      f"{temps_text} C (temperature {series.temperature_origin}). The card keeps eac = "
                      f"{start.value('eac'):.3g} eV, {eac_source}; read the same cells at two or more temperatures "
                      "(one file each, --temperatures) to fit it"})
    if not (V0_RANGE[0] * 1.01 < v0 < V0_RANGE[1] / 1.01) or not (G_H_RANGE[0] * 1.01 < g_h < G_H_RANGE[1] / 1.01):
        flags.append({"what": "shape", "problem": "shape_at_range_edge",
                      "message": f"the low-field shape runs to the edge of its range (v0 {v0:.3g} V, g_h {g_h:.3g} m): "
                      "the reads are ohmic within their noise, or their nonlinearity does not grow with the state"})
    rms = lambda r: float(np.sqrt(np.sum(r ** 2) / n_points))  # noqa: E731
    metrics = {
        "cells": cells, "points": n_points, "v_max": v_max,
        "v0_fitted": v0, "v0_ci95": ci["v0"], "g_h_fitted": g_h, "g_h_ci95": ci["g_h"], "v0_start": start.value("v0"),
        "v0_state_independent": v0_flat,
        "rms_relative_current_error": {"fitted": rms(r_fit), "state_independent": rms(r_flat), "start_card": rms(r_start),
                                       "ohmic": rms(r_ohmic)},
        "nonlinearity_G_vmax_over_G_0p1": {
            "measured_median": float(np.median(measured[usable])),
            "measured_iqr": [float(np.quantile(measured[usable], 0.25)), float(np.quantile(measured[usable], 0.75))],
            "model_median": float(np.median(ratio_fit[usable])),
            "model_range": [float(np.min(ratio_fit)), float(np.max(ratio_fit))],
            "state_independent_model": float(np.median(ratio_flat)),
            "by_resistance_band": bands,
            "rms_band_median_error": {"fitted": band_error("model_median"),
                                      "state_independent": band_error("state_independent_model_median")},
        },
        "offset_current_A": {"median": float(np.median(offset)), "iqr": [float(np.quantile(offset, 0.25)),
                                                                         float(np.quantile(offset, 0.75))]},
        "read_resistance_at_v_read": {"v_read": v_read, "median_ohm": float(np.median(resistance_read)),
                                      "p01_ohm": float(np.quantile(resistance_read, 0.01)),
                                      "p99_ohm": float(np.quantile(resistance_read, 0.99))},
        "share_h": {"at_gmin": float(1 - math.exp(-card.value("gmin") / g_h)),
                    "cells_median": float(np.median(1 - np.exp(-np.maximum(gaps, 0) / g_h)))},
        "temperature_series": {
            "files": [{"path": str(sweep.source.path), "temperature_c": t, "points": len(sweep),
                       "cells": int(np.count_nonzero(reads.block_count[:, b]))}
                      for b, (sweep, t) in enumerate(zip(series.sweeps, series.temperatures_c))],
            "temperature_origin": series.temperature_origin, "distinct_temperatures_c": list(temperatures),
            "eac_fitted": fit_eac, "eac_eV": card.value("eac"), "eac_ci95": ci.get("eac"),
            "reference_file": ref, "rms_relative_current_error_by_file": [
                float(np.sqrt(np.sum(r_fit[:, block] ** 2) / max(int(reads.block_count[:, b].sum()), 1)))
                for b, (_, block) in enumerate(reads.blocks)]},
    }
    nl = metrics["nonlinearity_G_vmax_over_G_0p1"]
    summary = [
        f"low-field I-V of {cells} cells up to {v_max:g} V: v0 = {v0:.3g} V, g_h = {g_h * 1e9:.3g} nm "
        f"(the nonlinearity's voltage scale v0/h, h = 1 - exp(-g/g_h): {metrics['share_h']['at_gmin']:.2f} at gmin)",
        f"rms relative current error: fitted {rms(r_fit):.4f}, state-independent shape (v0 {v0_flat:.3g} V) "
        f"{rms(r_flat):.4f}, start card {rms(r_start):.4f}, ohmic {rms(r_ohmic):.4f}",
        f"G({v_max:g} V)/G(0.1 V) per resistance band, measured -> model: "
        + ", ".join(f"{row['r_low_ohm'] / 1e3:.3g}-{row['r_high_ohm'] / 1e3:.3g} kohm {row['measured_median']:.3f} -> "
                    f"{row['model_median']:.3f}" for row in bands)
        + f" (rms {nl['rms_band_median_error']['fitted']:.3f}; the state-independent shape "
        f"{nl['state_independent_model']:.3f} everywhere, rms {nl['rms_band_median_error']['state_independent']:.3f})",
    ]
    if fit_eac:
        low_eac, high_eac = ci["eac"] or (math.nan, math.nan)
        summary.append(f"activation energy of the gap conduction eac = {eac:.4g} eV (95 % CI {low_eac:.4g} .. "
                       f"{high_eac:.4g}) from {cells} cells read at {temps_text} C: the current's activation energy "
                       f"is h eac, {metrics['share_h']['at_gmin'] * eac:.3g} eV at gmin")
    else:
        summary.append(f"eac NOT fitted (reads at {temps_text} C only): {start.value('eac'):.3g} eV, {eac_source} "
                       "(a fallback)")
    return FitOutcome(
        kind="levels", card=card, parameters=rows, metrics=metrics,
        settings={"model": "I = offset + i0 exp(-g/g0) (V/v0) sinhc(h V/v0), h = 1 - exp(-g/g_h), per-cell gap and "
                           "offset, v0 and g_h shared; residuals scaled by each cell's largest current; rs from the "
                           "start card" + ("; one gap per cell across the temperatures, theta = exp(-h eac/k (1/T - "
                                           "1/Tnom)), an offset per cell and file" if fit_eac else ""),
                  "v_read": v_read, "fitted": ["v0", "g_h", "i0"] + ["eac"] * fit_eac,
                  "temperatures_c": list(series.temperatures_c),
                  "confidence": "95 %: curvature of the profiled sum of squares in (ln v0, ln g_h"
                                + (", eac)" if fit_eac else ")"),
                  "summary": summary},
        curves={"names": reads.names, "groups": reads.block_groups[ref], "gaps": gaps, "offset": offset,
                "measured_ratio": measured, "model_ratio": ratio_fit, "resistance": resistance_read,
                "reference_file": ref, "offsets_by_file": offsets},
        flags=flags, nfev=int(result.nfev), runtime_s=_time.perf_counter() - began,
    )


def _row(value, ci, unit, initial, bounds, x, se_ln, name) -> dict[str, Any]:
    se = float(se_ln) if np.isfinite(se_ln) else None
    return {"value": value, "stderr": value * se if se is not None else None, "ci95": ci, "unit": unit, "vary": True,
            "initial": initial, "fit_space": {"name": name, "value": float(x), "stderr": se,
                                              "lower": math.log(bounds[0]), "upper": math.log(bounds[1])}}


def ngspice_reads(card: ModelCard, gaps: Sequence[float], v_max: float, temp_c: float, workdir,
                  points: int = 36) -> tuple[np.ndarray, np.ndarray]:
    """DC sweep 0 .. v_max of the compiled model, one device per gap (each at its own gap,
    inside its own bounds), at ambient temp_c: (voltages, currents of each device)."""
    from circuitkit.spice.runner import run_batch

    # one device per branch, each with its own ammeter
    body = ["* circuitkit fit: low-field reads of fitted cells", f".temp {temp_c:.10g}", card.model_line("rram_fit"),
            "Vread r 0 0"]
    for j, gap in enumerate(gaps):
        body += [f"Vm{j} r n{j} 0",
                 f"N{j} n{j} 0 rram_fit {card.instance_parameters(where=f'device N{j}', **card.instance_for_gap(gap))}"]
    body += [f".dc Vread 0 {v_max:.6g} {v_max / (points - 1):.6g}", ".end"]
    result = run_batch("\n".join(body) + "\n", name="levels", workdir=workdir)
    volts = np.asarray(result["v(r)"]).ravel()
    return volts, np.array([np.asarray(result[f"i(vm{j})"]).ravel() for j in range(len(gaps))])


def resimulate(outcome: FitOutcome, data: "IVSweep | LevelsSeries", workdir, cells: int = 64
               ) -> tuple[Any, dict, dict]:
    """ngspice DC sweeps of the compiled model for a spread of cells (each at its fitted gap),
    at every temperature of the reads: its currents against the Python equation's and the
    data's."""
    card = outcome.card
    series = LevelsSeries.of(data, card)
    all_gaps, offsets = outcome.curves["gaps"], outcome.curves["offsets_by_file"]
    reads = _Reads(series)
    order = np.argsort(all_gaps)
    chosen = [int(k) for k in order[np.linspace(0, len(order) - 1, min(cells, len(order))).astype(int)]
              if all_gaps[k] >= 0]
    gaps = [float(all_gaps[k]) for k in chosen]
    errors, data_errors, by_temperature, curves = [], [], [], []
    for b, (sweep, temp) in enumerate(zip(series.sweeps, series.temperatures_c)):
        volts, spice_currents = ngspice_reads(card, gaps, float(np.max(sweep.voltage)), temp, workdir)
        ok = volts > 0.02
        block_errors, block_data_errors = [], []
        for j, k in enumerate(chosen):
            python = card.current(volts, gaps[j], temp_c=temp)
            block_errors.append(np.max(np.abs(spice_currents[j][ok] / python[ok] - 1)))
            if reads.block_count[k, b]:
                v, i = reads.block_reads(k, b)
                measured = np.interp(volts[ok], v, i) - offsets[k, b]
                block_data_errors.append(np.sqrt(np.mean((spice_currents[j][ok] / measured - 1) ** 2)))
        errors += block_errors
        data_errors += block_data_errors
        by_temperature.append({"temperature_c": temp, "max_relative_difference_ngspice_vs_python":
                               float(np.max(block_errors)), "median_rms_relative_error_ngspice_vs_data":
                               float(np.median(block_data_errors)) if block_data_errors else None})
        curves.append({"volts": volts, "currents": spice_currents})
    metrics = {"cells": len(chosen), "max_relative_difference_ngspice_vs_python": float(np.max(errors)),
               "median_rms_relative_error_ngspice_vs_data": float(np.median(data_errors))}
    if len(series.sweeps) > 1:
        metrics["by_file"] = by_temperature
    return {"chosen": chosen, "by_file": curves}, metrics, {"cells_simulated": len(chosen)}


def plot(path, data: "IVSweep | LevelsSeries", outcome: FitOutcome, spice, name: str):
    """Six cells' reads with the fitted and the state-independent shape; G(V_max)/G(0.1 V)
    against resistance, measured and modelled (the file nearest tnom of a temperature series)."""
    from circuitkit.report.fit_plots import finish as _finish, plt

    card = outcome.card
    series = LevelsSeries.of(data, card)
    ref = outcome.curves["reference_file"]
    sweep, tnom = series.sweeps[ref], series.temperatures_c[ref]
    groups, gaps, offset = outcome.curves["groups"], outcome.curves["gaps"], outcome.curves["offset"]
    metrics = outcome.metrics
    flat = card.with_values({"v0": metrics["v0_state_independent"], "g_h": 0.0})
    fig, (ax_iv, ax_ratio) = plt.subplots(1, 2, figsize=(11, 4.6))
    order = np.array([k for k in np.argsort(gaps) if groups[k].size])
    for k in order[np.linspace(0, len(order) - 1, 6).astype(int)]:
        rows = groups[k]
        v, i = sweep.voltage[rows], sweep.current[rows] - offset[k]
        line, = ax_iv.plot(v, i * 1e6, "o", markersize=3, markerfacecolor="none")
        grid = np.linspace(1e-3, v.max(), 100)
        fitted = card.current(grid, gaps[k], temp_c=tnom)
        ax_iv.plot(grid, fitted * 1e6, color=line.get_color(), linewidth=1.2)
        shape = flat.current(grid, gaps[k], temp_c=tnom)
        ax_iv.plot(grid, shape * fitted[0] / shape[0] * 1e6, color=line.get_color(), linewidth=0.8, linestyle=":")
    ax_iv.set_xlabel("read voltage (V)")
    ax_iv.set_ylabel("current minus offset (uA)")
    ax_iv.set_title(f"6 of {len(groups)} cells: dots measured, line fitted (v0 {card.value('v0'):.3g} V, g_h "
                    f"{card.value('g_h') * 1e9:.3g} nm), dotted state-independent shape", fontsize=8)
    ax_iv.grid(True, alpha=0.3)
    ratio, model, resistance = (outcome.curves[k] for k in ("measured_ratio", "model_ratio", "resistance"))
    ok = np.isfinite(ratio)
    ax_ratio.semilogx(resistance[ok], np.clip(ratio[ok], 0.5, 2.0), ".", color="0.6", markersize=2.5,
                      label="measured cells")
    bands = metrics["nonlinearity_G_vmax_over_G_0p1"]["by_resistance_band"]
    centre = [math.sqrt(b["r_low_ohm"] * b["r_high_ohm"]) for b in bands]
    ax_ratio.plot(centre, [b["measured_median"] for b in bands], "ko-", markersize=4, label="measured, band median")
    order = np.argsort(resistance)
    ax_ratio.plot(resistance[order], model[order], color="tab:blue", linewidth=1.5, label="model, fitted")
    ax_ratio.axhline(metrics["nonlinearity_G_vmax_over_G_0p1"]["state_independent_model"], color="tab:red",
                     linestyle=":", label="state-independent shape")
    ax_ratio.axhline(1.0, color="0.2", linewidth=0.8, label="ohmic")
    ax_ratio.set_ylim(0.8, 1.6)
    ax_ratio.set_xlabel(f"read resistance at {metrics['read_resistance_at_v_read']['v_read']:g} V (ohm)")
    ax_ratio.set_ylabel(f"G({metrics['v_max']:g} V) / G(0.1 V)")
    ax_ratio.legend(fontsize=7)
    ax_ratio.set_title("super-linearity of the low-field I-V against the state", fontsize=9)
    return _finish(fig, path, f"{name}: low-field I-V, rram_hfox current equation")
