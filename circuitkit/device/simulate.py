"""Python-side transient of the RRAM model: the gap ODE of rram_hfox.va over a measured stimulus.

Fitting needs hundreds of simulations of the same stimulus, so this integrates the state
equation (`ModelCard.gap_rate`, the .va equations) with LSODA (`scipy.integrate.odeint`,
stiff/non-stiff switching in Fortran, one Python call per right-hand-side evaluation):
about 3 ms per 200-point sweep cycle, against about 1 s for an ngspice run. The gap is
integrated in nanometres, like the .va's `dgap` node. `tests/test_device_model.py` proves
that these currents agree with ngspice running the compiled .va to better than 1 %.

Stimuli:
- a sweep is a piecewise-linear voltage through the measured (time, voltage) points, as an
  ngspice `PWL` source would apply it;
- a pulse is a plateau of `width` at the pulse amplitude; the Python side takes it as
  rectangular (`simulate_pulses`), ngspice gets edges of `edge_fraction * width`
  (`pulse_waveform`), short enough not to matter.
"""

from __future__ import annotations

import bisect
import dataclasses
import warnings

import numpy as np
from scipy.integrate import odeint

from circuitkit import CircuitkitError
from circuitkit.device.model import ModelCard

DEFAULT_EDGE_FRACTION = 1e-3
_NM = 1e-9


class ModelSimulationError(CircuitkitError):
    """The Python integration of the model's state equation did not finish."""


@dataclasses.dataclass(frozen=True)
class SweepSimulation:
    """Model response at the stimulus time points (SI units; gap in metres)."""

    time: np.ndarray
    voltage: np.ndarray
    current: np.ndarray
    gap: np.ndarray


def pwl_voltage(time: np.ndarray, voltage: np.ndarray):
    """`v(t)` on floats: linear interpolation through the points, held constant outside."""
    times = [float(t) for t in time]
    volts = [float(v) for v in voltage]
    slopes = [(volts[k + 1] - volts[k]) / (times[k + 1] - times[k]) for k in range(len(times) - 1)]
    last = len(times) - 1

    def v(t: float) -> float:
        k = bisect.bisect_right(times, t) - 1
        if k < 0:
            return volts[0]
        if k >= last:
            return volts[last]
        return volts[k] + slopes[k] * (t - times[k])

    return v


class _OverBudget(Exception):
    pass


def _odeint(rhs, y0, times, rtol: float, atol: float, what: str, max_evaluations: int) -> np.ndarray:
    """LSODA through the stimulus' points, at most one of their intervals per step: below the
    field threshold the state equation is exactly zero, and a solver free to take long steps
    there would step over a switching event between two of its evaluations."""
    calls = [0]

    def counted(y, t):
        calls[0] += 1
        if calls[0] > max_evaluations:
            raise _OverBudget
        return rhs(y, t)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # odeint warns, then reports through `info`
            solution, info = odeint(counted, y0, times, rtol=rtol, atol=atol, mxstep=max_evaluations,
                                    hmax=float(np.min(np.diff(times))), full_output=True)
    except _OverBudget:
        raise ModelSimulationError(
            f"the Python integration of {what} needed more than {max_evaluations} evaluations of the state "
            "equation (extremely fast switching: parameters far outside the usual range?)") from None
    except (OverflowError, ZeroDivisionError, ValueError) as error:  # math.exp of a runaway state
        raise ModelSimulationError(f"the Python integration of {what} ran away ({error})") from None
    if info["message"] != "Integration successful.":
        raise ModelSimulationError(f"the Python integration of {what} failed: {info['message']}")
    return solution


