"""Regenerate every fitted card in characterization/fits/ with the documented commands.

    .venv/bin/python characterization/regenerate_fits.py [--only synthetic|real] [-o characterization/fits]

Two chains, each fit starting from the card before it:

- synthetic (the model-generated examples; known truth, see README.md):
    iv_sweep.csv --kind iv  ->  pulse_table.csv --kind pulse --no-transistor  ->
    resistance_distribution.csv --kind distribution
  into fits/iv_sweep, fits/pulse_table, fits/resistance_distribution;
- real (the bundled 130 nm 1T1R array, rram-1t1r-130nm/, read at 0.2 V):
    read_voltage_sweep --kind levels  ->  set_sweep + reset_sweep --kind pulse (the rate
    spread split by the cycling log endurance_log, its reads' noise from ret1)  ->
    reset_sweep + set_sweep (R before: LRS, HRS) --kind distribution
  into fits/real_1t1r/levels, fits/real_1t1r/pulse, fits/real_1t1r/distribution.
  fits/real_1t1r/distribution/model_card.json is the complete real-device card (current
  equation, switching dynamics, pulse model, LRS/HRS distribution models).

Paths are written relative to the repository (run from anywhere); the fits are
deterministic, so a rerun reproduces every number (tests/test_characterization_fits.py
checks it; only dates and run times change).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = "characterization/rram-1t1r-130nm"
SWEEP = "address=1,width=2,wl_voltage=3,line_voltage=4,r_before=5,r_after=6"


def commands(out: str) -> dict[str, list[list[str]]]:
    ex = "characterization"
    return {
        "synthetic": [
            [f"{ex}/iv_sweep.csv", "--kind", "iv", "-o", f"{out}/iv_sweep"],
            [f"{ex}/pulse_table.csv", "--kind", "pulse", "--no-transistor", "--card", f"{out}/iv_sweep/model_card.json",
             "-o", f"{out}/pulse_table"],
            [f"{ex}/resistance_distribution.csv", "--kind", "distribution", "--card",
             f"{out}/pulse_table/model_card.json", "-o", f"{out}/resistance_distribution"],
        ],
        "real": [
            [f"{REAL}/read_voltage_sweep.tsv.gz", "--kind", "levels", "--no-header", "--column",
             "address=1,voltage=2,current=3", "--read-voltage", "0.2", "-o", f"{out}/real_1t1r/levels"],
            [f"{REAL}/set_sweep.tsv.gz", f"{REAL}/reset_sweep.tsv.gz", "--kind", "pulse", "--no-header", "--column",
             SWEEP, "--pulsed-line", "bl,sl", "--read-voltage", "0.2", "--card",
             f"{out}/real_1t1r/levels/model_card.json", "--cycling", f"{REAL}/endurance_log.csv.gz",
             "--read-series", f"{REAL}/ret1.csv.gz", "-o", f"{out}/real_1t1r/pulse"],
            [f"{REAL}/reset_sweep.tsv.gz", f"{REAL}/set_sweep.tsv.gz", "--kind", "distribution", "--no-header",
             "--column", "resistance=5,address=1", "--states", "LRS,HRS", "--read-voltage", "0.2", "--card",
             f"{out}/real_1t1r/pulse/model_card.json", "-o", f"{out}/real_1t1r/distribution"],
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("synthetic", "real"), help="regenerate one chain only")
    parser.add_argument("-o", "--out", default="characterization/fits", help="output directory (relative to the "
                        "repository, default characterization/fits)")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    from circuitkit.cli import main as circuitkit

    for chain, steps in commands(args.out).items():
        if args.only and chain != args.only:
            continue
        for step in steps:
            print("circuitkit fit " + " ".join(step), flush=True)
            if circuitkit(["fit", *step, "-q"]) != 0:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
