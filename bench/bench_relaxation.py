"""Relaxation (`circuitkit fit --kind retention`) on the bundled real data, and how it predicts.

    .venv/bin/python bench/bench_relaxation.py [real|levels|temperatures|speed]

real          the 1 h bakes at 85 and 130 C (16,384 cells each): parameters with intervals,
              unrelated pairs per file, cross-validation across cells; ret1's read noise
levels        the 32-level runs read 15-30 min after programming (read_mlc_good, newwrite):
              the fitted relaxation spread at 22.5 min against each level's measured spread
              (relaxation cannot exceed it: the rest is programming spread)
temperatures  generated data at 85, 105, 130 C (1 h and 10 h bakes): fitted at 85 + 130 C,
              the 105 C spread per level against the prediction band
speed         the fit with the analytic gradient against the same fit with finite differences
              (the baseline, measured in the same run)
"""

from __future__ import annotations

import sys
import time

import numpy as np

from circuitkit.device.fit import fit_retention
from circuitkit.device.relaxation import RelaxationModel, RetentionPairs, fit_relaxation, read_noise_and_relaxation
from circuitkit.measurements import ReadOptions, read_retention
from circuitkit.resources import bundled_data

DATA = bundled_data("rram-1t1r-130nm")


def bakes():
    tables = []
    for name, time_s, temp in (("prebake85", 0, 25), ("postbake85", 3600, 85), ("prebake130", 0, 25),
                               ("postbake130", 3600, 130)):
        options = ReadOptions(header=False, columns={"address": 1, "resistance": 2},
                              constants={"time": time_s, "temperature": temp})
        tables.append(read_retention(DATA / f"{name}.tsv.gz", options=options))
    return tables


def real() -> RelaxationModel:
    began = time.perf_counter()
    outcome = fit_retention(bakes(), runs=("bake85", "bake85", "bake130", "bake130"))
    print(f"bundled bakes: fit {time.perf_counter() - began:.1f} s")
    for name, row in outcome.parameters.items():
        interval = f"[{row['ci95'][0]:.4g}, {row['ci95'][1]:.4g}] {row.get('interval', '')}" if row.get("ci95") else \
            row.get("held", "")
        print(f"  {name:<22} {row['value']:.5g} {interval}")
    for line in outcome.settings["summary"]:
        print("  " + line)
    for name, entry in outcome.metrics["unrelated_pairs"].items():
        print(f"  {name}: unrelated {entry['fraction']:.3%} {entry['ci95']} of {entry['pairs']} pairs")
    for name, entry in outcome.metrics["cross_validation"]["by_file"].items():
        print(f"  held-out {name}: {entry['coverage']:.1%} [{entry['ci95'][0]:.1%}, {entry['ci95'][1]:.1%}] "
              f"of {entry['pairs']} pairs in the 10-90 % interval")
    for flag in outcome.flags:
        print(f"  FLAG {flag['message']}")
    ret1 = np.loadtxt(DATA / "ret1.csv.gz", delimiter=",")
    print("ret1:", read_noise_and_relaxation(ret1[:, 1], ret1[:, 2]))
    return outcome.card.relaxation_model()


def levels(model: RelaxationModel | None = None) -> None:
    model = model or real()
    for name in ("read_mlc_good", "newwrite"):
        data = np.loadtxt(DATA / f"{name}.tsv.gz")
        level = ((data[:, 0] - data[0, 0]) / 2) % 32
        print(f"{name}: level, median R, measured spread (half 16-84 %) vs relaxation spread 22.5 min after programming")
        for k in range(0, 32, 4):
            ln_r = np.log(data[level == k, 1])
            low, median, high = np.percentile(ln_r, [15.87, 50, 84.13])
            predicted = float(model.spread(np.exp(median), 1350.0, 25.0))
            print(f"  L{k:<2} {np.exp(median) / 1e3:7.1f} kohm  measured {(high - low) / 2:.3f}  relaxation "
                  f"{predicted:.3f}  ({(ln_r.size)} cells)")


TRUTH = RelaxationModel(activation_energy_ev=0.6, time_exponent=0.2, m0=0.01, m1=0.03, m2=-0.01, s0=-3.3, s1=0.9,
                        s2=-0.15)


def generated(temps, durations, n, seed) -> RetentionPairs:
    rng = np.random.default_rng(seed)
    parts = []
    for g, temp in enumerate(temps):
        for duration in durations:
            r0 = np.exp(rng.uniform(np.log(8e3), np.log(2e5), n))
            parts.append((r0, TRUTH.sample(r0, duration, temp, rng), np.full(n, duration), np.full(n, float(temp)),
                          np.zeros(n), np.full(n, g)))
    c = [np.concatenate(x) for x in zip(*parts)]
    return RetentionPairs(c[0], c[1], c[2], c[3], c[4], c[5].astype(int), tuple(f"{t} C" for t in temps),
                          cell=np.arange(len(c[0])).astype(str))


def temperatures() -> None:
    fit = fit_relaxation(generated((85, 130), (3600.0, 36000.0), 3000, seed=1))
    model = fit.model
    print(f"fitted at 85 + 130 C (12,000 pairs): Ea {model.activation_energy_ev:.3f} "
          f"{fit.parameters['activation_energy_ev']['ci95']} (truth 0.6), alpha {model.time_exponent:.3f} "
          f"{fit.parameters['time_exponent']['ci95']} (truth 0.2)")
    middle = generated((105,), (3 * 3600.0,), 20000, seed=2)
    d, x = np.log(middle.r_after / middle.r_before), np.log(middle.r_before)
    edges = np.quantile(x, np.linspace(0, 1, 9))
    inside = 0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (x >= lo) & (x <= hi)
        r = float(np.exp(np.median(x[sel])))
        measured = float(np.std(d[sel] - model.median_shift(middle.r_before[sel], 3 * 3600.0, 105.0), ddof=1))
        band = [float(v) for v in model.spread_interval(r, 3 * 3600.0, 105.0)]
        half = 1.96 * measured / np.sqrt(2 * (sel.sum() - 1))
        ok = band[0] - half <= measured <= band[1] + half
        inside += ok
        print(f"  105 C, {r / 1e3:6.1f} kohm: measured {measured:.4f} +- {half:.4f}, predicted band "
              f"[{band[0]:.4f}, {band[1]:.4f}] {'inside' if ok else 'OUTSIDE'}")
    print(f"  {inside} of {len(edges) - 1} level bins inside")


def speed() -> None:
    from scipy import optimize

    pairs = generated((85, 130), (3600.0, 36000.0), 2000, seed=3)
    began = time.perf_counter()
    fit_relaxation(pairs, profile=False)
    analytic = time.perf_counter() - began
    original = optimize.minimize

    def finite_differences(fun, x0, jac=None, **kwargs):  # the same fit without the analytic gradient
        return original(lambda v: fun(v)[0], x0, **kwargs)

    optimize.minimize = finite_differences
    try:
        began = time.perf_counter()
        fit_relaxation(pairs, profile=False)
        numeric = time.perf_counter() - began
    finally:
        optimize.minimize = original
    print(f"8,000 pairs: analytic gradient {analytic:.2f} s, finite differences (baseline) {numeric:.2f} s: "
          f"{numeric / analytic:.1f}x")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "real"
    {"real": real, "levels": levels, "temperatures": temperatures, "speed": speed}[what]()
