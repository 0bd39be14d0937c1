"""Benchmarks of `circuitkit fit` (print their figures; never fail on time).

1. The joint SET + RESET pulse-model fit of the bundled real sweeps (65,536 rows), end to end
   as `circuitkit fit` runs it from the low-field card (fits/real_1t1r/levels), as the
   documented command does (read, fit, judgement on held-out cells, ngspice 1T1R
   re-simulation of a 400-row subsample, plot); target under 3 minutes on one core. The
   baseline measured in the same run: one likelihood evaluation with the cell voltage solved
   per row and gap step (the straightforward way) against the per-condition tables the fit
   uses, on a 2,000-row slice, scaled to the fit's rows and evaluations.
2. A 40,000-cell distribution fit (the issue's two-population file, no state column: states
   found, three models per state, goodness of fit); target under 10 s. Baseline in the same
   run: the mixtures fitted by scikit-learn's GaussianMixture (EM on every cell, 3 starts).
3. The bundled synthetic 1000-point I-V sweep:
- end to end (read, fit, ngspice re-simulation, plot), as `circuitkit fit` runs it;
- the baseline measured in the same run: one model evaluation of the same sweep by
  ngspice (what a fit with the simulator in the loop pays per evaluation) and by the
  numpy (array-per-call) evaluation of the same equations, against the scalar fast path
  the fit uses; and the fit's evaluation count times the ngspice cost, i.e. what the
  same fit would take with ngspice in the loop.

    .venv/bin/python bench/bench_fit.py            # all three
    .venv/bin/python bench/bench_fit.py pulse      # one of: pulse, distribution, iv
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

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "characterization" / "iv_sweep.csv"
REAL = ROOT / "characterization" / "rram-1t1r-130nm"
SWEEP_COLUMNS = {"address": 1, "width": 2, "wl_voltage": 3, "line_voltage": 4, "r_before": 5, "r_after": 6}


def best_of(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_pulse() -> None:
    from circuitkit.device import pulse
    from circuitkit.device.access import fet_table
    from circuitkit.device.characterize import FitOptions, characterize, read_files

    from circuitkit.device.model import ModelCard

    files = [REAL / "set_sweep.tsv.gz", REAL / "reset_sweep.tsv.gz"]
    start_card = ModelCard.load(ROOT / "characterization" / "fits" / "real_1t1r" / "levels" / "model_card.json")
    options = FitOptions(start=start_card, header=False, columns=SWEEP_COLUMNS, pulsed_lines=("bl", "sl"), v_read=0.2)
    fet_table(pulse.AccessTransistor())  # the transistor table is a one-time, cached extraction (~15 s)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = characterize(files, "pulse", out, options)
        wall = time.perf_counter() - start
    report = result.report
    runtime = report["runtime_s"]
    judged = report["fit_metrics"]["held_out"]
    print(f"joint SET + RESET pulse-model fit of the bundled sweeps: {sum(f['rows_used'] for f in report['files'])} rows")
    print(f"  end to end {wall:.1f} s (target < 180 s): read {runtime['read']:.1f}, fit {runtime['fit']:.1f}, "
          f"ngspice 1T1R re-simulation {runtime['ngspice']:.1f} ({report['ngspice'].get('rows_simulated')} rows), "
          f"plot {runtime['plot']:.1f}; {report['optimizer']['evaluations']} likelihood evaluations")
    for line in report["settings"]["summary"]:
        print(f"  {line}")

    # baseline: the cell voltage solved per row and gap step, against the per-condition tables
    table = read_files(files, "pulse", options)
    model = pulse.PulseModel.from_card(result.card)
    rows = table.rows(np.arange(0, len(table), len(table) // 2000)[:2000])
    condition = pulse.PulseCondition.from_table(rows)
    fast = best_of(lambda: model.deterministic_after(rows.r_before, condition), 3)
    slow = best_of(lambda: per_row_outcome(model, rows, condition), 1)
    fit_rows = report["fit_metrics"]["fit_rows"]
    print(f"  one deterministic evaluation of {len(rows)} rows: per-condition tables {fast * 1e3:.0f} ms, cell voltage "
          f"solved per row and gap step {slow * 1e3:.0f} ms: ratio {slow / fast:.1f}x; the fit's "
          f"{report['optimizer']['evaluations']} evaluations on {fit_rows} rows x {pulse.FIT_NODES} quadrature nodes "
          f"would take ~{slow / len(rows) * fit_rows * pulse.FIT_NODES * report['optimizer']['evaluations'] / 3600:.0f} h "
          "the straightforward way")


def per_row_outcome(model, rows, condition) -> np.ndarray:
    """The straightforward evaluation: for every row its own gap grid from g_before to the
    bound it heads for, the cell voltage solved at every grid point (bisection on the
    transistor table), the time integral and its inversion at the pulse width."""
    from circuitkit.device.access import fet_table
    from circuitkit.device.pulse import solve_cell_voltage

    card = model.card
    fet = fet_table(model.transistor)
    v_wl, v_bl, v_sl, width = condition.arrays()
    g_before = model.gap(rows.r_before)
    target = np.where(v_bl > v_sl, card.value("gmin"), card.value("gmax"))
    fraction = np.linspace(0.0, 1.0, 400)
    gaps = g_before[:, None] + (target - g_before)[:, None] * fraction[None, :]
    v_cell = solve_cell_voltage(card, fet, v_wl[:, None], v_bl[:, None], v_sl[:, None], gaps)
    rate = card.rate_function(model.temp_c, core=True)(v_cell, gaps)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        step = np.abs(np.diff(gaps, axis=1)) * 0.5 * (1 / np.abs(rate[:, 1:]) + 1 / np.abs(rate[:, :-1]))
    elapsed = np.concatenate([np.zeros((len(rows), 1)), np.cumsum(np.nan_to_num(step, nan=np.inf), axis=1)], axis=1)
    after = np.array([np.interp(w, e, g) for w, e, g in zip(width, elapsed, gaps)])
    return model.resistance(after)


def bench_distribution() -> None:
    from circuitkit.device import distributions
    from circuitkit.device.fit import fit_distribution
    from circuitkit.device.model import ModelCard
    from circuitkit.measurements import MeasurementFile, ResistanceDistribution

    rng = np.random.default_rng(5)
    cells = np.concatenate([10.5e3 * np.exp(0.048 * rng.standard_normal(39680)),
                            86e3 * np.exp(0.38 * rng.standard_normal(640))])
    data = ResistanceDistribution(cells, np.full(cells.size, "ALL"), None,
                                  MeasurementFile(Path("two_states.tsv"), "", {}, {"resistance": "#1"}, {}))
    start = time.perf_counter()
    outcome = fit_distribution(data, ModelCard.default())
    ours = time.perf_counter() - start
    states = outcome.metrics["states"]
    print(f"distribution fit of {cells.size} cells without a state column (target < 10 s): {ours:.2f} s; states "
          + ", ".join(f"{s} {m['n']} cells, median {m['median_ohm']:.4g} ohm, chosen {m['chosen_model']}"
                      for s, m in states.items()))

    from sklearn.mixture import GaussianMixture

    x = np.log(cells).reshape(-1, 1)
    start = time.perf_counter()
    for k in range(1, 5):  # the state search
        GaussianMixture(k, n_init=3, random_state=0, tol=1e-6, max_iter=1000).fit(x)
    for state in states:  # each state's mixture (2..4 components)
        part = np.log(cells[outcome.curves["labels"] == state]).reshape(-1, 1)
        for k in range(2, 5):
            GaussianMixture(k, n_init=3, random_state=0, tol=1e-6, max_iter=1000).fit(part)
    baseline = time.perf_counter() - start
    print(f"  baseline, the same mixtures by scikit-learn's GaussianMixture on every cell: {baseline:.2f} s for the "
          f"mixtures alone; ratio {baseline / ours:.1f}x the whole fit (histogram EM, {distributions._EM_BINS} bins)")


def bench_iv() -> None:
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


def main(argv: list[str]) -> None:
    benches = {"pulse": bench_pulse, "distribution": bench_distribution, "iv": bench_iv}
    for name in argv or list(benches):
        print(f"== {name}")
        benches[name]()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
