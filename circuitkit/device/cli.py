"""`circuitkit fit`: fit the rram_hfox model to measurement files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from circuitkit import CircuitkitError
from circuitkit.device.characterize import KINDS, FitOptions, characterize, summary
from circuitkit.device.distributions import CRITERIA
from circuitkit.device.fit import LOSSES
from circuitkit.device.model import ModelCard

EPILOG = """\
outputs: OUTDIR/model_card.json, OUTDIR/fit_report.json, OUTDIR/fit.png (the card and the
report are written before the ngspice re-simulation, which can never lose them)

Reading: a header row naming the columns, or none (--no-header; a first row of numbers
only is taken as data anyway): then give each column by its 1-based position,
--column resistance=2. Positions work with a header too. Units come from the header
(current_uA, 'Current (uA)') or --unit current=uA; without either, SI units (ohm, A, V,
s) are assumed and recorded. Rows with empty, NaN, infinite or Excel error (#N/A) cells,
resistances or widths <= 0, or resistances above --open-circuit are dropped, counted and
reported (--strict: an error instead). Files may be gzip-compressed (.gz).

Several files: pulse files are fitted jointly (e.g. a SET and a RESET sweep); a file
that gives only the pulsed line's voltage says which line with --pulsed-line bl,sl (one
per file); a column the files lack can be a constant: --constant sl_voltage=0.
Distribution files without a state column: one state per file with --states LRS,HRS, or
states found by a mixture on ln R (--threshold R_OHM splits there instead).

Examples (the bundled real 130 nm 1T1R data, read at 0.2 V):
  circuitkit fit reset_sweep.tsv.gz set_sweep.tsv.gz --kind distribution --no-header \\
      --column resistance=5 --states LRS,HRS --read-voltage 0.2
  circuitkit fit set_sweep.tsv.gz reset_sweep.tsv.gz --kind pulse --no-header \\
      --column address=1 --column width=2 --column wl_voltage=3 --column line_voltage=4 \\
      --column r_before=5 --column r_after=6 --pulsed-line bl,sl --read-voltage 0.2

Low-field reads of the same cells at several temperatures (one file each) fit the
activation energy of the gap conduction too:
  circuitkit fit reads_27C.csv reads_85C.csv reads_125C.csv --kind levels --temperatures 27,85,125

Retention: the bundled 1 h bakes (the same cells before and after, paired by address):
  circuitkit fit prebake85.tsv.gz postbake85.tsv.gz prebake130.tsv.gz postbake130.tsv.gz \\
      --kind retention --no-header --column address=1,resistance=2 --times 0,1h,0,1h \\
      --temperatures 25,85,25,130 --runs bake85,bake85,bake130,bake130

