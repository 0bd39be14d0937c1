"""Errors where the hardware puts them: weight layers mapped onto 2T2R arrays, and
error models per layer (independent per weight, or correlated along a column because
one sense amplifier reads the whole column).

Mapping (`ArrayGeometry`). Each weight layer is a matrix with one column per output
neuron (dense) or output channel (convolution: kh * kw * c_in rows, the patch a
column is multiplied with). It is cut into tiles of `rows` x `columns` cells; as
`circuitkit.netlist.arrays` builds them, every column of a tile has its own precharge
sense amplifier (PCSA), which reads the tile's rows one word line at a time. Weight
(i, j) of a layer is read by amplifier (i // rows, j): a neuron whose fan-in exceeds
`rows` is spread over several amplifiers. (`columns` only groups amplifiers into arrays:
the error models below do not depend on it.)

Error models (small frozen configs, one per weight layer, in a `HardwareErrors`):

- `IndependentErrors(transition)`: every weight read independently with the transition
  matrix P(read | stored) of one condition (`ErrorInjector`, exact and fast).
- `ColumnOffsetErrors(fit, device, geometry)`: the rare-event campaign's fit of the sense
  amplifier's input-referred offset (`sense_offset.OffsetFit`: threshold x0, spread sigma
  in log-resistance-ratio units) and the device's programmed LRS/HRS distributions
  (`device.nonideality.DeviceNonideality`). For every chip (trial) each amplifier draws
  its own offset o ~ N(0, sigma^2); every weight it reads is then misread independently
  with P(misread | stored, o) (`sense_offset.conditional_error_probabilities`). Averaged
  over amplifiers this is the campaign's BER (`error_probabilities`), so it can be
  compared with `IndependentErrors` at the same mean BER: only the placement differs.

- `PositionErrors(table)`: each weight misread independently with the probability of
  its cell's position in its array (`position_rates.PositionRates`, measured in ngspice
  on the chip-size 2T2R array: far rows sit behind more wire and have less margin).
  Weight (i, j) sits in row i % rows and column j % columns of its tile, the table's
  array shape being the tile. `marginal()` is the same mean rate placed uniformly.

Per-condition tables per layer: give each layer the `IndependentErrors` of its own
condition (e.g. the first layer at a weak corner): `HardwareErrors.per_layer(...)`.

Draws: trial t of a run uses `trial_generator(seed, t)`, layers in order; corrupted
copies depend only on (seed, t, network, error models), never on chunking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.ber_table import Condition, TransitionMatrix
from circuitkit.device.nonideality import DeviceNonideality
from circuitkit.inject.networks import QuantizedNetwork
from circuitkit.inject.sampler import ErrorInjector
from circuitkit.seeding import Seed, trial_generator
from circuitkit.position_rates import PositionRates, campaign_offset_fits
from circuitkit.sense_offset import OffsetFit, conditional_error_probabilities, error_probabilities


@dataclass(frozen=True)
class ArrayGeometry:
    """Rows x columns of one 2T2R array; one PCSA per column reads `rows` weights."""

    rows: int = 128
    columns: int = 128

    def __post_init__(self) -> None:
        if self.rows < 1 or self.columns < 1:
            raise CircuitkitError(f"array geometry needs rows and columns >= 1, got {self.rows} x {self.columns}")

    def amplifier_of(self, matrix_shape: tuple[int, int]) -> np.ndarray:
        """For a (fan_in, fan_out) weight matrix: the index of the amplifier reading
        each weight, in the matrix's C order (amplifier = (i // rows) * fan_out + j)."""
        fan_in, fan_out = matrix_shape
        row_block = np.arange(fan_in) // self.rows
        return (row_block[:, None] * fan_out + np.arange(fan_out)[None, :]).ravel()

    def amplifiers(self, matrix_shape: tuple[int, int]) -> int:
        fan_in, fan_out = matrix_shape
        return -(-fan_in // self.rows) * fan_out

    def arrays(self, matrix_shape: tuple[int, int]) -> int:
        """How many rows x columns arrays the matrix occupies."""
        fan_in, fan_out = matrix_shape
        return -(-fan_in // self.rows) * -(-fan_out // self.columns)


@dataclass(frozen=True)
class IndependentErrors:
    """Each weight misread independently with `transition` (one condition's table)."""

    transition: TransitionMatrix
    label: str = ""

    @property
    def mean_error_rate(self) -> float:
        return self.transition.error_rate


@dataclass(frozen=True, eq=False)
class ColumnOffsetErrors:
    """Each sense amplifier draws an offset per chip; its column fails together (binary)."""

    fit: OffsetFit
    device: DeviceNonideality
    geometry: ArrayGeometry = ArrayGeometry()
    label: str = ""

    @property
    def mean_error_rate(self) -> float:
        """The campaign's BER: P(misread) averaged over stored values and offsets."""
        return float(np.mean([error_probabilities(self.fit, self.device.states)[s][0] for s in (+1, -1)]))

    def marginal(self) -> IndependentErrors:
        """The same mean error probabilities placed independently on every weight."""
        probabilities = error_probabilities(self.fit, self.device.states)
        p_plus, p_minus = probabilities[+1][0], probabilities[-1][0]
        matrix = np.array([[1 - p_minus, p_minus], [p_plus, 1 - p_plus]])
        return IndependentErrors(TransitionMatrix((-1, 1), matrix), f"{self.label} (independent, same mean BER)")


@dataclass(frozen=True, eq=False)
class PositionErrors:
    """Each weight misread independently with its array position's rate (binary)."""

    table: PositionRates
    label: str = ""

    @property
    def geometry(self) -> ArrayGeometry:
        return ArrayGeometry(self.table.array_rows, self.table.array_columns)

    @property
    def mean_error_rate(self) -> float:
        return self.table.mean_error_rate

    def weight_rates(self, matrix_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """P(misread | +1), P(misread | -1) of each weight of a (fan_in, fan_out) matrix, C order."""
        fan_in, fan_out = matrix_shape
        p_plus, p_minus = self.table.cell_rates()
        row = (np.arange(fan_in) % self.table.array_rows)[:, None]
        column = (np.arange(fan_out) % self.table.array_columns)[None, :]
        return p_plus[row, column].ravel(), p_minus[row, column].ravel()

    def marginal(self) -> IndependentErrors:
        """The table's mean rates of the whole array, on every weight alike."""
        p_plus, p_minus = (rates.mean() for rates in self.table.cell_rates())
        matrix = np.array([[1 - p_minus, p_minus], [p_plus, 1 - p_plus]])
        return IndependentErrors(TransitionMatrix((-1, 1), matrix), f"{self.label} (independent, same mean BER)")


ErrorModel = Union[IndependentErrors, ColumnOffsetErrors, PositionErrors]


def offset_models(campaign_json: str | Path, geometry: ArrayGeometry = ArrayGeometry()) -> dict[Condition, ColumnOffsetErrors]:
    """The column models of every condition of a campaign run with `--method offset`:
    its `offset_fits` and the device of its settings (`campaign.json`; `spread` in files
    of earlier campaigns)."""
    fits, device_settings = campaign_offset_fits(campaign_json)
    try:
        device = DeviceNonideality.from_dict(device_settings)
    except (KeyError, TypeError, ValueError, CircuitkitError) as error:
        raise CircuitkitError(f"{campaign_json}: malformed device spread ({error!r})") from None
    return {condition: ColumnOffsetErrors(fit, device, geometry, condition.label()) for condition, fit in fits.items()}


@dataclass(frozen=True, eq=False)
class HardwareErrors:
    """One error model per weight layer of a network (in order)."""

    layers: tuple[ErrorModel, ...]

    @classmethod
    def uniform(cls, network: QuantizedNetwork, model: ErrorModel) -> HardwareErrors:
        return cls(tuple(model for _ in network.weight_layers))

    @classmethod
    def per_layer(cls, network: QuantizedNetwork, models: Sequence[ErrorModel]) -> HardwareErrors:
        if len(models) != len(network.weight_layers):
            raise CircuitkitError(f"{len(models)} error models for a network with {len(network.weight_layers)} "
                                  "weight layers; give one per layer")
        return cls(tuple(models))

    def mean_error_rate(self, network: QuantizedNetwork) -> float:
        """Weight-count-weighted mean misread probability over the layers."""
        sizes = np.array([w.size for w in network.weights], dtype=float)
        return float(np.dot(sizes, [m.mean_error_rate for m in self.layers]) / sizes.sum())


class HardwareInjector:
    """Corrupted copies of a network's flat weights under per-layer error models."""

    def __init__(self, network: QuantizedNetwork, errors: HardwareErrors) -> None:
        if len(errors.layers) != len(network.weight_layers):
            raise CircuitkitError(f"{len(errors.layers)} error models for {len(network.weight_layers)} weight layers")
        self.network = network
        self.slices = network.layer_slices()
        self._clean = network.flat_weights()
        self._samplers = []
        for layer, model in zip(network.weight_layers, errors.layers):
            weights = layer.weight.ravel()
            if isinstance(model, IndependentErrors):
                self._samplers.append(ErrorInjector(weights, model.transition.alphabet, model.transition.matrix))
            elif isinstance(model, ColumnOffsetErrors):
                if network.kind != "bnn":
                    raise CircuitkitError("column-offset errors model the binary 2T2R read of a bnn; "
                                          f"this network is a {network.kind}")
                # Reshape to the array's matrix: rows = the patch / fan-in, columns = outputs.
                self._samplers.append(_ColumnSampler(weights, layer.matrix_shape, model))
            elif isinstance(model, PositionErrors):
                if network.kind != "bnn":
                    raise CircuitkitError("position errors model the binary 2T2R read of a bnn; "
                                          f"this network is a {network.kind}")
                self._samplers.append(_PositionSampler(weights, *model.weight_rates(layer.matrix_shape)))
            else:
                raise CircuitkitError(f"unknown error model {type(model).__name__}")

    def corrupted(self, trials: int, seed: Seed, *, first_trial: int = 0) -> np.ndarray:
        out = np.empty((trials, self._clean.size), dtype=self._clean.dtype)
        out[:] = self._clean
        for row, trial in enumerate(range(first_trial, first_trial + trials)):
            rng = trial_generator(seed, trial)
            for region, sampler in zip(self.slices, self._samplers):
                positions, values = sampler.trial_errors(rng)
                out[row, region.start + positions] = values
        return out


class _ColumnSampler:
    """Misreads of one binary layer whose amplifiers each drew an offset."""

    def __init__(self, weights: np.ndarray, matrix_shape: tuple[int, int], model: ColumnOffsetErrors) -> None:
        self.weights = weights
        self.model = model
        self.amplifier = model.geometry.amplifier_of(matrix_shape)
        self.n_amplifiers = model.geometry.amplifiers(matrix_shape)
        self.plus = weights > 0

    def trial_errors(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        offsets = rng.normal(0.0, self.model.fit.sigma, size=self.n_amplifiers)
        p = conditional_error_probabilities(self.model.fit, self.model.device.states, offsets)
        per_weight = np.where(self.plus, p[+1][self.amplifier], p[-1][self.amplifier])
        wrong = np.flatnonzero(rng.random(self.weights.size) < per_weight)
        return wrong, -self.weights[wrong]


class _PositionSampler:
    """Misreads of one binary layer, each weight with its position's probability."""

    def __init__(self, weights: np.ndarray, p_plus: np.ndarray, p_minus: np.ndarray) -> None:
        self.weights = weights
        self.per_weight = np.where(weights > 0, p_plus, p_minus)

    def trial_errors(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        wrong = np.flatnonzero(rng.random(self.weights.size) < self.per_weight)
        return wrong, -self.weights[wrong]
