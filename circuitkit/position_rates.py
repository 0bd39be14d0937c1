"""Misread probabilities by cell position in a 2T2R array: the contract between the array
read in ngspice (`corners.positions`) and the error injection (`inject.placement.PositionErrors`).

Model (said in every table). The chip-size array bench (`netlist.arrays.ArrayReadBench`)
measures each read cell's sense margin m (V(Q) - V(Qb) at `t_margin`, signed by the
expected value) with the layout's wires and again with ideal wires (m_ideal, same cell, same
read schedule). Wire resistance in series with both branches shrinks the PCSA's view of the
cell's log resistance ratio; the table takes the margin-equivalent log ratio as

    D_eff = D * m / m_ideal        (margin locally proportional to the log ratio: an assumption)

and the misread probabilities of the offset method (`sense_offset.error_probabilities`:
Gaussian input-referred offset fitted by a rare-event campaign, lognormal programmed
states) at that D_eff, with their delta-method 95 % intervals (the fit's and the states'
uncertainty; the ngspice margins are deterministic). Measured rows/columns are the data;
rows between them are interpolated linearly in the row index (extrapolation is refused).

The offset distribution is a campaign's measurement (`circuitkit ber --method offset`: its
`offset_fits` at the array's condition, read by `campaign_offset_fits`); the table names
it (`offset`: campaign, condition, fitted threshold and spread with their standard errors,
simulated reads).

CSV (`write_csv` / `read_csv`): one line per measured position: row, column, margin_v,
ideal_margin_v, log_ratio_scale, p_plus (P(read -1 | stored +1)), p_plus_low, p_plus_high,
p_minus, p_minus_low, p_minus_high; `#` header lines give the array shape and the model,
then the offset distribution it assumed.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.ber_table import Condition
from circuitkit.sense_offset import OffsetFit, error_probabilities

COLUMNS = ("row", "column", "margin_v", "ideal_margin_v", "log_ratio_scale", "p_plus", "p_plus_low",
           "p_plus_high", "p_minus", "p_minus_low", "p_minus_high")
MODEL = ("offset method (Gaussian PCSA offset, lognormal states) at the margin-equivalent log ratio "
         "D*m/m_ideal; margins from ngspice; rows between measured rows interpolated linearly")


@dataclasses.dataclass(frozen=True)
class PositionRates:
    """Per measured (row, column) of an `array_rows` x `array_columns` array: margins (V),
    the log-ratio scale and P(misread | stored +1 / -1) as (estimate, low, high) in the
    last axis of `p_plus` / `p_minus` (shape rows x columns x 3)."""

    array_rows: int
    array_columns: int
    rows: np.ndarray
    columns: np.ndarray
    margin_v: np.ndarray
    ideal_margin_v: np.ndarray
    log_ratio_scale: np.ndarray
    p_plus: np.ndarray
    p_minus: np.ndarray
    offset: str = ""        # the offset distribution assumed (`describe_offset`)

    def __post_init__(self) -> None:
        shape = (len(self.rows), len(self.columns))
        for name in ("margin_v", "ideal_margin_v", "log_ratio_scale"):
            if np.shape(getattr(self, name)) != shape:
                raise CircuitkitError(f"PositionRates: {name} has shape {np.shape(getattr(self, name))}, expected {shape}")
        if np.any(np.diff(self.rows) <= 0) or np.any(np.diff(self.columns) <= 0):
            raise CircuitkitError("PositionRates: measured rows and columns must be increasing")
        if self.rows[0] != 0 or self.rows[-1] != self.array_rows - 1:
            raise CircuitkitError(f"PositionRates: the measured rows {list(self.rows)} must include the first and "
                                  f"last row (0 and {self.array_rows - 1}): rows are interpolated, never extrapolated")
        if len(self.columns) != self.array_columns:
            raise CircuitkitError(f"PositionRates: every column must be measured ({len(self.columns)} of "
                                  f"{self.array_columns}); the array reads all columns at once")

    @property
    def mean_error_rate(self) -> float:
        """Over the whole array (rows interpolated) and both stored values."""
        p_plus, p_minus = self.cell_rates()
        return float((p_plus.mean() + p_minus.mean()) / 2)

    def cell_rates(self) -> tuple[np.ndarray, np.ndarray]:
        """P(misread | +1), P(misread | -1) for every cell (array_rows x array_columns)."""
        every_row = np.arange(self.array_rows)

        def interpolate(values: np.ndarray) -> np.ndarray:
            return np.stack([np.interp(every_row, self.rows, values[:, k]) for k in range(len(self.columns))], axis=1)

        return interpolate(self.p_plus[..., 0]), interpolate(self.p_minus[..., 0])

    def write_csv(self, path: Path | str) -> Path:
        path = Path(path)
        with path.open("w", newline="") as handle:
            handle.write(f"# circuitkit position rates: array {self.array_rows} x {self.array_columns}; model: {MODEL}\n")
            handle.write(f"# offset: {self.offset or 'not stated'}\n")
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for i, r in enumerate(self.rows):
                for k, col in enumerate(self.columns):
                    writer.writerow([int(r), int(col), f"{self.margin_v[i, k]:.6g}", f"{self.ideal_margin_v[i, k]:.6g}",
                                     f"{self.log_ratio_scale[i, k]:.6g}",
                                     *(f"{v:.6g}" for v in self.p_plus[i, k]), *(f"{v:.6g}" for v in self.p_minus[i, k])])
        return path

    @classmethod
    def read_csv(cls, path: Path | str) -> PositionRates:
        path = Path(path)
        try:
            lines = path.read_text().splitlines()
            header = lines[0]
            shape = header.split("array ", 1)[1].split(";", 1)[0]
            array_rows, array_columns = (int(v) for v in shape.split(" x "))
            comments = [line for line in lines[1:] if line.startswith("#")]
            offset = next((line.split(":", 1)[1].strip() for line in comments if line.startswith("# offset:")), "")
            table = list(csv.DictReader(line for line in lines[1:] if not line.startswith("#")))
            missing = [name for name in COLUMNS if name not in (table[0] if table else {})]
            if missing:
                raise CircuitkitError(f"{path}: missing column(s) {', '.join(missing)}")
            rows = np.unique([int(line["row"]) for line in table])
            columns = np.unique([int(line["column"]) for line in table])
            grid = {name: np.full((len(rows), len(columns)), np.nan) for name in COLUMNS[2:]}
            for line in table:
                i, k = np.searchsorted(rows, int(line["row"])), np.searchsorted(columns, int(line["column"]))
                for name in grid:
                    grid[name][i, k] = float(line[name])
        except (OSError, IndexError, ValueError, KeyError) as error:
            raise CircuitkitError(f"{path}: not a position-rate table ({error!r}); expected the header "
                                  f"'# circuitkit position rates: array R x C; ...' and columns {', '.join(COLUMNS)}") from None
        if not table:
            raise CircuitkitError(f"{path}: a position-rate table without rows")
        for name, values in grid.items():
            if np.isnan(values).any():
                i, k = np.argwhere(np.isnan(values))[0]
                raise CircuitkitError(f"{path}: no {name} for row {rows[i]}, column {columns[k]}: every measured row "
                                      "needs every column")
        for name in COLUMNS[5:]:
            if np.any((grid[name] < 0) | (grid[name] > 1)):
                i, k = np.argwhere((grid[name] < 0) | (grid[name] > 1))[0]
                raise CircuitkitError(f"{path}: {name} = {float(grid[name][i, k])!r} at row {rows[i]}, column {columns[k]}: "
                                      "expected a probability in [0, 1]")
        try:
            return cls(array_rows, array_columns, rows, columns, grid["margin_v"], grid["ideal_margin_v"],
                       grid["log_ratio_scale"],
                       np.stack([grid["p_plus"], grid["p_plus_low"], grid["p_plus_high"]], axis=-1),
                       np.stack([grid["p_minus"], grid["p_minus_low"], grid["p_minus_high"]], axis=-1), offset)
        except CircuitkitError as error:
            raise CircuitkitError(f"{path}: {error}") from None


def position_rates(margin_v: np.ndarray, ideal_margin_v: np.ndarray, rows, array_shape: tuple[int, int],
                   fit: OffsetFit, states, offset: str = "") -> PositionRates:
    """The table from measured margins (read rows x all columns) with and without wire
    resistance, an offset fit and the programmed states (see the module docstring);
    `offset` says where the fit comes from (`describe_offset`)."""
    margin_v, ideal_margin_v = np.asarray(margin_v, float), np.asarray(ideal_margin_v, float)
    if np.any(ideal_margin_v <= 0) or not np.all(np.isfinite(margin_v)):
        raise CircuitkitError("position_rates: every ideal-wire margin must be > 0 and every margin finite "
                              "(a read that failed with ideal wires has no margin-equivalent log ratio)")
    scale = np.clip(margin_v / ideal_margin_v, 0.0, None)
    p_plus, p_minus = np.empty(scale.shape + (3,)), np.empty(scale.shape + (3,))
    for index in np.ndindex(scale.shape):
        probabilities = error_probabilities(fit, states, float(scale[index]))
        p_plus[index], p_minus[index] = probabilities[+1], probabilities[-1]
    return PositionRates(array_shape[0], array_shape[1], np.asarray(rows, int), np.arange(scale.shape[1]),
                         margin_v, ideal_margin_v, scale, p_plus, p_minus, offset)


def campaign_offset_fits(campaign_json: Path | str) -> tuple[dict[Condition, OffsetFit], dict[str, Any]]:
    """The sense-amplifier offset fits of a campaign run with `--method offset`, by
    condition, and its device settings (`settings.device`, or `settings.spread` in files of
    earlier campaigns; a dict for `device.nonideality.DeviceNonideality.from_dict`)."""
    path = Path(campaign_json)
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CircuitkitError(f"{path}: cannot read the campaign summary: {error}") from None
    entries = summary.get("offset_fits") or []
    if not entries:
        raise CircuitkitError(f"{path}: no offset_fits; run the campaign with `circuitkit ber --method offset`")
    try:
        settings = summary["settings"]
        device = settings["device"] if "device" in settings else settings["spread"]
        fits = {}
        for entry in entries:
            condition = Condition(entry["corner"], float(entry["vdd"]), float(entry["temp_c"]), entry["scheme"])
            if entry.get("status", "ok") != "ok":   # a condition whose offset reads failed: no fit to use
                raise CircuitkitError(f"{path}: {condition.label()}: {entry['status']}; no offset fit to place "
                                      "errors with")
            fits[condition] = OffsetFit.from_dict(entry)
    except (KeyError, TypeError, ValueError) as error:
        raise CircuitkitError(f"{path}: malformed offset fit or device spread ({error!r})") from None
    return fits, device


def describe_offset(fit: OffsetFit, source: str) -> str:
    """One line naming an offset fit and its numbers, for a table's header."""
    se_x0, se_sigma = np.sqrt(np.clip(np.diag(fit.covariance), 0.0, None))
    bound = "; separated outcomes: sigma is an upper bound" if fit.separated else ""
    return (f"{source}: Gaussian offset, threshold x0 {fit.x0:+.4g} (s.e. {se_x0:.2g}), sigma {fit.sigma:.4g} "
            f"(s.e. {se_sigma:.2g}) in ln(R_BLb/R_BL), probit fit of {int(np.sum(fit.trials))} simulated reads at "
            f"{len(fit.points)} offset points{bound}")
