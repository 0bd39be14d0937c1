"""Write-verify schemes: which pulse a cell gets next, from its last verify read.

Three schemes the field compares on real arrays (and settable in every field):

- `Ispp` (incremental-step pulse programming): SET pulses with the word-line voltage
  stepped up one step per pulse (the compliance current grows, so the conductance
  climbs); a cell read above its band is erased by one strong RESET and the staircase
  starts again. Few DAC levels, many pulses.
- `DualDirection` (DD-ISPP, the scheme the bundled real 32-level data were written with):
  below the band a SET staircase, above it a RESET staircase; each staircase restarts when
  the direction changes (one *attempt*), up to `max_attempts`.
- `FixedWordLine` (fixed word-line voltage per level, "FPPV"): every cell is erased, then
  gets identical SET pulses at its level's own word-line voltage (calibrated on the pulse
  model: the voltage whose SET from the erased state lands nearest the level's target);
  above the band it is erased again. One DAC level per target, few pulses when the
  compliance sets the level well.

Every scheme stops a cell at `max_pulses` (its budget). Voltages are the terminal
voltages of `device.pulse.PulseCondition` (word line, bit line, source line; SET raises
the bit line, RESET the source line), widths in seconds.

A scheme is a frozen dataclass; `next_pulses(state, cells, below, above, levels)` is
vectorized over the cells still being programmed (state indices `cells`; masks of those
read below / above their band; their target levels) and returns their next pulses and
which of them give up (`NextPulses`).
"""

from __future__ import annotations

import dataclasses
import numpy as np

from circuitkit import CircuitkitError

SET, RESET = +1, -1


@dataclasses.dataclass(frozen=True)
class PulseStep:
    """One programming pulse: terminal voltages (V) and width (s)."""

    v_wl: float
    v_bl: float
    v_sl: float
    width: float

    def __post_init__(self) -> None:
        values = (self.v_wl, self.v_bl, self.v_sl, self.width)
        if not all(np.isfinite(v) for v in values) or self.width <= 0 or self.v_bl == self.v_sl:
            raise CircuitkitError(f"pulse {self}: expected finite voltages, V_BL != V_SL and a width > 0 s")

    @property
    def polarity(self) -> int:
        return SET if self.v_bl > self.v_sl else RESET

    def triple(self) -> tuple[float, float, float]:
        return (self.v_wl, self.v_bl, self.v_sl)


def _arange(start: float, stop: float, step: float) -> np.ndarray:
    """start, start + step, ... up to and including stop (to the 1e-9 V)."""
    if step == 0 or (stop - start) / step < -1e-9:
        raise CircuitkitError(f"voltage staircase {start} .. {stop} in steps of {step}: the step must lead from "
                              "start to stop")
    count = int(np.floor((stop - start) / step + 1e-9)) + 1
    return np.round(start + step * np.arange(count), 9)


