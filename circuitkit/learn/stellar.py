"""STELLAR-style on-chip learning (Zhang et al., Science 2023): the update of weight w_ij
is an identical SET or RESET pulse whose direction is

    sign(x_i) * sign(f'(a_j)) * ternarise(e_j),   ternarise(e) = sign(e) if |e| > theta else 0

(x the input, a the output's pre-activation, f its activation, e the output error);
errors below the threshold theta cause no pulse at all. Compared here, on the same
devices and data, with plain sign-SGD (theta = 0: every error sends a pulse) and with
ideal-device SGD (real-valued weights, the exact gradient).

The layer: a fully connected classifier (28 x 28 real MNIST, plus a bias input, 10
sigmoid outputs, one-hot targets), one device per weight read against a reference
conductance (a reference column: w = (G - G_ref) / (G_high - G_low)), read with the
model's read noise on every forward pass (the command uses the measured one,
`mlc.engine.with_measured_read_noise`) (wires ideal, no ADC: the subject is the update
rule). Online learning, one image at a time.

The devices. A pulse's effect comes from the fitted stochastic pulse model
(`device.pulse`, via `mlc.engine`): for the identical SET pulse and RESET pulse (by
default chosen from the card: `weakest_pulses`, the least-energy pulses that move a
device in the middle of its range by a median 0.1 in ln G),
`PulseResponse` tabulates, on a grid of starting conductances, many draws of
ln(G_after / G_before) and the mean energy of the pulse. A device takes a draw at its
present conductance (nearest grid point). Where the card splits its rate spread into a
per-cell and a per-pulse part (`PulseModel.sigma_ln_rate_cell`, from a cycling log), the
draws are tabulated per cell class (CELL_CLASSES equal-probability values of the cell's
own rate offset z) and each device keeps the class it was given at fabrication for all
its pulses; only the per-pulse part is redrawn. So every update has the model's spread, its
state dependence (steps shrink near the bounds the compliance and the RESET set) and its
SET/RESET asymmetry. Two knobs deform the drawn step d for sweeps:

    d' = scale_polarity * d * bound_factor ** nonlinearity

with `reset_scale` (the RESET step relative to the SET step: the asymmetry; 1 is the
model's own) and `nonlinearity` (0: the model's own state dependence; > 0 shrinks steps
further towards the bound the pulse drives to, with bound_factor the distance to that
bound in ln G, normalised to the device's range). `PulseResponse.asymmetry` reports the
resulting mean |RESET step| / mean |SET step| at the middle of the range.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special

from circuitkit import CircuitkitError
from circuitkit.device.pulse import PulseCondition, PulseModel
from circuitkit.inject.data import Dataset
from circuitkit.learn.cnn import class_interleaved
from circuitkit.mlc.engine import ProgrammingEngine, PulseMenu
from circuitkit.mlc.schemes import PulseStep
from circuitkit.stats import mean_interval

# The identical SET and RESET pulses are chosen from the card (`weakest_pulses`): on the
# bundled sweeps' grid (where the pulse model was fitted and is not extrapolated), the pulse
# of least energy whose median step at the middle of the device's range is MEDIAN_STEP.
MEDIAN_STEP = 0.1  # |ln(G_after / G_before)|: about 1/40 of the bundled card's range
SWEEP_WIDTHS = (20e-9, 40e-9, 100e-9, 200e-9, 400e-9, 1e-6, 2e-6)
SWEEP_WORD_LINE = tuple(np.round(np.arange(0.5, 3.41, 0.1), 2))
SWEEP_LINE = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)  # the pulsed bit (SET) or source (RESET) line
RULES = ("stellar", "sign", "ideal")
CELL_CLASSES = 16  # equal-probability values of a device's own rate offset (a card with a per-cell part)


def weakest_pulses(model: PulseModel, median_step: float = MEDIAN_STEP) -> tuple[PulseStep, PulseStep]:
    """The weakest SET and RESET pulses of the sweeps' grid that move a device at the middle
    of its range (ln G halfway between the card's gap bounds) by at least `median_step` in
    ln G, median over the model's per-pulse rate scale (lognormal, median 1: the median
    step is the step at rate scale 1; the programming spread's median is no change).
    Weakest: least energy per pulse there (`ProgrammingEngine`, rate scale 1). The word
    line sets the compliance, so for each (width, line voltage) only the lowest word-line
    voltage that reaches the step competes."""
    if not median_step > 0:
        raise CircuitkitError(f"median_step={median_step!r}: expected > 0 (ln G)")
    r_middle = float(np.sqrt(model.resistance(model.card.value("gmin")) * model.resistance(model.card.value("gmax"))))
    width, line, word = (a.ravel() for a in np.meshgrid(SWEEP_WIDTHS, SWEEP_LINE, SWEEP_WORD_LINE, indexing="ij"))
    fixed = dataclasses.replace(model, sigma_ln_rate=(1e-12, 1e-12), sigma_ln_program=(0.0, 0.0))
    chosen = []
    for polarity in (1, -1):
        v_bl, v_sl = (line, np.zeros_like(line)) if polarity > 0 else (np.zeros_like(line), line)
        after = model.deterministic_after(np.full(width.size, r_middle), PulseCondition(word, v_bl, v_sl, width))
        reaches = np.abs(np.log(r_middle / after)) >= median_step
        # per (width, line voltage), the first word-line voltage that reaches (word varies fastest)
        first = reaches.reshape(-1, len(SWEEP_WORD_LINE))
        rows = np.flatnonzero(first.any(axis=1)) * len(SWEEP_WORD_LINE) + first.argmax(axis=1)[first.any(axis=1)]
        if rows.size == 0:
            kind = "SET" if polarity > 0 else "RESET"
            raise CircuitkitError(f"no {kind} pulse of the sweeps' grid moves a device at {r_middle:.4g} ohm by "
                                  f"{median_step:g} in ln G (median) with this card")
        triples = np.stack([word[rows], v_bl[rows], v_sl[rows]], axis=1)
        menu = PulseMenu.of(triples)
        engine = ProgrammingEngine(fixed, menu)
        menu_rows = menu.index(triples)
        _, charge = engine.apply(np.full(rows.size, r_middle), menu_rows, width[rows], np.random.default_rng(0))
        best = int(np.argmin(engine.energy(charge, menu_rows)))
        chosen.append(PulseStep(float(word[rows][best]), float(v_bl[rows][best]), float(v_sl[rows][best]),
                                float(width[rows][best])))
    return chosen[0], chosen[1]


@dataclasses.dataclass
class PulseResponse:
    """Tabulated per-pulse response of a device to one SET and one RESET pulse."""

    ln_g: np.ndarray           # (K,) grid of ln conductance (S)
    # polarity (+1 SET, -1 RESET) -> (K, C, M) draws of ln(G_after / G_before) per state, cell class, draw
    steps: dict[int, np.ndarray]
    energy: dict[int, np.ndarray]  # polarity -> (K,) mean energy per pulse (J)
    pulses: dict[int, PulseStep]
    reset_scale: float = 1.0
    nonlinearity: float = 0.0
    choice: str = "given by the caller"
    rate_split: str = "all per pulse (no cycling data)"

    @property
    def cell_classes(self) -> int:
        return int(self.steps[1].shape[1])

    def cell_class(self, devices: int, rng: np.random.Generator) -> np.ndarray | None:
        """Each device's own class (its rate offset), drawn once; None with one class (no
        per-cell part: nothing drawn)."""
        return rng.integers(0, self.cell_classes, size=devices) if self.cell_classes > 1 else None

    @classmethod
    def from_model(cls, model: PulseModel, set_pulse: PulseStep | None = None, reset_pulse: PulseStep | None = None,
                   *, g_range: tuple[float, float] = (1e-6, 200e-6), points: int = 48, draws: int = 256,
                   seed: int = 0) -> "PulseResponse":
        """The response to `set_pulse` and `reset_pulse`; without them, to the card's
        `weakest_pulses`."""
        choice = "given by the caller"
        if set_pulse is None or reset_pulse is None:
            chosen = weakest_pulses(model)
            set_pulse, reset_pulse = set_pulse or chosen[0], reset_pulse or chosen[1]
            choice = (f"the card's weakest (least energy) pulses of the sweeps' grid with a median step of at least "
                      f"{MEDIAN_STEP:g} in ln G at the middle of the device's range (learn.stellar.weakest_pulses)")
        if set_pulse.polarity != 1 or reset_pulse.polarity != -1:
            raise CircuitkitError("STELLAR devices need one SET pulse and one RESET pulse")
        menu = PulseMenu.of([set_pulse.triple(), reset_pulse.triple()])
        engine = ProgrammingEngine(model, menu)
        ln_g = np.linspace(np.log(g_range[0]), np.log(g_range[1]), points)
        classes = CELL_CLASSES if model.has_cell_part else 1
        r_before = np.repeat(np.exp(-ln_g), classes * draws)
        cell_z = (np.tile(np.repeat(special.ndtri((np.arange(classes) + 0.5) / classes), draws), points)
                  if classes > 1 else None)
        rng = np.random.default_rng(seed)
        steps, energy = {}, {}
        for polarity, pulse in ((1, set_pulse), (-1, reset_pulse)):
            row = menu.index([pulse.triple()])[0]
            r_after, charge = engine.apply(r_before, np.full(r_before.size, row), pulse.width, rng, cell_z=cell_z)
            steps[polarity] = np.log(r_before / r_after).reshape(points, classes, draws)
            energy[polarity] = engine.energy(charge, np.full(charge.size, row)).reshape(points, -1).mean(axis=1)
        return cls(ln_g, steps, energy, {1: set_pulse, -1: reset_pulse}, choice=choice,
                   rate_split=model.rate_split_text())

    def deformed(self, reset_scale: float = 1.0, nonlinearity: float = 0.0) -> "PulseResponse":
        if reset_scale <= 0 or nonlinearity < 0:
            raise CircuitkitError(f"reset_scale={reset_scale!r} must be > 0 and nonlinearity={nonlinearity!r} >= 0")
        return dataclasses.replace(self, reset_scale=float(reset_scale), nonlinearity=float(nonlinearity))

    @property
    def bounds(self) -> tuple[float, float]:
        """ln G where repeated pulses leave a device: the median after 50 RESET (SET)
        pulses of the model's own response from the middle of the grid (the knobs do not
        move the bounds)."""
        if not hasattr(self, "_bounds"):
            rng = np.random.default_rng(1)
            plain = dataclasses.replace(self, reset_scale=1.0, nonlinearity=0.0)
            ends = []
            for polarity in (-1, 1):
                g = np.full(1024, np.exp(self.ln_g[self.ln_g.size // 2]))
                cell = self.cell_class(g.size, rng)  # 1024 devices, each keeping its class
                for _ in range(50):
                    g = plain._step(g, np.full(g.size, polarity), rng, cell)[0]
                ends.append(float(np.median(np.log(g))))
            self._bounds = (ends[0], ends[1])
        return self._bounds

    def _factor(self, ln_g: np.ndarray, polarity: np.ndarray) -> np.ndarray:
        if self.nonlinearity == 0:
            return np.ones_like(ln_g)
        low, high = self.bounds
        distance = np.where(polarity > 0, high - ln_g, ln_g - low) / (high - low)
        return np.clip(distance, 0.0, 1.0) ** self.nonlinearity

    def apply(self, g: np.ndarray, polarity: np.ndarray, rng: np.random.Generator, cell: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Conductance after one pulse per device (polarity +1 SET, -1 RESET) and its energy
        (J); `cell`: each device's class (`cell_class`), else drawn afresh (a new device)."""
        return self._step(g, polarity, rng, cell)

    def _step(self, g: np.ndarray, polarity: np.ndarray, rng: np.random.Generator, cell: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        ln_g = np.log(g)
        k = np.clip(np.rint((ln_g - self.ln_g[0]) / (self.ln_g[1] - self.ln_g[0])).astype(int), 0, self.ln_g.size - 1)
        draw = rng.integers(0, self.steps[1].shape[2], size=g.shape)
        if cell is None:
            cell = self.cell_class(g.size, rng)
            cell = np.zeros(g.shape, dtype=int) if cell is None else cell.reshape(g.shape)
        step = np.where(polarity > 0, self.steps[1][k, cell, draw], self.steps[-1][k, cell, draw])
        if self.reset_scale != 1.0 or self.nonlinearity != 0.0:
            step = step * np.where(polarity > 0, 1.0, self.reset_scale) * self._factor(ln_g, polarity)
        energy = np.where(polarity > 0, self.energy[1][k], self.energy[-1][k])
        return np.exp(ln_g + step), energy

    def asymmetry(self) -> float:
        """Mean |RESET step| / mean |SET step| in ln G at the middle of the bounds."""
        low, high = self.bounds
        middle = np.full(4096, 0.5 * (low + high))
        rng = np.random.default_rng(0)
        up = np.log(self.apply(np.exp(middle), np.ones(middle.size), rng)[0]) - middle
        down = middle - np.log(self.apply(np.exp(middle), -np.ones(middle.size), rng)[0])
        return float(np.mean(np.abs(down)) / max(np.mean(np.abs(up)), 1e-12))

    def class_steps(self) -> dict[int, np.ndarray]:
        """Per polarity, the median step (ln G, + in the pulse's direction) of each cell class
        at the middle of the bounds, the knobs applied: with a per-cell rate offset one
        identical pulse can leave slow classes still and make fast ones binary."""
        k = int(np.argmin(np.abs(self.ln_g - 0.5 * sum(self.bounds))))
        scale = {1: 1.0, -1: self.reset_scale}
        return {polarity: polarity * scale[polarity] * np.median(self.steps[polarity][k], axis=1)
                for polarity in (1, -1)}

    def describe(self) -> dict[str, Any]:
        low, high = self.bounds
        by_class = self.class_steps()
        return {"median_step_by_cell_class": {"SET": [round(float(v), 4) for v in by_class[1]],
                                              "RESET": [round(float(v), 4) for v in by_class[-1]]},
                "set_pulse": dataclasses.asdict(self.pulses[1]), "reset_pulse": dataclasses.asdict(self.pulses[-1]),
                "pulse_choice": self.choice,
                "reset_scale": self.reset_scale, "nonlinearity": self.nonlinearity,
                "asymmetry_reset_over_set": self.asymmetry(),
                "range_us": [float(np.exp(low) * 1e6), float(np.exp(high) * 1e6)],
                "draws_per_state": int(self.steps[1].shape[2]), "states": int(self.ln_g.size),
                "cell_classes": self.cell_classes, "rate_split": self.rate_split}


@dataclasses.dataclass(frozen=True)
class StellarConfig:
    rule: str = "stellar"
    threshold: float = 0.5     # |error| a STELLAR update needs (sign-SGD: 0)
    epochs: int = 1
    gain: float = 8.0          # pre-activation per unit of mean weighted input
    learning_rate: float = 3.0   # ideal-device SGD only (the best of 0.3, 1, 3, 10, 30 for one epoch)
    seed: int = 0
    train_images: int | None = None
    test_images: int | None = None

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise CircuitkitError(f"unknown learning rule {self.rule!r}; expected one of {', '.join(RULES)}")


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))