def simulate_sweep(card: ModelCard, time: np.ndarray, voltage: np.ndarray, gap_init: float, *,
                   temp_c: float = 27.0, i0_scale: float = 1.0, rate_scale: float = 1.0, rtol: float = 1e-8,
                   atol_nm: float = 1e-8, max_evaluations: int = 200_000) -> SweepSimulation:
    """Integrate the gap from `gap_init` (m) through a PWL voltage; currents at `time`.

    Raises ModelSimulationError if the integration fails or needs more than
    `max_evaluations` right-hand-side calls (a typical 1000-point sweep needs ~10^4).
    """
    time = np.asarray(time, dtype=float)
    voltage = np.asarray(voltage, dtype=float)
    if time.ndim != 1 or time.shape != voltage.shape or len(time) < 2 or np.any(np.diff(time) <= 0):
        raise CircuitkitError("a sweep stimulus needs matching time and voltage arrays with strictly increasing time")
    rate = card.rate_function(temp_c, i0_scale, scalar=True, rate_scale=rate_scale)
    v_of_t = pwl_voltage(time, voltage)

    def rhs(y, t):
        return rate(v_of_t(t), y[0] * _NM) / _NM

    gap_nm = _odeint(rhs, [gap_init / _NM], time, rtol, atol_nm, "the sweep", max_evaluations)[:, 0]
    gap = gap_nm * _NM
    return SweepSimulation(time, voltage, card.current(voltage, gap, i0_scale, temp_c), gap)


def pulse_waveform(amplitude: float, width: float, edge_fraction: float = DEFAULT_EDGE_FRACTION
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(time, voltage) corners of a pulse: a plateau of `width` at `amplitude`, with edges of
    `edge_fraction * width` before and after it, from 0 V back to 0 V."""
    edge = edge_fraction * width
    return (np.array([0.0, edge, edge + width, 2 * edge + width]), np.array([0.0, amplitude, amplitude, 0.0]))


# Gap grid of the pulse quadrature, as the fraction x of the way from the equilibrium gap
# (x = 0) back to the starting gap (x = 1): linear where the state moves, logarithmic where
# it creeps towards the equilibrium.
_PULSE_GRID = np.concatenate([np.linspace(1.0, 0.02, 300, endpoint=False), np.geomspace(0.02, 1e-12, 200)])


def simulate_pulses(card: ModelCard, amplitude: np.ndarray, width: np.ndarray, gap_before: np.ndarray, *,
                    temp_c: float = 27.0, rate_scale: float = 1.0) -> np.ndarray:
    """Gap (m) after one rectangular pulse per row (rows are independent devices).

    At constant voltage the state equation dg/dt = f(g) is autonomous, so the time to move
    from g_before to g is T(g) = integral of dg/f(g): one vectorized quadrature per table,
    inverted at T = width (tens of ms for hundreds of rows; a time-stepping solver needs
    the switching of every row resolved on one common time axis). The gap moves
    monotonically towards the first gap where the motion stops (a bound's window closes, or
    the field falls below its threshold) between g_before and the bound it heads for,
    found by bisection. The edges of a real pulse are neglected (their effect
    is of order edge/width times the few-percent sensitivity of the rate to the voltage).
    """
    amplitude, width, gap_before = (np.asarray(x, dtype=float) for x in np.broadcast_arrays(amplitude, width, gap_before))
    rate = card.rate_function(temp_c, rate_scale=rate_scale)
    direction = np.sign(rate(amplitude, gap_before))
    # bisection between g_before (moving) and the bound it heads for (the window stops it there)
    moving_end = gap_before.copy()
    stopped_end = np.where(direction < 0, card.value("gmin"), card.value("gmax"))
    for _ in range(60):
        middle = 0.5 * (moving_end + stopped_end)
        moving = direction * rate(amplitude, middle) > 0
        moving_end = np.where(moving, middle, moving_end)
        stopped_end = np.where(moving, stopped_end, middle)
    low, high = moving_end, stopped_end
    span = gap_before - 0.5 * (low + high)  # g_before - g_eq
    gaps = (gap_before - span)[:, None] + span[:, None] * _PULSE_GRID
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inverse_speed = np.abs(span[:, None] / rate(amplitude[:, None], gaps))
        steps = 0.5 * (inverse_speed[:, 1:] + inverse_speed[:, :-1]) * -np.diff(_PULSE_GRID)
    elapsed = np.concatenate([np.zeros((len(span), 1)), np.cumsum(np.nan_to_num(steps, nan=np.inf), axis=1)], axis=1)
    gap_after = gap_before.copy()
    for row in np.flatnonzero(direction != 0):
        fraction = np.interp(width[row], elapsed[row], _PULSE_GRID) if elapsed[row, 1] > 0 else 1.0
        gap_after[row] = gap_before[row] - span[row] * (1.0 - fraction)
    return gap_after
