"""Regenerate the example measurement files of characterization/ from the model itself.

No licensed raw HfOx measurement is public, so the examples are synthetic: a known "true"
rram_hfox card (TRUTH below) is simulated in ngspice (the compiled .va, OSDI) and the
results are given the noise and spreads of a real lab: cycle-to-cycle draws of the
saturation gaps, device-to-device lognormal spreads, instrument noise and finite digits.
Every random number comes from numpy's PCG64 seeded with --seed; the same seed, ngspice
build and numpy give byte-identical files.

    .venv/bin/python characterization/generate_examples.py --seed 20240611 [-o characterization]

Writes iv_sweep.csv, pulse_table.csv, resistance_distribution.csv and truth.json (the
card and draws the data came from, for parameter-recovery tests). See README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from circuitkit.device.model import ModelCard
from circuitkit.device.resimulate import ngspice_pulses, ngspice_read, ngspice_sweep

DEFAULT_SEED = 20240611
HERE = Path(__file__).resolve().parent

# The synthetic device: LRS ~10.5 kohm at gmin, HRS ~86 kohm at gmax (read at 0.1 V),
# SET near +1.2 V and RESET near -1.1 V in a 2 V/s quasi-static sweep (rram_hfox.va's
# default field thresholds, series resistance 0 and self-heating; vel0 sits high because the
# threshold takes exp(a0 fmin q/kT) ~ 1e6 out of the motion).
TRUTH = {
    "i0": 8.4e-5, "v0": 0.4, "gamma0": 16.0, "beta": 3.0, "vel0": 100.0,
    "gmin": 0.2e-9, "gmax": 0.725e-9, "c2c_sigma": 0.02e-9,
}
TEMP_C = 27.0
V_READ = 0.1

# I-V: 5 cycles of 0 -> +1.4 V -> 0 -> -1.4 V -> 0, 200 points per cycle, 2 V/s.
IV = {"cycles": 5, "points_per_cycle": 200, "v_set_max": 1.4, "v_reset_min": -1.4, "sweep_rate": 2.0,
      "current_noise_rel": 0.01, "current_noise_abs": 2e-10, "voltage_noise": 2e-4}
# Pulse table: 320 pulses on different cells of a 1T1R array, half SET (from HRS), half RESET (from LRS).
PULSE = {"rows": 320, "set_amplitudes": (1.2, 2.2), "reset_amplitudes": (-1.1, -2.1), "widths_us": (1, 5, 10, 50),
         "read_noise_rel": 0.01, "sigma_lnR_before": {"lrs": 0.05, "hrs": 0.3}}
# Distribution: a 2048-cell array programmed in a checkerboard, REFERENCES section 3 spreads.
DISTRIBUTION = {"cells": 2048, "columns": 64, "median": {"lrs": 10.5e3, "hrs": 85.8e3}, "sigma_lnR": {"lrs": 0.0475, "hrs": 0.38},
                "read_noise_rel": 0.005}


def truth_card() -> ModelCard:
    return ModelCard.from_values(TRUTH, provenance={"source": "characterization/generate_examples.py TRUTH"})


def _header(lines: list[str]) -> str:
    return "".join(f"# {line}\n" for line in lines)


def sweep_stimulus() -> tuple[np.ndarray, np.ndarray]:
    """(time, programmed voltage) of one cycle, starting and ending at 0 V."""
    quarter = IV["points_per_cycle"] // 4
    up = np.linspace(0.0, IV["v_set_max"], quarter + 1)
    down = np.linspace(0.0, IV["v_reset_min"], quarter + 1)
    voltage = np.concatenate([up[:-1], up[::-1][:-1], down[:-1], down[::-1]])
    time = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(voltage)) / IV["sweep_rate"])])
    return time, voltage


def generate_iv(rng: np.random.Generator, card: ModelCard, out: Path) -> dict:
    time1, voltage1 = sweep_stimulus()
    gap = TRUTH["gmax"]
    rows, draws = [], []
    for cycle in range(IV["cycles"]):
        c2c_set, c2c_reset = (float(x) for x in rng.standard_normal(2))
        sim = ngspice_sweep(card, time1, voltage1, gap, temp_c=TEMP_C, c2c_set=c2c_set, c2c_reset=c2c_reset)
        draws.append({"cycle": cycle + 1, "gap_start": gap, "c2c_set": c2c_set, "c2c_reset": c2c_reset})
        # the next cycle starts where this one ended, inside the nominal bounds (a cycle's c2c
        # draw moves its saturation up to ~0.05 nm past them; rram_hfox.va refuses a start there)
        gap = float(np.clip(sim.gap[-1], TRUTH["gmin"], TRUTH["gmax"]))
        points = slice(0, -1) if cycle < IV["cycles"] - 1 else slice(None)  # cycles share their 0 V end point
        t = time1[points] + cycle * time1[-1]
        v_meas = voltage1[points] + IV["voltage_noise"] * rng.standard_normal(len(t))
        i_true = sim.current[points]
        i_meas = (i_true * np.exp(IV["current_noise_rel"] * rng.standard_normal(len(t)))
                  + IV["current_noise_abs"] * rng.standard_normal(len(t)))
        rows += [f"{a:.6f},{b:.5f},{c * 1e6:.6g},{cycle + 1}" for a, b, c in zip(t, v_meas, i_meas)]
    header = _header([
        "instrument: Keysight B1500A SMU, quasi-static staircase sweep (SYNTHETIC: generated from rram_hfox.va",
        "  by characterization/generate_examples.py; see README.md)",
        "device: TiN/HfOx(10 nm)/Ti/TiN 1R, after forming; top electrode forced, bottom grounded",
        f"sweep: 0 -> +{IV['v_set_max']} -> 0 -> {IV['v_reset_min']} -> 0 V, {IV['points_per_cycle']} points per cycle, "
        f"{IV['sweep_rate']} V/s, {IV['cycles']} cycles, no compliance",
        f"temperature: {TEMP_C} C",
    ])
    (out / "iv_sweep.csv").write_text(header + "time_s,voltage_V,current_uA,cycle\n" + "\n".join(rows) + "\n")
    return {"gap_init": TRUTH["gmax"], "cycles": draws, "noise": IV}


def generate_pulses(rng: np.random.Generator, card: ModelCard, out: Path) -> dict:
    n = PULSE["rows"]
    is_set = np.arange(n) % 2 == 0
    lo_s, hi_s = PULSE["set_amplitudes"]
    lo_r, hi_r = PULSE["reset_amplitudes"]
    amplitude = np.where(is_set, np.round(rng.uniform(lo_s, hi_s, n), 2), np.round(rng.uniform(hi_r, lo_r, n), 2))
    width = rng.choice(np.array(PULSE["widths_us"], dtype=float), n) * 1e-6
    median_before = np.where(is_set, card.resistance(TRUTH["gmax"], V_READ), card.resistance(TRUTH["gmin"], V_READ))
    sigma_before = np.where(is_set, PULSE["sigma_lnR_before"]["hrs"], PULSE["sigma_lnR_before"]["lrs"])
    r_before_true = median_before * np.exp(sigma_before * rng.standard_normal(n))
    c2c = rng.standard_normal((n, 2))
    instance = [{"c2c_set": float(a), "c2c_reset": float(b)} for a, b in c2c]
    gap_after = ngspice_pulses(card, amplitude, width, card.gap_for_resistance(r_before_true, V_READ),
                               temp_c=TEMP_C, instance=instance)
    r_after_true = card.resistance(gap_after, V_READ)
    noise = PULSE["read_noise_rel"]
    r_before = r_before_true * np.exp(noise * rng.standard_normal(n))
    r_after = r_after_true * np.exp(noise * rng.standard_normal(n))
    address = rng.permutation(4096)[:n]
    rows = []
    for k in range(n):
        bl, sl = (amplitude[k], 0.0) if is_set[k] else (0.0, -amplitude[k])
        wl = 1.2 if is_set[k] else 3.3
        rows.append(f"0x{address[k]:03X},{wl:.2f},{bl:.2f},{sl:.2f},{width[k] * 1e6:g},"
                    f"{r_before[k] / 1e3:.5g},{r_after[k] / 1e3:.5g}")
    header = _header([
        "instrument: pulse programming on a 1T1R HfOx test array (SYNTHETIC: generated from rram_hfox.va",
        "  by characterization/generate_examples.py; see README.md)",
        "one row per pulse on a different cell; resistances read at 0.1 V before and after the pulse",
        "cell voltage = V_BL - V_SL (the select transistor's drop is taken as zero); WL only selects the cell",
    ])
    columns = "address,wl_voltage_V,bl_voltage_V,sl_voltage_V,pulse_width_us,r_before_kohm,r_after_kohm\n"
    (out / "pulse_table.csv").write_text(header + columns + "\n".join(rows) + "\n")
    return {"noise": PULSE}


def generate_distribution(rng: np.random.Generator, card: ModelCard, out: Path) -> dict:
    n = DISTRIBUTION["cells"]
    columns = DISTRIBUTION["columns"]
    row, col = np.divmod(np.arange(n), columns)
    state = np.where((row + col) % 2 == 0, "LRS", "HRS")
    g0 = card.value("g0")
    gap = np.empty(n)
    for label in ("LRS", "HRS"):
        cells = state == label
        nominal = float(card.gap_for_resistance(DISTRIBUTION["median"][label.lower()], V_READ))
        gap[cells] = nominal + DISTRIBUTION["sigma_lnR"][label.lower()] * g0 * rng.standard_normal(cells.sum())
    resistance = ngspice_read(card, list(gap), v_read=V_READ, temp_c=TEMP_C)
    resistance = resistance * np.exp(DISTRIBUTION["read_noise_rel"] * rng.standard_normal(n))
    rows = [f"{r},{c},{s},{value / 1e3:.5g}" for r, c, s, value in zip(row, col, state, resistance)]
    header = _header([
        "instrument: array read-out after program-and-verify, 0.1 V read (SYNTHETIC: generated from",
        "  rram_hfox.va by characterization/generate_examples.py; see README.md)",
        f"array: {n // columns} rows x {columns} columns 1T1R, checkerboard LRS/HRS",
    ])
    (out / "resistance_distribution.csv").write_text(header + "row,col,state,resistance_kohm\n" + "\n".join(rows) + "\n")
    return {"target": DISTRIBUTION}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("-o", "--out", type=Path, default=HERE)
    parser.add_argument("--only", choices=("iv", "pulse", "distribution"), action="append",
                        help="generate only these files (repeatable)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    card = truth_card()
    truth = {"seed": args.seed, "temp_c": TEMP_C, "v_read": V_READ, "card": json.loads(card.to_json())}
    # One child generator per file, so regenerating one file gives the same bytes as all of them.
    streams = dict(zip(("iv", "pulse", "distribution"), np.random.default_rng(args.seed).spawn(3)))
    generators = {"iv": generate_iv, "pulse": generate_pulses, "distribution": generate_distribution}
    for name in args.only or generators:
        truth[name] = generators[name](streams[name], card, args.out)
        print(f"wrote {name}", file=sys.stderr)
    if not args.only:
        (args.out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