class DeviceLayer:
    """A fully connected layer of single devices against a reference conductance."""

    def __init__(self, inputs: int, outputs: int, response: PulseResponse, model: PulseModel,
                 rng: np.random.Generator, start):
        self.response, self.model = response, model
        low, high = response.bounds
        self.g_low, self.g_high = float(np.exp(low)), float(np.exp(high))
        self.g_ref = 0.5 * (self.g_low + self.g_high)
        # As fabricated and reset (the fitted HRS distribution), then one pulse of random
        # polarity: weights start spread on both sides of the reference.
        g = 1.0 / start.distribution("HRS").sample(rng, inputs * outputs)
        self.cell = response.cell_class(g.size, rng)  # each device's own rate offset, kept for all its pulses
        g, _ = response.apply(g, rng.choice([-1, 1], size=g.size), rng, self.cell)
        self.g = g.reshape(inputs, outputs)

    @property
    def weights(self) -> np.ndarray:
        return (self.g - self.g_ref) / (self.g_high - self.g_low)

    def read_weights(self, rng: np.random.Generator | None) -> np.ndarray:
        """One read of every device (the model's read noise), as weights."""
        if rng is None:
            return self.weights
        sigma = self.model.read_noise.sigma_at(1.0 / self.g)
        read = self.g * np.exp(sigma * rng.standard_normal(self.g.shape))
        return (read - self.g_ref) / (self.g_high - self.g_low)

    def pulse(self, polarity: np.ndarray, rng: np.random.Generator) -> float:
        """Apply +1 (SET) / -1 (RESET) / 0 (none) per device; return the energy (J)."""
        where = np.flatnonzero(polarity)
        if where.size == 0:
            return 0.0
        flat = self.g.reshape(-1)
        flat[where], energy = self.response.apply(flat[where], polarity.reshape(-1)[where], rng,
                                                  None if self.cell is None else self.cell[where])
        return float(energy.sum())


