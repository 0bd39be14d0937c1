"""How far the read-disturb drift law carries: fitted to the first reads, checked against a
ten-times-longer simulation.

`circuitkit disturb` fits a power law to `reads` simulated reads and extrapolates it to
1e15. This script checks the first decade of that extrapolation in ngspice: for each case
it simulates `--long` consecutive reads in one transient, fits the law to the first
`--short` of them (as the command does), and prints the law's prediction of the drift at
read `--long` beside the simulated drift, per device.

    .venv/bin/python bench/bench_disturb.py [--short 100 --long 1000]

Cases: the card fitted to the real 130 nm array (SET-direction drift of the HRS cell from
the word-line coupling, its SET threshold being near zero) at ff/1.98 V/125 C and
tt/1.98 V/27 C, and the default card with its RESET threshold lowered to 0.9 GV/m (RESET
drift of both cells) at ff/1.98 V/125 C.
"""

from __future__ import annotations

import argparse
import time

from circuitkit.corners.disturb import device_disturb, fit_drift_law, read_timing, stress_cells
from circuitkit.device.model import ModelCard
from circuitkit.netlist import ReadUnit
from circuitkit.operating import OperatingPoint
from circuitkit.resources import bundled_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", type=int, default=100, help="reads the law is fitted to")
    parser.add_argument("--long", type=int, default=1000, help="reads simulated to check it")
    args = parser.parse_args()
    real = ModelCard.load(bundled_data("fits") / "real_1t1r" / "pulse" / "model_card.json")
    cases = [("real card", real, OperatingPoint("ff", 1.98, 125.0)),
             ("real card", real, OperatingPoint("tt", 1.98, 27.0)),
             ("default card, fmin_reset 0.9 GV/m", ModelCard.default(fmin_reset=0.9e9), OperatingPoint("ff", 1.98, 125.0))]
    print(f"law fitted to reads 2..{args.short}, checked at read {args.long} (simulated in the same transient)")
    print(f"{'case':<36} {'point':<20} {'device':<9} {'law':<26} {'predicted pm':>13} {'simulated pm':>13} {'ratio':>7}")
    for name, card, point in cases:
        started = time.perf_counter()
        _, stresses = stress_cells("binary", [ReadUnit("p", +1)], point, card, None,
                                   read_timing("binary", point.vdd), args.long)
        for stress, state in zip(stresses, ("lrs", "hrs")):
            simulated = float(stress.gap_m[-1] - stress.gap_m[0])
            law = fit_drift_law(stress.gap_m[:args.short])
            if law is None:
                print(f"{name:<36} {point.label():<20} {state:<9} {'no motion':<26} {0:>13} {simulated * 1e12:>13.4g}")
                continue
            predicted = float(law.drift_m(args.long))
            print(f"{name:<36} {point.label():<20} {state:<9} {law.label():<26} {predicted * 1e12:>13.4g} "
                  f"{simulated * 1e12:>13.4g} {predicted / simulated if simulated else float('nan'):>7.3f}")
        device = device_disturb(stresses[1], "hrs", card)
        print(f"{'':<36} HRS peak {device.peak_reset_v:.3f} V RESET / {device.peak_set_v:.3f} V SET, "
              f"{device.energy_per_read_j * 1e15:.2f} fJ/read; {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
