"""How far the read-disturb drift law carries: fitted to the first reads, checked against a
ten-times-longer simulation.

`circuitkit disturb` fits a power law to `reads` simulated reads and extrapolates it to
1e15. This script checks the first decade of that extrapolation in ngspice: for each case
it simulates `--long` consecutive reads in one transient, fits the law to the first
`--short` of them (as the command does), and prints the law's prediction of the drift at
read `--long` beside the simulated drift, per device.

    .venv/bin/python bench/bench_disturb.py [--short 100 --long 1000]
    .venv/bin/python bench/bench_disturb.py --slew [--reads 40]

Cases: the card fitted to the real 130 nm array (SET-direction drift of the HRS cell from
the word-line coupling, its SET threshold being near zero) at ff/1.98 V/125 C and
tt/1.98 V/27 C, and the default card with its RESET threshold lowered to 0.9 GV/m (RESET
drift of both cells) at ff/1.98 V/125 C.

`--slew`: the word-line rise time against the real card's SET-direction glitch. For the
clock edge (as designed), slew-limited ramps of 100-800 ps (`WordLineSlew`) and the fast
edge raised earlier in the precharge (`t_wl_lead` 0.5-0.95 ns instead of 0.2 ns), at
tt/1.8 V/125 C and ff/1.98 V/125 C: the peak SET-direction voltage across each cell, the
HRS gap change per read over `--reads` reads, and the cost (the fresh read's sensing
delay, sense margin and energy) relative to the clock edge measured in the same run.
"""

from __future__ import annotations

import argparse
import time

from circuitkit.corners.disturb import ReadBias, device_disturb, fit_drift_law, read_timing, stress_cells
from circuitkit.device.model import ModelCard
from circuitkit.netlist import ReadUnit
from circuitkit.netlist.pcsa import WordLineSlew
from circuitkit.operating import OperatingPoint
from circuitkit.resources import bundled_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", type=int, default=100, help="reads the law is fitted to")
    parser.add_argument("--long", type=int, default=1000, help="reads simulated to check it")
    parser.add_argument("--slew", action="store_true", help="sweep the word-line rise time instead")
    parser.add_argument("--reads", type=int, default=40, help="reads per transient of the --slew sweep")
    args = parser.parse_args()
    real = ModelCard.load(bundled_data("fits") / "real_1t1r" / "pulse" / "model_card.json")
    if args.slew:
        slew_sweep(real, args.reads)
        return
    cases = [("real card", real, OperatingPoint("ff", 1.98, 125.0)),
             ("real card", real, OperatingPoint("tt", 1.98, 27.0)),
             ("default card, fmin_reset 0.9 GV/m", ModelCard.default(fmin_reset=0.9e9), OperatingPoint("ff", 1.98, 125.0))]
    print(f"law fitted to reads 2..{args.short}, checked at read {args.long} (simulated in the same transient)")
    print(f"{'case':<36} {'point':<20} {'device':<9} {'law':<26} {'predicted pm':>13} {'simulated pm':>13} {'ratio':>7}")
    for name, card, point in cases:
        started = time.perf_counter()
        _, stresses = stress_cells("binary", [ReadUnit("p", +1)], point, card, ReadBias(),
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


def slew_sweep(card: ModelCard, reads: int) -> None:
    """Peak SET-direction voltage, HRS drift per read and the read's cost per word-line rise time."""
    print(f"real card, binary +1, {reads} reads per transient; cost relative to the clock edge (50 ps) in this run")
    print(f"{'point':<20} {'word line':<22} {'SET mV LRS/HRS':>15} {'HRS pm/read':>12} {'x less':>7} "
          f"{'delay ps':>9} {'margin mV':>10} {'read fJ':>8} {'s':>5}")
    for point in (OperatingPoint("tt", 1.8, 125.0), OperatingPoint("ff", 1.98, 125.0)):
        reference = None
        options = [(None, None), *((rise, None) for rise in (100e-12, 200e-12, 400e-12, 800e-12)),
                   *((None, lead) for lead in (0.5e-9, 0.7e-9, 0.85e-9, 0.95e-9))]
        for rise, lead in options:
            started = time.perf_counter()
            bias = ReadBias(wl_slew=WordLineSlew(rise) if rise else None, wl_lead=lead)
            first, stresses = stress_cells("binary", [ReadUnit("p", +1)], point, card, bias,
                                           bias.timing(read_timing("binary", point.vdd)), reads)
            lrs, hrs = (device_disturb(s, state, card) for s, state in zip(stresses, ("lrs", "hrs")))
            read = first["p"]
            reference = reference or (hrs.change_per_read_m, read)
            fewer = reference[0] / hrs.change_per_read_m if hrs.change_per_read_m else float("inf")
            print(f"{point.label():<20} {bias.label().replace('as designed', 'edge 50 ps'):<22} "
                  f"{lrs.peak_set_v * 1e3:>7.1f}/{hrs.peak_set_v * 1e3:<7.1f} {hrs.change_per_read_m * 1e12:>12.3g} "
                  f"{fewer:>7.3g} {read.delay_s * 1e12:>9.1f} {read.margin_v * 1e3:>10.0f} "
                  f"{read.energy_j * 1e15:>8.2f} {time.perf_counter() - started:>5.1f}")


if __name__ == "__main__":
    main()