def _inputs(x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((x.shape[0], 1))])


def train_layer(dataset: Dataset, config: StellarConfig, response: PulseResponse | None, model: PulseModel | None,
                start=None) -> dict[str, Any]:
    """Train the classifier with one rule; returns test accuracy, pulses and energy."""
    rng = np.random.default_rng(config.seed)
    train = class_interleaved(dataset.y_train, config.train_images)
    test = class_interleaved(dataset.y_test, config.test_images)
    x, y = _inputs(dataset.x_train[train]), dataset.y_train[train]
    x_test, y_test = _inputs(dataset.x_test[test]), dataset.y_test[test]
    targets = np.eye(10)[y]
    scale = config.gain / float(np.mean(x.sum(axis=1)))  # pre-activation per weight unit and input
    pulses = energy = 0.0
    if config.rule == "ideal":
        w = rng.normal(0, 0.05, (x.shape[1], 10))
        forward: Callable[[np.ndarray, np.random.Generator | None], np.ndarray] = lambda xs, r: xs @ w * scale
    else:
        if response is None or model is None:
            raise CircuitkitError("device rules need the pulse response and the pulse model")
        layer = DeviceLayer(x.shape[1], 10, response, model, rng, start)
        forward = lambda xs, r: xs @ layer.read_weights(r) * scale  # noqa: E731
    threshold = config.threshold if config.rule == "stellar" else 0.0
    for _ in range(config.epochs):
        for i in rng.permutation(y.size):
            xi = x[i]
            a = forward(xi[None], rng)[0]
            out = _sigmoid(a)
            error = out - targets[i]
            derivative = out * (1 - out)
            if config.rule == "ideal":
                # the exact gradient of the logistic loss of each output w.r.t. its weights
                w -= config.learning_rate * np.outer(xi, error) * scale
                continue
            direction = np.where(np.abs(error) > threshold, -np.sign(error), 0.0) * np.sign(derivative)
            polarity = (np.sign(xi)[:, None] * direction[None, :]).astype(np.int8)
            pulses += np.count_nonzero(polarity)
            energy += layer.pulse(polarity, rng)
    correct = np.argmax(forward(x_test, rng), axis=1) == y_test
    weights = x.shape[1] * 10
    return {"rule": config.rule, "threshold": threshold, "accuracy": float(correct.mean()),
            "test_images": int(y_test.size), "pulses_per_weight": pulses / weights,
            "energy_per_weight_j": energy / weights, "energy_total_j": energy}


