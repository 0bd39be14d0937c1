"""Benchmark of `circuitkit fit` on the bundled 1000-point I-V sweep (prints; never fails on time).

Figures:
- end to end (read, fit, ngspice re-simulation, plot), as `circuitkit fit` runs it;
- the baseline measured in the same run: one model evaluation of the same sweep by
  ngspice (what a fit with the simulator in the loop pays per evaluation) and by the
  numpy (array-per-call) evaluation of the same equations, against the scalar fast path
  the fit uses; and the fit's evaluation count times the ngspice cost, i.e. what the
  same fit would take with ngspice in the loop.

    .venv/bin/python bench/bench_fit.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from circuitkit.device import simulate
from circuitkit.device.characterize import characterize
from circuitkit.device.resimulate import ngspice_sweep
from circuitkit.measurements import read_iv

DATA = Path(__file__).resolve().parents[1] / "characterization" / "iv_sweep.csv"


def best_of(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = characterize(DATA, "iv", out)
        wall = time.perf_counter() - start
    report = result.report
    runtime = report["runtime_s"]
    evaluations = report["optimizer"]["evaluations"]
    print(f"circuitkit fit {DATA.name} --kind iv: {report['data']['rows']} points, "
          f"{report['fit_metrics']['points']} fitted, {evaluations} least-squares evaluations (plus the start scan)")
    print(f"  end to end {wall:.2f} s  (read {runtime['read']:.2f}, fit {runtime['fit']:.2f}, "
          f"ngspice re-simulation {runtime['ngspice']:.2f}, plot {runtime['plot']:.2f})")
    print(f"  rms ln-current error: fit {report['fit_metrics']['rms_ln_current']:.4f}, "
          f"ngspice {report['ngspice_metrics']['rms_ln_current']:.4f}")

    sweep = read_iv(DATA)
    card = result.card
    gap = report["measurement_state"]["gap_init"]
    fast = best_of(lambda: simulate.simulate_sweep(card, sweep.time, sweep.voltage, gap), 5)
    spice = best_of(lambda: ngspice_sweep(card, sweep.time, sweep.voltage, gap), 3)

    array_rate = card.rate_function()  # the same equations, one numpy call per evaluation

    def numpy_path():
        v_of_t = simulate.pwl_voltage(sweep.time, sweep.voltage)
        rhs = lambda y, t: float(array_rate(np.float64(v_of_t(t)), np.float64(y[0] * 1e-9))) / 1e-9  # noqa: E731
        simulate._odeint(rhs, [gap / 1e-9], sweep.time, 1e-8, 1e-8, "the sweep", 10**6)

    slow = best_of(numpy_path, 2)
    print("one evaluation of the 1000-point sweep (best of several):")
    print(f"  Python, scalar fast path (used by the fit) {fast * 1e3:8.1f} ms")
    print(f"  Python, numpy per call (same equations)    {slow * 1e3:8.1f} ms   ratio {slow / fast:5.1f}x")
    print(f"  ngspice transient (batch subprocess)       {spice * 1e3:8.1f} ms   ratio {spice / fast:5.1f}x")
    print(f"  this fit with ngspice in the loop would take ~{evaluations * spice:.1f} s of simulation "
          f"({evaluations} evaluations) against {runtime['fit']:.2f} s for the whole fit")


if __name__ == "__main__":
    main()