Chain fits: pass a card with --card to start from it (a distribution fit adds the
device-to-device spread to a card whose current equation and dynamics it keeps).
"""


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    pairs = {}
    for item in values or []:
        parts = item.split(",")
        for part in parts if all("=" in p for p in parts) else [item]:  # a=1,b=2 or one pair
            key, sep, value = part.partition("=")
            if not sep or not key or not value:
                raise CircuitkitError(f"{option} expects QUANTITY=VALUE, got {part!r}")
            pairs[key.strip()] = value.strip()
    return pairs


def _list(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


def _floats(value: str | None, option: str) -> tuple[float, ...] | None:
    if not value:
        return None
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise CircuitkitError(f"{option} expects numbers separated by commas, got {value!r}") from None


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "fit", help="fit the RRAM Verilog-A model to measurement files (I-V sweep, pulse table, distribution)",
        description="Fit rram_hfox.va to measurements with lmfit, re-simulate the fitted card in ngspice, "
                    "and write the model card, a fit report and a plot.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, nargs="+", help="measurement file(s): CSV/TSV, optionally .gz")
    parser.add_argument("--kind", required=True, choices=KINDS, help="measurement shape: iv (switching I-V sweep), "
                        "levels (low-field reads of many cells: address, voltage, current), pulse, distribution, retention "
                        "(resistance, time, temperature; before/after pairs or series by address)")
    parser.add_argument("-o", "--outdir", type=Path, help="output directory (default: fit-<first data file stem>)")
    parser.add_argument("--card", type=Path, help="model card JSON to start from (default: the .va defaults)")
    reading = parser.add_argument_group("reading the files")
    reading.add_argument("--no-header", dest="header", action="store_false", default=None,
                         help="the files have no header row: give columns by position (--column resistance=2)")
    reading.add_argument("--header", dest="header", action="store_true",
                         help="the first row names the columns even if it looks numeric")
    reading.add_argument("--column", action="append", metavar="QUANTITY=NAME|POSITION",
                         help="column of a quantity, by header name or 1-based position (repeat, or comma-separate)")
    reading.add_argument("--unit", action="append", metavar="QUANTITY=UNIT", help="unit of a column, e.g. current=uA")
    reading.add_argument("--constant", action="append", metavar="QUANTITY=VALUE",
                         help="a quantity the files lack, the same for every row (SI units), e.g. sl_voltage=0")
    reading.add_argument("--pulsed-line", metavar="bl|sl[,...]", help="pulse files giving only the pulsed line's "
                         "voltage (--column line_voltage=N): which line, one per file (bl: SET, sl: RESET)")
    reading.add_argument("--states", metavar="LABEL[,...]", help="distribution files without a state column: "
                         "one state label per file (e.g. LRS,HRS)")
    reading.add_argument("--read-voltage", "--v-read", dest="v_read", type=float,
                         help="bias (V) the resistances were read at; recorded on the card (default: a "
                         "'# read voltage:' comment in the file, else 0.1 V with a warning)")
    reading.add_argument("--open-circuit", type=float, default=1e9, metavar="OHM",
                         help="resistances above this are open circuits: dropped and counted (default 1e9; 0: keep all)")
    reading.add_argument("--strict", action="store_true", help="a bad row is an error, not a dropped row")
    reading.add_argument("--sweep-rate", type=float, help="I-V sweep rate in V/s when the file has no time column")
    fitting = parser.add_argument_group("fitting")
    fitting.add_argument("--loss", default="linear", choices=LOSSES, help="least-squares loss; soft_l1 etc. are "
                         "robust to outliers beyond ~10 %% in ln units (default: linear)")
    fitting.add_argument("--temp", type=float, default=27.0, help="device temperature in C (default: 27)")
    fitting.add_argument("--current-floor", type=float, help="current noise floor in A for the log residual "
                         "(default: 1e-3 x median |I|, at least 1 pA)")
    fitting.add_argument("--compliance", type=float, help="I-V compliance current in A: points at it are not fitted")
    fitting.add_argument("--threshold", metavar="OHM[,...]", help="distributions without states: split the cells "
                         "at these resistances instead of finding the populations")
    fitting.add_argument("--max-states", type=int, default=4, help="distributions: at most this many mixture "
                         "components when finding states (default 4)")
    fitting.add_argument("--state-names", metavar="NAME[,...]", help="names of the states found, low to high R "
                         "(default LRS,HRS for two)")
    fitting.add_argument("--criterion", default="bic", choices=CRITERIA, help="information criterion choosing "
                         "each state's distribution model (default bic)")
    fitting.add_argument("--holdout", type=float, default=0.2, help="pulse model: fraction of cells held out of "
                         "the fit to judge it (default 0.2)")
    fitting.add_argument("--fet-width", metavar="UM[,...]", help="pulse model: access transistor width in um (default "
                         "1, see circuitkit/device/access.py); several (1,3,10): the fit keeps the one that follows "
                         "the data best")
    fitting.add_argument("--fet-length", type=float, metavar="UM", help="pulse model: access transistor length in um")
    fitting.add_argument("--fet-corner", default="tt", help="pulse model: process corner of the access transistor")
    fitting.add_argument("--no-transistor", action="store_true", help="pulse files: V_BL - V_SL lies across the cell "
                         "(no access transistor in the loop; a deterministic least-squares fit)")
    fitting.add_argument("--cycling", type=Path, metavar="FILE", help="pulse model: one cell's SET/RESET cycling log "
                         "(chip, unix time, address, operation, fields; see circuitkit/measurements/cycling.py): "
                         "splits the rate spread into a per-pulse and a per-cell part (default: all per pulse)")
    fitting.add_argument("--read-series", type=Path, metavar="FILE", help="pulse model with --cycling: one cell read "
                         "many times (address, unix time, R, ...), the read noise of the cycling log's reads "
                         "(default: the pulse card's read term)")
    retention = parser.add_argument_group("retention (--kind retention)")
    retention.add_argument("--times", metavar="T[,...]", help="per file, the time of its reads when it has no time "
                           "column: after programming, or the bake duration of a pair file (1h, 30min, 3600; one per "
                           "file or one for all)")
    retention.add_argument("--temperatures", metavar="C[,...]", help="per file, the temperature (C) the cells spent "
                           "the time at, when the file has no temperature column; levels files: the temperature "
                           "each file was read at, one per file in order (the same cells at two or more "
                           "temperatures fit the activation energy eac; default: one file at the card's tnom)")
    retention.add_argument("--runs", metavar="LABEL[,...]", help="per file, the run its cells belong to: the files of "
                           "one run hold reads of the same cells (e.g. pre- and post-bake), paired by address")
    retention.add_argument("--time-exponent", type=float, help="hold the relaxation's time exponent at this value "
                           "(default: fitted where the data identify it, else an announced assumption)")
    retention.add_argument("--activation-energy", type=float, metavar="EV", help="hold the activation energy (eV)")
    retention.add_argument("--read-noise", type=float, metavar="SIGMA", help="sigma of ln R of one read, taken out of "
                           "the relaxation spread (default: from the files' time series of single cells, else none)")
    spice = parser.add_argument_group("ngspice re-simulation")
    spice.add_argument("--no-ngspice", action="store_true", help="skip the ngspice re-simulation")
    spice.add_argument("--ngspice-cells", type=int, default=2000, help="re-simulate at most this many rows "
                       "(pulses) or cells per state (distributions), a seeded subsample (default 2000)")
    spice.add_argument("--seed", type=int, default=1, help="seed of subsamples, held-out cells and ngspice draws")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    parser.set_defaults(handler=run)


def options_from_args(args: argparse.Namespace) -> FitOptions:
    constants = _pairs(args.constant, "--constant")
    return FitOptions(
        start=ModelCard.load(args.card) if args.card else None, loss=args.loss, temp_c=args.temp,
        sweep_rate=args.sweep_rate, current_floor=args.current_floor, compliance=args.compliance,
        v_read=args.v_read, units=_pairs(args.unit, "--unit"), columns=_pairs(args.column, "--column"),
        constants=constants or None, header=args.header, strict=args.strict,
        open_circuit_ohm=args.open_circuit if args.open_circuit and args.open_circuit > 0 else None,
        pulsed_lines=_list(args.pulsed_line), states=_list(args.states),
        threshold_ohm=_floats(args.threshold, "--threshold"), max_states=args.max_states,
        state_names=_list(args.state_names), criterion=args.criterion, holdout=args.holdout,
        fet_width_um=_floats(args.fet_width, "--fet-width"), fet_length_um=args.fet_length, fet_corner=args.fet_corner,
        transistor_in_loop=not args.no_transistor, cycling=args.cycling, read_series=args.read_series, times=_list(args.times), temperatures=_list(args.temperatures),
        runs=_list(args.runs), time_exponent=args.time_exponent, activation_energy=args.activation_energy,
        read_noise=args.read_noise,
        ngspice=not args.no_ngspice, ngspice_cells=args.ngspice_cells, seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    name = args.data[0].name.split(".")[0]
    outdir = args.outdir or Path(f"fit-{name}")
    if args.quiet:
        result = characterize(args.data, args.kind, outdir, options)
    else:
        from tqdm import tqdm

        with tqdm(desc="circuitkit fit: model evaluations", unit=" eval", leave=False, file=sys.stderr,
                  mininterval=0.5) as bar:
            def progress(evaluations: int, cost: float) -> None:
                bar.update(evaluations - bar.n)
                bar.set_postfix(cost=f"{cost:.4g}", refresh=False)

            def log(message: str) -> None:
                bar.write(f"circuitkit fit: {message}", file=sys.stderr)

            result = characterize(args.data, args.kind, outdir, options, progress=progress, log=log)
    print(summary(result))
    return 0