def compare_rules(dataset: Dataset, response: PulseResponse, model: PulseModel, start, *, seeds: int = 3,
                  rules=RULES, base: StellarConfig = StellarConfig(), log=print) -> list[dict[str, Any]]:
    """Each rule over `seeds` runs (device draws and image order): accuracy with its
    Student-t interval over runs, pulses and energy per weight."""
    rows = []
    for rule in rules:
        runs = [train_layer(dataset, dataclasses.replace(base, rule=rule, seed=base.seed + s), response, model, start)
                for s in range(seeds)]
        accuracy = mean_interval([r["accuracy"] for r in runs])
        row = {"rule": rule, "threshold": runs[0]["threshold"], "runs": seeds, "accuracy": accuracy.mean,
               "ci_low": accuracy.low, "ci_high": accuracy.high, "test_images": runs[0]["test_images"],
               "pulses_per_weight": float(np.mean([r["pulses_per_weight"] for r in runs])),
               "energy_per_weight_j": float(np.mean([r["energy_per_weight_j"] for r in runs])),
               "reset_scale": response.reset_scale, "nonlinearity": response.nonlinearity,
               "asymmetry": response.asymmetry() if rule != "ideal" else None}
        rows.append(row)
        if log:
            log(f"stellar: {rule:8s} reset_scale {response.reset_scale:g} nonlinearity {response.nonlinearity:g}: "
                f"accuracy {accuracy.mean:.3f} [{accuracy.low:.3f}, {accuracy.high:.3f}], "
                f"{row['pulses_per_weight']:.1f} pulses per weight")
    return rows
