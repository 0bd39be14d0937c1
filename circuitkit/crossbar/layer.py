"""A network layer on analog crossbar tiles: weights as differential conductance pairs
programmed by write-verify, bit-serial inputs, wire IR drop, read noise, drift, ADC.

Mapping. A weight matrix W (inputs x outputs; a bias is one more input row driven at 1)
with w_max = max |W| becomes, per weight, a pair of cells in two neighbouring columns
(+, -): the cell on the weight's side targets level q = round(|w| / w_max (N - 1)) of the
`LevelMap`, the other level 0, so G+ - G- = q x (band spacing) nominally and the pair
encodes 2N - 1 values. Every cell is programmed by the write-verify loop of
`circuitkit.mlc` (fitted pulse model, its spread, noisy verify reads) starting from the
fitted HRS distribution: what the layer holds is what programming left, failures
included. A drift model (`mlc.writeverify.DriftModel`), when given, moves the states
before use: a model card's fitted relaxation (`circuitkit fit --kind retention`,
`card_drift(card)` = `card.relaxation_model()`, a `device.relaxation.RelaxationModel`),
read `drift_t_s` after programming at `drift_temp_c`. Off by default (the layer says so):
the bundled relaxation is fitted on 1 h bakes and extrapolates with an assumed time
exponent, which a user should choose to apply.

Tiles. The physical matrix (inputs x 2 outputs) is cut into tiles of at most
`tile_rows` x `tile_cols` (the chip's arrays); each tile is a `CrossbarNetwork` with the
configured wires (IR drop), linearised at the read voltage into its transfer matrix
(`CrossbarNetwork.transfer_matrix`). Partial sums of row tiles are added digitally
after their ADCs, as on chips that tile large layers.

Reading. Inputs x >= 0 (images, ReLU activations) are quantised to `input_bits` and
applied bit-serially: plane p drives the rows whose bit p is set with the read voltage,
the others with 0 V. Per plane and tile the column currents are I = V @ M, the pair's
difference is quantised by an ADC of `adc_bits` whose full scale is calibrated on
representative inputs (`calibrate`: a quantile of |I+ - I-|), and the planes are
shift-added. Read noise: every input vector is one read of the cells (each cell's
fitted lognormal read-to-read sigma(R)); the planes of a vector are nanoseconds apart and
share it, so it enters the shift-added sum as a Gaussian of variance sum_i code_i^2 V^2
var(G_ij) per column, var(G) = G^2 e^(s^2) (e^(s^2) - 1) the lognormal read's own variance
(the fitted cards reach s = 0.6, where the first-order (G s)^2 is 30 % short; added after the
ADCs; the median-centred read's mean shift G (e^(s^2/2) - 1) is a gain error left out). The result is rescaled to weight units with the nominal
conductance step, so an ideal array returns x @ W.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.crossbar.solver import CrossbarNetwork
from circuitkit.device.model import ModelCard
from circuitkit.mlc.campaign import cards_or_bundled, programming
from circuitkit.mlc.levels import MEASURED_RANGE_S, LevelMap
from circuitkit.mlc.writeverify import DriftModel, ProgrammingResult, write_verify
from circuitkit.netlist.arrays import WireParasitics
from circuitkit.netlist.wires import WireGeometry

DRIFT_OFF = "off (default; a card's fitted relaxation model can be given: drift=card_drift(card))"


def card_drift(card: ModelCard) -> DriftModel | None:
    """The drift hook of a model card: its fitted relaxation model, or None (drift off)."""
    return card.relaxation_model()


@dataclasses.dataclass(frozen=True)
class CrossbarConfig:
    """The hardware a layer runs on (documented defaults; every field settable)."""

    levels: int = 32
    g_low: float = MEASURED_RANGE_S[0]
    g_high: float = MEASURED_RANGE_S[1]
    scheme: str = "dual-direction"
    tolerance: float | None = None  # verify acceptance (S); None: the level's band
    max_pulses: int = 300
    tile_rows: int = 128
    tile_cols: int = 32  # physical columns: 16 differential outputs (the 128 x 16 pairs of Yao et al.'s arrays)
    wires: WireParasitics | None = WireGeometry().parasitics()
    input_bits: int = 8
    adc_bits: int = 8
    adc_quantile: float = 0.999
    read_noise_scale: float = 1.0  # 0: no read noise

    def __post_init__(self) -> None:
        LevelMap(self.levels, self.g_low, self.g_high)
        for name in ("tile_rows", "tile_cols", "input_bits", "adc_bits", "max_pulses"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CircuitkitError(f"crossbar: {name}={value!r}: expected a positive integer")
        if self.tile_cols % 2:
            raise CircuitkitError(f"crossbar: tile_cols={self.tile_cols} must be even (pairs of columns)")
        if not 0 < self.adc_quantile <= 1 or self.read_noise_scale < 0:
            raise CircuitkitError("crossbar: adc_quantile in (0, 1] and read_noise_scale >= 0 expected")

    @property
    def level_map(self) -> LevelMap:
        return LevelMap(self.levels, self.g_low, self.g_high)

    def describe(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["wires"] = "ideal" if self.wires is None else dataclasses.asdict(self.wires)
        return data


class Programmer:
    """Write-verify for a `CrossbarConfig`: the fitted pulse model, its engine and scheme,
    and the start distribution (the bundled real-device cards unless given). Verify reads
    and the layer's reads carry the measured read-to-read noise, as write-verify campaigns
    do (`mlc.engine.with_measured_read_noise`: the pulse card's read term also holds what
    its sweeps cannot attribute to a pulse); `read_noise_source` says what was taken."""

    def __init__(self, config: CrossbarConfig, pulse_card: ModelCard | None = None,
                 start_card: ModelCard | None = None):
        pulse_card, start_card, _ = cards_or_bundled(pulse_card, start_card, log=None)
        self.config, self.pulse_card, self.start_card = config, pulse_card, start_card
        self.model, self.scheme, self.engine, self.read_noise_source = programming(config, pulse_card)
        self.read_noise = self.model.read_noise

    def fabricate(self, cells: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """Fresh cells: their start resistances (the fitted HRS distribution) and their own
        rate offsets (`PulseModel.draw_cell_z`; None for a card without a per-cell part),
        which belong to the physical cell and are kept for every later programming of it."""
        return self.start_card.distribution("HRS").sample(rng, cells), self.model.draw_cell_z(cells, rng)

    def program(self, target: np.ndarray, rng: np.random.Generator, r_start: np.ndarray,
                cell_z: np.ndarray | None = None) -> ProgrammingResult:
        """Write-verify every cell to its target level from `r_start` (fresh cells'
        `fabricate`d start, or their present state in a reprogramming), each with its own
        rate offset `cell_z`."""
        target = np.asarray(target).ravel()
        return write_verify(self.engine, self.scheme, self.config.level_map, target, np.asarray(r_start).ravel(), rng,
                            tolerance=self.config.tolerance, cell_z=cell_z)


def weight_levels(weights: np.ndarray, levels: int, w_max: float) -> np.ndarray:
    """(inputs, 2 x outputs) target levels of the differential pairs (+ then - column)."""
    q = np.clip(np.rint(np.abs(weights) / w_max * (levels - 1)), 0, levels - 1).astype(np.int64)
    pairs = np.zeros((weights.shape[0], weights.shape[1], 2), dtype=np.int64)
    pairs[..., 0] = np.where(weights > 0, q, 0)
    pairs[..., 1] = np.where(weights < 0, q, 0)
    return pairs.reshape(weights.shape[0], 2 * weights.shape[1])


@dataclasses.dataclass
class _Tile:
    rows: slice
    cols: slice  # physical
    transfer: np.ndarray
    noise_weight: np.ndarray  # var(G) of one lognormal read: G^2 e^(s^2) (e^(s^2) - 1)
    v_read: float
    full_scale: float | None = None

    def __post_init__(self) -> None:
        # One product per plane gives both the currents and their read-noise variances;
        # single precision (relative 1e-7 on sums of at most a tile's rows) halves the
        # memory traffic of these large, thin products.
        self.stacked = np.hstack([self.v_read * self.transfer, self.v_read ** 2 * self.noise_weight]).astype(np.float32)


class AnalogLinear:
    """y = x @ W on programmed crossbar tiles (see the module doc)."""

    def __init__(self, weights: np.ndarray, w_max: float, conductance: np.ndarray, target: np.ndarray,
                 config: CrossbarConfig, programmer: Programmer, x_max: float, drift: str = DRIFT_OFF,
                 programming: ProgrammingResult | None = None, cell_z: np.ndarray | None = None):
        self.weights, self.w_max, self.config, self.programmer = weights, w_max, config, programmer
        self.target, self.x_max, self.drift = target, float(x_max), drift
        self.programming = programming
        self.cell_z = cell_z  # each cell's own rate offset (flat, as `target.ravel()`), kept across reprogramming
        self.conductance = conductance
        self._build_tiles()

    # ------------------------------------------------------------------ programming
    @classmethod
    def program(cls, weights: np.ndarray, config: CrossbarConfig, programmer: Programmer, rng: np.random.Generator,
                *, x_max: float = 1.0, w_max: float | None = None, drift: DriftModel | None = None,
                drift_t_s: float = 0.0, drift_temp_c: float | None = None) -> "AnalogLinear":
        """Program `weights` (inputs x outputs) into a fresh array (one chip's draw); with
        `drift`, the array is read `drift_t_s` after programming, kept at `drift_temp_c`
        (default: the pulse model's temperature)."""
        weights = np.asarray(weights, dtype=float)
        if weights.ndim != 2 or not np.all(np.isfinite(weights)):
            raise CircuitkitError(f"crossbar layer: weights must be a finite inputs x outputs matrix, got {weights.shape}")
        w_max = float(np.max(np.abs(weights))) if w_max is None else float(w_max)
        if not w_max > 0:
            raise CircuitkitError("crossbar layer: all weights are zero")
        target = weight_levels(weights, config.levels, w_max)
        r_start, cell_z = programmer.fabricate(target.size, rng)
        result = programmer.program(target, rng, r_start=r_start, cell_z=cell_z)
        resistance = result.r_final
        temp_c = programmer.model.temp_c if drift_temp_c is None else float(drift_temp_c)
        if drift is not None:
            resistance = drift.sample(resistance, drift_t_s, temp_c, rng)
        beyond = drift.extrapolation(drift_t_s, temp_c) if hasattr(drift, "extrapolation") else ""
        note = DRIFT_OFF if drift is None else f"{type(drift).__name__} after {drift_t_s:g} s at {temp_c:g} C" + (
            f"; {beyond}" if beyond else "")
        return cls(weights, w_max, (1.0 / resistance).reshape(target.shape), target, config, programmer, x_max, note,
                   result, cell_z)

    def reprogram(self, weights: np.ndarray, rng: np.random.Generator) -> ProgrammingResult | None:
        """Write new weights in place: only the cells whose target level changes are
        write-verified again, from their present state and with their own rate offsets
        (the same physical cells; keeping w_max). Returns their programming result (None
        if nothing changed)."""
        weights = np.asarray(weights, dtype=float)
        target = weight_levels(np.clip(weights, -self.w_max, self.w_max), self.config.levels, self.w_max)
        changed = np.flatnonzero((target != self.target).ravel())
        self.weights = weights
        if changed.size == 0:
            return None
        flat_g = self.conductance.ravel().copy()
        result = self.programmer.program(target.ravel()[changed], rng, r_start=1.0 / flat_g[changed],
                                         cell_z=None if self.cell_z is None else self.cell_z[changed])
        flat_g[changed] = 1.0 / result.r_final
        self.conductance = flat_g.reshape(self.conductance.shape)
        self.target = target
        self._build_tiles(keep_scale=True)
        return result

    def _build_tiles(self, keep_scale: bool = False) -> None:
        config = self.config
        old = {(t.rows.start, t.cols.start): t.full_scale for t in getattr(self, "tiles", [])} if keep_scale else {}
        card = self.programmer.model.card
        v_read = self.programmer.model.v_read
        sigma = self.programmer.read_noise.sigma_at(1.0 / self.conductance)
        n_in, n_phys = self.conductance.shape
        self.tiles = []
        for r0 in range(0, n_in, config.tile_rows):
            for c0 in range(0, n_phys, config.tile_cols):
                rows, cols = slice(r0, min(r0 + config.tile_rows, n_in)), slice(c0, min(c0 + config.tile_cols, n_phys))
                g = self.conductance[rows, cols]
                network = CrossbarNetwork(g, card, config.wires, v_read)
                s2 = sigma[rows, cols] ** 2
                self.tiles.append(_Tile(rows, cols, network.transfer_matrix(), g ** 2 * np.exp(s2) * np.expm1(s2), v_read,
                                        old.get((r0, c0))))

    # ------------------------------------------------------------------ reading
    @property
    def scale(self) -> float:
        """Weight units per (A x input code unit): undoes read voltage, conductance step, codes."""
        levels = self.config.level_map
        codes = 2 ** self.config.input_bits - 1
        return self.x_max / codes / self.programmer.model.v_read * self.w_max / ((levels.levels - 1) * levels.spacing)

    def effective_weights(self) -> np.ndarray:
        """(G+ - G-) in weight units: what the programmed array holds, wires and noise aside."""
        g = self.conductance.reshape(self.conductance.shape[0], -1, 2)
        levels = self.config.level_map
        return (g[..., 0] - g[..., 1]) * self.w_max / ((levels.levels - 1) * levels.spacing)

    def _codes(self, x: np.ndarray) -> np.ndarray:
        if np.any(x < 0):
            raise CircuitkitError("crossbar layer: inputs must be >= 0 (bit-serial read voltages)")
        top = 2 ** self.config.input_bits - 1
        return np.clip(np.rint(x / self.x_max * top), 0, top).astype(np.int64)

    def _plane_currents(self, bits: np.ndarray, tile: _Tile) -> np.ndarray:
        """I+ - I- of every output of one tile for one bit plane (bits 0/1 per row)."""
        drive = bits if tile.rows == slice(0, bits.shape[1]) else bits[:, tile.rows]
        current = drive @ tile.stacked[:, :tile.transfer.shape[1]]
        return (current[:, 0::2] - current[:, 1::2]).astype(np.float64)

    def _noise(self, codes: np.ndarray, tile: _Tile, rng: np.random.Generator) -> np.ndarray:
        """Read noise of the shift-added output, in plane-current x code units: one read of
        every cell per input vector (its bit planes are nanoseconds apart and see the same
        conductance; input vectors are independent reads), a Gaussian of variance
        sum_i code_i^2 V^2 var(G_ij) per column, the pair's two added."""
        drive = codes if tile.rows == slice(0, codes.shape[1]) else codes[:, tile.rows]
        variance = (drive.astype(np.float32) ** 2) @ tile.stacked[:, tile.transfer.shape[1]:]
        pair = variance[:, 0::2] + variance[:, 1::2]
        return np.sqrt(pair.astype(np.float64)) * rng.standard_normal(pair.shape)

    def calibrate(self, x: np.ndarray) -> None:
        """Set each tile's ADC full scale to the `adc_quantile` of |I+ - I-| over the bit
        planes of `x` (noise-free)."""
        codes = self._codes(np.asarray(x, dtype=float))
        for tile in self.tiles:
            values = [np.abs(self._plane_currents(((codes >> p) & 1).astype(np.float32), tile)).ravel()
                      for p in range(self.config.input_bits)]
            tile.full_scale = max(float(np.quantile(np.concatenate(values), self.config.adc_quantile)), 1e-15)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None, *, adc: bool = True) -> np.ndarray:
        """x @ W as the hardware computes it (rng None: no read noise). Each plane's pair
        currents go through the ADC; the read noise of the vector's one read of its cells
        is added to the shift-added sum (first order: a noise that crosses an ADC step is
        not re-quantised)."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.weights.shape[0]:
            raise CircuitkitError(f"crossbar layer: inputs of shape {x.shape}, expected (batch, {self.weights.shape[0]})")
        codes = self._codes(x)
        out = np.zeros((x.shape[0], self.weights.shape[1]))
        half = 2 ** (self.config.adc_bits - 1) - 1
        for tile in self.tiles:
            if adc and tile.full_scale is None:
                raise CircuitkitError("crossbar layer: calibrate the ADC first (layer.calibrate(x))")
        for p in range(self.config.input_bits):
            bits = ((codes >> p) & 1).astype(np.float32)
            for tile in self.tiles:
                diff = self._plane_currents(bits, tile)
                if adc:
                    step = tile.full_scale / half
                    diff = np.clip(np.rint(diff / step), -half, half) * step
                out[:, tile.cols.start // 2:tile.cols.stop // 2] += (1 << p) * diff
        if rng is not None and self.config.read_noise_scale > 0:
            for tile in self.tiles:
                out[:, tile.cols.start // 2:tile.cols.stop // 2] += self._noise(codes, tile, rng)
        return out * self.scale

    def describe(self) -> dict[str, Any]:
        programming = self.programming
        return {"inputs": int(self.weights.shape[0]), "outputs": int(self.weights.shape[1]), "w_max": self.w_max,
                "x_max": self.x_max, "tiles": len(self.tiles), "drift": self.drift,
                "cells": int(self.conductance.size),
                "programmed_in_band": None if programming is None else float(programming.success.mean()),
                "pulses_per_cell": None if programming is None else float(programming.pulses.mean())}