@dataclasses.dataclass(frozen=True)
class PulseLadder:
    """A staircase of pulses of one polarity, applied in order."""

    steps: tuple[PulseStep, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise CircuitkitError("a pulse ladder needs at least one step")
        if len({step.polarity for step in self.steps}) != 1:
            raise CircuitkitError("a pulse ladder mixes SET and RESET pulses")

    @classmethod
    def set_staircase(cls, v_wl: tuple[float, float, float], v_bl: float | tuple[float, float, float],
                      width: float) -> "PulseLadder":
        """SET pulses: word line from start to stop in steps (outer), bit line (inner,
        a value or a (start, stop, step) staircase), source line at 0 V."""
        lines = _arange(*v_bl) if isinstance(v_bl, tuple) else np.array([v_bl])
        return cls(tuple(PulseStep(float(w), float(b), 0.0, width) for w in _arange(*v_wl) for b in lines))

    @classmethod
    def reset_staircase(cls, v_wl: tuple[float, float, float] | float, v_sl: float | tuple[float, float, float],
                        width: float) -> "PulseLadder":
        """RESET pulses: word line (outer) and source line (inner), bit line at 0 V."""
        wls = _arange(*v_wl) if isinstance(v_wl, tuple) else np.array([v_wl])
        lines = _arange(*v_sl) if isinstance(v_sl, tuple) else np.array([v_sl])
        return cls(tuple(PulseStep(float(w), 0.0, float(s), width) for w in wls for s in lines))

    @property
    def polarity(self) -> int:
        return self.steps[0].polarity

    def __len__(self) -> int:
        return len(self.steps)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(triples (S, 3), widths (S,))."""
        return (np.array([step.triple() for step in self.steps]), np.array([step.width for step in self.steps]))

    def describe(self) -> dict:
        first, last = self.steps[0], self.steps[-1]
        return {"polarity": "SET" if self.polarity == SET else "RESET", "pulses": len(self.steps),
                "first": dataclasses.asdict(first), "last": dataclasses.asdict(last)}


@dataclasses.dataclass
class SchemeState:
    """Per-cell bookkeeping of a scheme: the direction of the running staircase (+1 SET,
    -1 RESET, 0 none), the next step on it, and the attempts (staircases begun)."""

    direction: np.ndarray
    step: np.ndarray
    attempts: np.ndarray

    @classmethod
    def start(cls, n: int) -> "SchemeState":
        return cls(np.zeros(n, dtype=np.int8), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))

    def subset(self, index: np.ndarray) -> "SchemeState":
        return SchemeState(self.direction[index], self.step[index], self.attempts[index])


class _Scheme:
    """What every scheme shares: the budget and the pulses it may apply."""

    name: str
    max_pulses: int

    def pulses(self) -> list[PulseStep]:  # every pulse the scheme can apply
        raise NotImplementedError

    def voltage_triples(self) -> list[tuple[float, float, float]]:
        return [step.triple() for step in self.pulses()]

    def check_budget(self) -> None:
        if isinstance(self.max_pulses, bool) or not isinstance(self.max_pulses, int) or self.max_pulses < 1:
            raise CircuitkitError(f"{self.name}: max_pulses={self.max_pulses!r}: expected a positive integer")

    def first_pulses(self, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Pulses every cell gets before its first verify (None: start by verifying)."""
        return None


def _staircase(ladder: PulseLadder, state: SchemeState, cells: np.ndarray, positions: np.ndarray, direction: int,
               out: "NextPulses", max_attempts: int | None) -> None:
    """The next step of `ladder` for `cells` (state indices; `positions` in `out`),
    restarting the staircase (a new attempt) when the direction changes or the ladder is
    used up."""
    if cells.size == 0:
        return
    restart = (state.direction[cells] != direction) | (state.step[cells] >= len(ladder))
    state.step[cells[restart]] = 0
    state.attempts[cells[restart]] += 1
    state.direction[cells] = direction
    if max_attempts is not None:
        out.give_up[positions] |= state.attempts[cells] > max_attempts
    ladder_triples, ladder_widths = ladder.arrays()
    step = state.step[cells]
    out.triples[positions] = ladder_triples[step]
    out.widths[positions] = ladder_widths[step]
    state.step[cells] += 1


@dataclasses.dataclass
class NextPulses:
    """The next pulse of each cell being decided, and which of them give up instead."""

    triples: np.ndarray  # (n, 3) V_WL, V_BL, V_SL
    widths: np.ndarray
    give_up: np.ndarray

    @classmethod
    def empty(cls, n: int) -> "NextPulses":
        return cls(np.zeros((n, 3)), np.zeros(n), np.zeros(n, dtype=bool))


@dataclasses.dataclass(frozen=True)
class Ispp(_Scheme):
    """SET staircase on the word line; a cell above its band is erased and starts over."""

    set_ladder: PulseLadder
    erase: PulseStep
    max_pulses: int = 300
    name: str = "ispp"

    def __post_init__(self) -> None:
        self.check_budget()
        if self.set_ladder.polarity != SET or self.erase.polarity != RESET:
            raise CircuitkitError("ispp: the staircase must SET and the erase pulse RESET")

    def pulses(self) -> list[PulseStep]:
        return [*self.set_ladder.steps, self.erase]

    def next_pulses(self, state: SchemeState, cells: np.ndarray, below: np.ndarray, above: np.ndarray,
                    levels: np.ndarray) -> NextPulses:
        out = NextPulses.empty(cells.size)
        low = np.flatnonzero(below)
        used_up = (state.direction[cells[low]] == SET) & (state.step[cells[low]] >= len(self.set_ladder))
        out.give_up[low[used_up]] = True  # the staircase ran out below the band
        low = low[~used_up]
        _staircase(self.set_ladder, state, cells[low], low, SET, out, None)
        high = np.flatnonzero(above)
        out.triples[high], out.widths[high] = self.erase.triple(), self.erase.width
        state.step[cells[high]], state.direction[cells[high]] = 0, RESET  # the next staircase is a new attempt
        return out

    def describe(self) -> dict:
        return {"name": self.name, "set": self.set_ladder.describe(), "erase": dataclasses.asdict(self.erase),
                "max_pulses": self.max_pulses}


@dataclasses.dataclass(frozen=True)
class DualDirection(_Scheme):
    """SET staircase below the band, RESET staircase above it (DD-ISPP)."""

    set_ladder: PulseLadder
    reset_ladder: PulseLadder
    max_attempts: int = 25
    max_pulses: int = 300
    name: str = "dual-direction"

    def __post_init__(self) -> None:
        self.check_budget()
        if self.set_ladder.polarity != SET or self.reset_ladder.polarity != RESET:
            raise CircuitkitError("dual-direction: the first staircase must SET, the second RESET")

    def pulses(self) -> list[PulseStep]:
        return [*self.set_ladder.steps, *self.reset_ladder.steps]

    def next_pulses(self, state: SchemeState, cells: np.ndarray, below: np.ndarray, above: np.ndarray,
                    levels: np.ndarray) -> NextPulses:
        out = NextPulses.empty(cells.size)
        low, high = np.flatnonzero(below), np.flatnonzero(above)
        _staircase(self.set_ladder, state, cells[low], low, SET, out, self.max_attempts)
        _staircase(self.reset_ladder, state, cells[high], high, RESET, out, self.max_attempts)
        return out

    def describe(self) -> dict:
        return {"name": self.name, "set": self.set_ladder.describe(), "reset": self.reset_ladder.describe(),
                "max_attempts": self.max_attempts, "max_pulses": self.max_pulses}


@dataclasses.dataclass(frozen=True)
class FixedWordLine(_Scheme):
    """Erase, then identical SET pulses at the level's own word-line voltage."""

    level_v_wl: tuple[float, ...]  # per level (V)
    v_bl: float
    width: float
    erase: PulseStep
    max_pulses: int = 300
    name: str = "fixed-wl"

    def __post_init__(self) -> None:
        self.check_budget()
        if self.erase.polarity != RESET or not self.v_bl > 0:
            raise CircuitkitError("fixed-wl: the erase pulse must RESET and the SET bit-line voltage be > 0 V")
        object.__setattr__(self, "level_v_wl", tuple(float(v) for v in self.level_v_wl))

    def _set_pulse(self, level: int) -> PulseStep:
        return PulseStep(self.level_v_wl[level], self.v_bl, 0.0, self.width)

    def pulses(self) -> list[PulseStep]:
        return [*(self._set_pulse(k) for k in range(len(self.level_v_wl))), self.erase]

    def first_pulses(self, levels: np.ndarray):
        n = np.asarray(levels).size
        return np.tile(self.erase.triple(), (n, 1)), np.full(n, self.erase.width)

    def next_pulses(self, state: SchemeState, cells: np.ndarray, below: np.ndarray, above: np.ndarray,
                    levels: np.ndarray) -> NextPulses:
        out = NextPulses.empty(cells.size)
        if np.any(np.asarray(levels) >= len(self.level_v_wl)):
            raise CircuitkitError(f"fixed-wl: calibrated for {len(self.level_v_wl)} levels, asked for level "
                                  f"{int(np.max(levels))}")
        low = np.flatnonzero(below)
        wl = np.asarray(self.level_v_wl)[np.asarray(levels)[low]]
        out.triples[low] = np.column_stack([wl, np.full(low.size, self.v_bl), np.zeros(low.size)])
        out.widths[low] = self.width
        high = np.flatnonzero(above)
        out.triples[high], out.widths[high] = self.erase.triple(), self.erase.width
        state.attempts[cells[high]] += 1
        return out

    def describe(self) -> dict:
        return {"name": self.name, "level_v_wl": list(self.level_v_wl), "v_bl": self.v_bl, "width": self.width,
                "erase": dataclasses.asdict(self.erase), "max_pulses": self.max_pulses,
                "calibration": "per level, the word-line voltage (10 mV grid) whose SET from the erased state lands "
                               "nearest the level's target in the pulse model (deterministic: rate scale 1)"}


# ---------------------------------------------------------------------------- presets
# Defaults inside the bundled sweeps' grid (V_WL 0.5-3.4 V, V_BL / V_SL 0.5-3 V, 20 ns -
# 2 us): where the fitted model's SET conductance follows the word line (compliance) and
# its RESET acts.
SET_WL = (0.8, 2.0, 0.05)
SET_BL = 1.5
RESET_WL = (1.6, 3.0, 0.1)
RESET_SL = 2.0
WIDTH = 1e-6
ERASE = PulseStep(3.3, 0.0, 2.5, 1e-6)


def ispp(*, set_wl=SET_WL, v_bl=SET_BL, width=WIDTH, erase=ERASE, max_pulses: int = 300) -> Ispp:
    return Ispp(PulseLadder.set_staircase(set_wl, v_bl, width), erase, max_pulses)


def dual_direction(*, set_wl=SET_WL, v_bl=SET_BL, reset_wl=RESET_WL, v_sl=RESET_SL, width=WIDTH,
                   max_attempts: int = 25, max_pulses: int = 300) -> DualDirection:
    return DualDirection(PulseLadder.set_staircase(set_wl, v_bl, width),
                         PulseLadder.reset_staircase(reset_wl, v_sl, width), max_attempts, max_pulses)


def fixed_word_line(model, levels, *, v_bl=SET_BL, width=WIDTH, erase=ERASE, wl_range=(0.5, 3.4),
                    max_pulses: int = 300) -> FixedWordLine:
    """Calibrate the word-line voltage of every level on the pulse model (see the class)."""
    from circuitkit.device.pulse import PulseCondition

    candidates = _arange(wl_range[0], wl_range[1], 0.01)
    erased = model.deterministic_after(np.array([model.resistance(model.card.value("gmin"))]),
                                       PulseCondition(erase.v_wl, erase.v_bl, erase.v_sl, erase.width))
    start = np.full(candidates.size, float(erased[0]))
    reached = 1.0 / model.deterministic_after(start, PulseCondition(candidates, v_bl, 0.0, width))
    targets = levels.targets
    best = np.argmin(np.abs(reached[None, :] - targets[:, None]), axis=1)
    return FixedWordLine(tuple(candidates[best]), v_bl, width, erase, max_pulses)


SCHEMES = ("ispp", "dual-direction", "fixed-wl")


def scheme_by_name(name: str, model=None, levels=None, **options):
    """A preset scheme by name (`fixed-wl` needs the pulse model and the levels)."""
    if name == "ispp":
        return ispp(**options)
    if name == "dual-direction":
        return dual_direction(**options)
    if name == "fixed-wl":
        if model is None or levels is None:
            raise CircuitkitError("fixed-wl: the scheme is calibrated on the pulse model and the levels")
        return fixed_word_line(model, levels, **options)
    raise CircuitkitError(f"unknown write-verify scheme {name!r}; expected one of {', '.join(SCHEMES)}")

