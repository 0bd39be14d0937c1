"""Device characterization end to end: read measurement files, fit, re-simulate in ngspice, write the outputs.

    from circuitkit.device.characterize import characterize, FitOptions
    result = characterize("characterization/iv_sweep.csv", "iv", "out/fit-iv")
    result = characterize(["set_sweep.tsv.gz", "reset_sweep.tsv.gz"], "pulse", "out/fit-pulse", FitOptions(...))

writes `model_card.json` (the fitted card), `fit_report.json` (what was read, parameters
with standard errors, fit metrics, flags, ngspice re-simulation metrics, runtimes) and
`fit.png`. The card and the report are written as soon as the fit is done, before the
ngspice re-simulation: a crash, a time-step failure or a kill there never loses the fit.
The re-simulation runs the compiled .va on the measurement's stimulus with the fitted
card (large data on a documented, seeded subsample, in chunks), retries once with safer
simulator settings, and the report records what could not be re-simulated and why.

A fit whose flags are not empty (a parameter at a bound, an undetermined parameter, a
non-converged optimiser, a distribution a goodness-of-fit test rejects) is still written,
marked `"status": "flagged"` in the card's provenance and in the report.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from circuitkit import CircuitkitError, __version__
from circuitkit.device import fit as fitting
from circuitkit.report import fit_plots as plotting
from circuitkit.device.model import DEFAULT_READ_VOLTAGE, ModelCard
from circuitkit.files import write_atomic
from circuitkit.measurements import (
    IVSweep,
    PulseTable,
    ReadOptions,
    ResistanceDistribution,
    RetentionFiles,
    read_measurement,
)

KINDS = ("iv", "levels", "pulse", "distribution", "retention")
Log = Callable[[str], None]


@dataclasses.dataclass
class CharacterizationResult:
    card: ModelCard
    report: dict[str, Any]
    card_path: Path
    report_path: Path
    plot_path: Path | None


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """Options of `circuitkit fit` (all optional)."""

    start: ModelCard | None = None  # card to start from (e.g. an I-V fit before a pulse fit)
    loss: str = "linear"
    temp_c: float = 27.0
    sweep_rate: float | None = None  # V/s, for I-V files without a time column
    current_floor: float | None = None  # A
    compliance: float | None = None  # A
    v_read: float | None = None  # V, read voltage of the resistances; None: from the files, else 0.1 V (announced)
    # reading (see measurements.ReadOptions): applied to every file
    units: Mapping[str, str] | None = None
    columns: Mapping[str, Any] | None = None
    constants: Mapping[str, Any] | None = None
    header: bool | None = None
    strict: bool = False
    open_circuit_ohm: float | None = 1e9
    pulsed_lines: tuple[str, ...] | None = None  # pulse files: 'bl'/'sl' per file (or one for all)
    states: tuple[str, ...] | None = None  # distribution files: one state label per file
    # distributions
    threshold_ohm: tuple[float, ...] | None = None
    max_states: int = 4
    state_names: tuple[str, ...] | None = None
    criterion: str = "bic"
    # pulse model (1T1R files with word-, bit- and source-line voltages)
    holdout: float = 0.2  # fraction of cells held out of the fit to judge it
    fet_width_um: tuple[float, ...] | None = None  # one width, or several for the fit to compare
    fet_length_um: float | None = None
    fet_corner: str = "tt"
    transistor_in_loop: bool = True  # False: V_BL - V_SL lies across the cell (files without an access transistor)
    cycling: Path | None = None  # one cell's SET/RESET cycling log: the rate spread's per-pulse part
    read_series: Path | None = None  # one cell read many times: the cycling log's read noise
    # retention (`device.relaxation`): per file, the time (s, or '1h') and temperature (C) of its
    # reads when the file has no such column, and the run its cells belong to. Levels files
    # take `temperatures` too: the temperature each file was read at (a temperature series)
    times: tuple[str, ...] | None = None
    temperatures: tuple[str, ...] | None = None
    runs: tuple[str, ...] | None = None
    time_exponent: float | None = None  # held at this value (else fitted where identified)
    activation_energy: float | None = None  # eV, held at this value
    read_noise: float | None = None  # sigma of ln R per read, taken out of the relaxation spread
    # ngspice re-simulation
    ngspice: bool = True
    ngspice_cells: int = 2000  # at most this many rows (pulses) or cells per state (distributions)
    seed: int = 1

    def read_options(self, index: int, count: int) -> ReadOptions:
        def per_file(values: tuple[str, ...] | None, what: str) -> str | None:
            if not values:
                return None
            if len(values) not in (1, count):
                raise CircuitkitError(f"{what}: give one value for every file ({count}) or one for all, got "
                                      f"{', '.join(values)}")
            return values[index if len(values) == count else 0]

        constants = dict(self.constants or {})
        state = per_file(self.states, "--states")
        if state is not None:
            constants["state"] = state
        for key, values in (("time", self.times), ("temperature", self.temperatures)):
            value = per_file(values, f"--{key}s")
            if value is not None:
                from circuitkit.device.relaxation import parse_duration

                constants[key] = parse_duration(value) if key == "time" else value
        return ReadOptions(header=self.header, columns=self.columns, units=self.units, constants=constants or None,
                           strict=self.strict, open_circuit_ohm=self.open_circuit_ohm, read_voltage=self.v_read,
                           pulsed_line=per_file(self.pulsed_lines, "--pulsed-line"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def read_files(paths: Sequence[Path], kind: str, options: FitOptions):
    """Read every file of a fit and join them (pulse tables, distributions); one I-V file."""
    if kind == "iv" and len(paths) != 1:
        raise CircuitkitError(f"an I-V fit takes one file, got {len(paths)}")
    parts = []
    for k, path in enumerate(paths):
        extra = {"sweep_rate": options.sweep_rate} if kind == "iv" else {}
        if kind == "levels":  # reads at fixed biases: the time base is irrelevant
            extra = {"sweep_rate": options.sweep_rate or 1.0}
        # a levels file's temperature belongs to the series, not to its rows
        reading = dataclasses.replace(options, temperatures=None) if kind == "levels" else options
        parts.append(read_measurement(path, "iv" if kind == "levels" else kind,
                                      options=reading.read_options(k, len(paths)), **extra))
    if kind == "pulse":
        return PulseTable.join(parts)
    if kind == "distribution":
        return ResistanceDistribution.join(parts)
    if kind == "levels":  # one file, or a temperature series of the same cells
        from circuitkit.device.levels import LevelsSeries

        return LevelsSeries.from_files(parts, options.temperatures, options.start or ModelCard.default())
    if kind == "retention":
        return RetentionFiles(tuple(parts))
    return parts[0]


def _sources(data: Any):
    return getattr(data, "sources", ()) or (data.source,)


def resolve_read_voltage(data: Any, options: FitOptions, log: Log) -> tuple[float, str]:
    """The read voltage the resistances refer to, and where it came from (announced if defaulted)."""
    sources = _sources(data)
    known = [s.read_voltage for s in sources if s.read_voltage is not None]
    if known:
        return known[0], sources[0].read_voltage_origin if sources[0].read_voltage is not None else "file"
    value = DEFAULT_READ_VOLTAGE
    log(f"WARNING: no read voltage given for the resistances (--read-voltage, or a '# read voltage:' comment): "
        f"assuming {value:g} V. The card's resistances then refer to {value:g} V reads; say so if they do not")
    return value, f"default {value:g} V (not given: assumed)"


def characterize(paths: Path | str | Sequence[Path | str], kind: str, outdir: Path | str,
                 options: FitOptions = FitOptions(), *, progress: fitting.Progress | None = None,
                 log: Log | None = None) -> CharacterizationResult:
    if kind not in KINDS:
        raise CircuitkitError(f"unknown measurement kind {kind!r}; choose one of {', '.join(KINDS)}")
    log = log or (lambda message: None)
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    outdir = Path(outdir)
    times: dict[str, float] = {}
    began = time.perf_counter()

    log(f"reading {', '.join(map(str, paths))} as {kind}")
    data = read_files(paths, kind, options)
    for source in _sources(data):
        log(source.summary())
    if kind == "iv":
        v_read, v_read_origin = DEFAULT_READ_VOLTAGE, "I-V fit"
    elif kind == "levels":
        v_read = options.v_read or DEFAULT_READ_VOLTAGE
        v_read_origin = "given (--read-voltage)" if options.v_read else f"default {v_read:g} V"
    elif kind == "retention":  # each cell is compared with itself: the read voltage only labels the card
        v_read = options.v_read or DEFAULT_READ_VOLTAGE
        v_read_origin = "given (--read-voltage)" if options.v_read else "not used by the relaxation fit"
    else:
        v_read, v_read_origin = resolve_read_voltage(data, options, log)
    times["read"] = time.perf_counter() - began

    log("fitting" + (" (the Python model integrates every cycle of the sweep)" if kind == "iv" else ""))
    mark = time.perf_counter()
    outcome = _fit(kind, data, options, v_read, progress, log)
    times["fit"] = time.perf_counter() - mark
    for flag in outcome.flags:
        log(f"FLAG: {flag['message']}")

    report = _report(kind, data, outcome, options, v_read, v_read_origin, times)
    card = outcome.card.with_values(provenance=_provenance(data, outcome, None, options, v_read))
    card_path = card.save(outdir / "model_card.json")
    report_path = _write_report(outdir, report, card_path)
    log(f"wrote {card_path} and {report_path} (before any ngspice run)")

    if options.ngspice and kind == "retention":
        spice_curve, spice = None, {"status": "not applicable", "reason": "relaxation is not in the compact model: "
                                    "campaigns apply it to the states they draw (--read-after)"}
    elif options.ngspice:
        log("re-simulating the measurement's stimulus with the fitted card in ngspice")
        mark = time.perf_counter()
        spice_curve, spice = _resimulate_safely(kind, data, outcome, options, v_read, outdir / "ngspice", log)
        times["ngspice"] = time.perf_counter() - mark
    else:
        spice_curve, spice = None, {"status": "not run", "reason": "--no-ngspice"}
    report["ngspice_metrics"] = spice.get("metrics")
    report["ngspice"] = {k: v for k, v in spice.items() if k != "metrics"}
    card = outcome.card.with_values(provenance=_provenance(data, outcome, spice, options, v_read))
    card.save(card_path)

    log("plotting")
    mark = time.perf_counter()
    name = " + ".join(p.name for p in paths)
    try:
        plot_path: Path | None = _plot(kind, outdir / "fit.png", data, outcome, spice_curve, name)
        report["outputs"]["plot"] = plot_path.name
    except Exception as error:  # noqa: BLE001 - a plot must never cost the fit
        plot_path = None
        report["outputs"]["plot"] = None
        report["plot_error"] = f"{type(error).__name__}: {error}"
        log(f"WARNING: the plot failed ({error}); card and report are complete")
    times["plot"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - began
    report["runtime_s"] = dict(times)
    report_path = _write_report(outdir, report, card_path)
    return CharacterizationResult(card, report, card_path, report_path, plot_path)


def _write_report(outdir: Path, report: dict[str, Any], card_path: Path) -> Path:
    report.setdefault("outputs", {})["model_card"] = card_path.name
    return write_atomic(outdir / "fit_report.json", json.dumps(_jsonable(report), indent=2) + "\n")


def _report(kind: str, data: Any, outcome: fitting.FitOutcome, options: FitOptions, v_read: float,
            v_read_origin: str, times: dict[str, float]) -> dict[str, Any]:
    sources = _sources(data)
    return {
        "circuitkit_version": __version__,
        "date": _now(),
        "kind": kind,
        "status": "flagged" if outcome.flags else "ok",
        "flags": outcome.flags,
        "data": sources[0].describe() | {"rows": len(data)},
        "files": [source.describe() for source in sources],
        "read_voltage": {"value_V": v_read, "origin": v_read_origin},
        "settings": outcome.settings,
        "parameters": outcome.parameters,
        "measurement_state": outcome.measurement_state,
        "fit_metrics": outcome.metrics,
        "ngspice_metrics": None,
        "ngspice": {"status": "pending"},
        "optimizer": {"evaluations": outcome.nfev, "success": outcome.success, "message": outcome.message},
        "runtime_s": dict(times),
        "outputs": {},
    }


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _fit(kind: str, data: Any, options: FitOptions, v_read: float, progress, log: Log) -> fitting.FitOutcome:
    if kind == "iv":
        return fitting.fit_iv(data, options.start, loss=options.loss, temp_c=options.temp_c,
                              current_floor=options.current_floor, compliance=options.compliance, progress=progress)
    if kind == "levels":
        from circuitkit.device.levels import fit_levels

        return fit_levels(data, options.start, v_read=v_read)
    if kind == "retention":
        return fitting.fit_retention(data.tables, options.start, runs=options.runs, time_exponent=options.time_exponent,
                                     activation_energy_ev=options.activation_energy, read_noise=options.read_noise,
                                     seed=options.seed)
    if kind == "pulse":
        if data.has_terminals and options.transistor_in_loop:
            from circuitkit.device import pulse

            return pulse.fit_pulse_model(data, options.start, v_read=v_read, temp_c=options.temp_c,
                                         holdout=options.holdout, seed=options.seed,
                                         transistors=pulse.transistors_from_options(options), log=log,
                                         cycling=options.cycling, read_series=options.read_series)
        return fitting.fit_pulses(data, options.start, loss=options.loss, temp_c=options.temp_c,
                                  v_read=v_read, progress=progress)
    return fitting.fit_distribution(data, options.start, v_read=v_read, criterion=options.criterion,
                                    threshold_ohm=options.threshold_ohm, max_states=options.max_states,
                                    state_names=options.state_names)


# ---------------------------------------------------------------------------- ngspice


def _resimulate_safely(kind: str, data: Any, outcome: fitting.FitOutcome, options: FitOptions, v_read: float,
                       workdir: Path, log: Log) -> tuple[Any, dict[str, Any]]:
    """The re-simulation, retried once with safer settings; a failure is a record, never a lost fit."""
    attempts = []
    for safer in (False, True):
        try:
            curve, metrics, details = _resimulate(kind, data, outcome, options, v_read, workdir, safer)
            shutil.rmtree(workdir, ignore_errors=True)  # the decks are kept only when a run fails
            return curve, {"status": "ok", "attempts": attempts + [{"safer": safer, "result": "ok"}],
                           "metrics": metrics, **details}
        except (CircuitkitError, OSError, KeyError, ValueError) as error:
            netlist = getattr(error, "netlist_path", None)
            attempts.append({"safer": safer, "result": "failed", "message": str(error),
                             "netlist": str(netlist) if netlist else None})
            log(f"WARNING: the ngspice re-simulation failed{' again with safer settings' if safer else ''}: {error}"
                + (f" (netlist kept at {netlist})" if netlist else ""))
            if not safer:
                log("retrying with safer simulator settings (smaller chunks, gear integration, looser tolerances, pulse edges of 1 % of the width)")
    return None, {"status": "failed", "attempts": attempts,
                  "not_simulated": "everything: the card and the fit report stand on the Python model alone",
                  "metrics": None}


def _resimulate(kind: str, data: Any, outcome: fitting.FitOutcome, options: FitOptions, v_read: float,
                workdir: Path, safer: bool) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    from circuitkit.device.resimulate import ngspice_pulses, ngspice_read, ngspice_sweep

    card = outcome.card
    if kind == "levels":
        from circuitkit.device import levels

        return levels.resimulate(outcome, data, workdir)
    if kind == "iv":
        sweep: IVSweep = data
        sim = ngspice_sweep(card, sweep.time, sweep.voltage, outcome.measurement_state["gap_init"],
                            temp_c=options.temp_c)
        floor = outcome.settings["current_floor_A"]
        metrics = fitting.iv_metrics(sweep, sim.current, floor, outcome.curves["levels"], outcome.curves["mask"])
        return sim.current, metrics, {"rows_simulated": len(sweep)}
    if kind == "pulse":
        if "pulse_model" in outcome.curves:
            from circuitkit.device import pulse

            return pulse.resimulate(outcome, data, options, workdir, safer)
        table: PulseTable = data
        after = ngspice_pulses(card, table.amplitude, table.width, outcome.curves["gap_before"], temp_c=options.temp_c,
                               chunk=10 if safer else 50, workdir=workdir)
        r_after = card.resistance(after, v_read)
        return r_after, fitting.pulse_metrics(table, r_after), {"rows_simulated": len(table)}
    distribution: ResistanceDistribution = data
    rng = np.random.default_rng(options.seed)
    simulated, drawn = {}, {}
    for k, fit in enumerate(outcome.curves["fits"]):
        n = min(fit.samples, options.ngspice_cells)
        expressions = [card.gap_init_expression(fit.state)] * n
        simulated[fit.state] = ngspice_read(card, expressions, v_read=v_read, temp_c=options.temp_c,
                                            seed=options.seed + 1000 * k, chunk=100 if safer else 500,
                                            workdir=workdir / f"{fit.state.lower()}_lognormal")
        quantiles = (np.arange(n) + 0.5) / n  # the chosen model's quantiles, read back through the compiled model
        target = fit.model.ppf(rng.permutation(quantiles))
        gaps = [float(g) for g in card.gap_for_resistance(target, v_read)]
        drawn[fit.state] = (target, ngspice_read(card, gaps, v_read=v_read, temp_c=options.temp_c,
                                                 chunk=100 if safer else 500,
                                                 workdir=workdir / f"{fit.state.lower()}_chosen"))
    metrics = distribution_metrics(distribution, outcome, simulated, drawn)
    cells = {state: len(r) for state, r in simulated.items()}
    return simulated, metrics, {"cells_simulated": cells, "subsample": f"at most {options.ngspice_cells} cells per "
                                "state (--ngspice-cells), drawn with seed " + str(options.seed)}


def distribution_metrics(data: ResistanceDistribution, outcome: fitting.FitOutcome,
                         simulated: Mapping[str, np.ndarray], drawn: Mapping[str, tuple[np.ndarray, np.ndarray]]
                         ) -> dict[str, Any]:
    """ngspice's verdict: the card's lognormal spread drawn by agauss() against the data, and
    the chosen model's quantiles read back through the compiled model."""
    from scipy import stats

    labels = outcome.curves["labels"]
    out: dict[str, Any] = {}
    for fit in outcome.curves["fits"]:
        r = np.asarray(simulated[fit.state])
        ln_r = np.log(r)
        median = fit.models["lognormal"].median
        target, read = drawn[fit.state]
        out[fit.state] = {
            "n": int(len(r)), "median_ohm": float(np.exp(np.median(ln_r))),
            "median_relative_error": float(np.exp(np.median(ln_r)) / median - 1.0),
            "sigma_lnR": float(np.std(ln_r, ddof=1)),
            "sigma_lnR_error": float(np.std(ln_r, ddof=1) - fit.sigma_ln_sample),
            "ks_distance_to_data": float(stats.ks_2samp(ln_r, np.log(data.resistance[labels == fit.state])).statistic),
            "chosen_model_readback_max_relative_error": float(np.max(np.abs(read / target - 1.0))),
        }
    return out


def _provenance(data: Any, outcome: fitting.FitOutcome, spice: dict | None, options: FitOptions,
                v_read: float) -> dict:
    quality_keys = ("rms_ln_current", "median_relative_current_error", "rms_ln_r_after",
                    "median_relative_r_after_error")
    sources = _sources(data)
    spice_metrics = (spice or {}).get("metrics")
    provenance: dict[str, Any] = {
        "source": f"circuitkit {__version__} fit --kind {outcome.kind}",
        "kind": outcome.kind,
        "status": "flagged" if outcome.flags else "ok",
        "flags": [flag["message"] for flag in outcome.flags],
        "data_file": " + ".join(str(s.path) for s in sources),
        "data_files": [{"path": str(s.path), "sha256": s.sha256} for s in sources],
        "data_sha256": sources[0].sha256,
        "read_voltage_V": v_read,
        "date": _now(),
        "fitted": list(outcome.parameters) if outcome.kind == "distribution" else outcome.settings["fitted"],
        "summary": outcome.settings.get("summary", []),
        "fit_quality": {k: outcome.metrics[k] for k in quality_keys if k in outcome.metrics},
        "ngspice_status": (spice or {}).get("status", "pending"),
        "ngspice_quality": ({k: spice_metrics[k] for k in quality_keys if k in spice_metrics}
                            if spice_metrics and outcome.kind not in ("distribution",) else spice_metrics),
    }
    if outcome.kind == "distribution":
        provenance["fit_quality"] = outcome.metrics["states"]
    if outcome.kind == "pulse" and "held_out" in outcome.metrics:
        provenance["fit_quality"] = {"held_out": outcome.metrics["held_out"]}
    if outcome.kind == "retention":
        provenance["fit_quality"] = {key: outcome.metrics[key] for key in ("cross_validation", "unrelated_pairs",
                                                                          "read_noise") if key in outcome.metrics}
    if options.start is not None:
        provenance["based_on"] = dict(options.start.provenance)
    return _jsonable(provenance)


def _plot(kind: str, path: Path, data: Any, outcome: fitting.FitOutcome, spice: Any, name: str) -> Path:
    if kind == "retention":
        return plotting.plot_retention(path, outcome.curves["pairs"], outcome.curves["fit"], name,
                                       outcome.curves.get("series"))
    if kind == "levels":
        from circuitkit.device import levels

        return levels.plot(path, data, outcome, spice, name)
    if kind == "iv":
        title = f"{name}: rram_hfox fit, rms ln-current error {outcome.metrics['rms_ln_current']:.3f}"
        return plotting.plot_iv(path, data, outcome.curves["current"], spice, outcome.settings["current_floor_A"], title)
    if kind == "pulse":
        if "pulse_model" in outcome.curves:
            from circuitkit.device import pulse

            return pulse.plot(path, data, outcome, spice, name)
        title = f"{name}: rram_hfox fit, rms ln-R error {outcome.metrics['rms_ln_r_after']:.3f}"
        return plotting.plot_pulses(path, data, outcome.curves["r_after"], spice, title)
    return plotting.plot_distribution(path, data, outcome.curves["fits"], outcome.curves["labels"], spice,
                                      f"{name}: resistance distribution per state (probit axis)")


def summary(result: CharacterizationResult) -> str:
    """Human-readable lines for the terminal."""
    report = result.report
    files = ", ".join(f["path"] for f in report["files"])
    lines = [f"{report['kind']} fit of {files} ({report['data']['rows']} rows used); "
             f"resistances read at {report['read_voltage']['value_V']:g} V ({report['read_voltage']['origin']})"]
    for name, row in report["parameters"].items():
        if row.get("vary"):
            stderr = f" +- {row['stderr']:.3g}" if row.get("stderr") is not None else " (no standard error)"
            lines.append(f"  {name:<22} {row['value']:.6g}{stderr} {row['unit']}")
    fit_m, spice_m = report["fit_metrics"], report["ngspice_metrics"]
    for key in ("rms_ln_current", "median_relative_current_error", "rms_ln_r_after", "median_relative_r_after_error"):
        if key in fit_m:
            spice = f"{spice_m[key]:.4g}" if spice_m and spice_m.get(key) is not None else "not run"
            lines.append(f"  {key:<32} fit (Python) {fit_m[key]:.4g}   ngspice re-simulation {spice}")
    if report["kind"] == "distribution":
        found = fit_m.get("state_finding", {})
        lines.append(f"  states from: {found.get('method')}")
        if "overlap_fraction" in found:
            low, high = found["overlap_fraction_ci95"]
            lines.append(f"  cells in the overlap between states: {found['overlap_cells']} "
                         f"({found['overlap_fraction']:.3%}, 95 % CI {low:.3%} .. {high:.3%})")
        for state, m in fit_m["states"].items():
            low, high = m["median_ci95_ohm"]
            lines.append(f"  {state}: {m['n']} cells, median {m['median_ohm']:.5g} ohm (95 % CI {low:.5g} .. {high:.5g}), "
                         f"sigma(ln R) {m['sigma_lnR']:.4f}; chosen model {m['chosen_model']} by "
                         f"{m['criterion'].upper()}")
            for kind, model in m["models"].items():
                g = model["goodness_of_fit"]
                lines.append(f"      {kind:<18} KS {g['ks_statistic']:.4f} (p {g['ks_pvalue']:.2g})  "
                             f"AD {g['anderson_darling']:.3g}  BIC {g['bic']:.1f}  AIC {g['aic']:.1f}")
        if spice_m:
            for state, m in spice_m.items():
                lines.append(f"  {state}: ngspice Monte Carlo of the card's lognormal: median error "
                             f"{m['median_relative_error']:+.2%}, sigma(ln R) error {m['sigma_lnR_error']:+.4f}, KS "
                             f"distance to data {m['ks_distance_to_data']:.3f}; chosen model read back within "
                             f"{m['chosen_model_readback_max_relative_error']:.2e}")
    for line in report["settings"].get("summary", []):
        lines.append(f"  {line}")
    if spice_m and report["kind"] in ("pulse", "levels") and "rms_ln_r_after" not in fit_m:
        lines.append("  ngspice: " + ", ".join(f"{k} {v:.4g}" for k, v in spice_m.items() if isinstance(v, float)))
    elif spice_m and report["kind"] == "pulse" and "rms_ln_r_ngspice_vs_python" in spice_m:
        lines.append(f"  ngspice 1T1R re-simulation of {spice_m['rows']} held-out rows (median pulse): R after differs "
                     f"from the Python model by rms {spice_m['rms_ln_r_ngspice_vs_python']:.2e} in ln R (max "
                     f"{spice_m['max_abs_ln_r_ngspice_vs_python']:.2e})")
    if report["ngspice"].get("status") == "failed":
        last = report["ngspice"]["attempts"][-1]
        lines.append(f"  ngspice re-simulation FAILED (card and report were written first): {last['message']}")
    lines.append(f"  status: {report['status'].upper()}" + (f" ({len(report['flags'])} flag(s))" if report["flags"]
                                                           else ""))
    for flag in report["flags"]:
        lines.append(f"    - {flag['message']}")
    lines.append("  runtime: " + ", ".join(f"{k} {v:.2f} s" for k, v in report["runtime_s"].items()))
    lines.append(f"  wrote {result.card_path}, {result.report_path}" + (f", {result.plot_path}" if result.plot_path
                                                                         else ""))
    return "\n".join(lines)


# ---------------------------------------------------------------------------- measurement specs (FLOW.toml)

SPEC_KEYS = ("files", "header", "columns", "units", "constants", "pulsed_line", "states", "read_voltage",
             "open_circuit", "threshold", "strict", "times", "temperatures", "runs", "cycling", "read_series")


@dataclasses.dataclass(frozen=True)
class MeasurementSpec:
    """The files of one fit and how to read them, as FLOW.toml gives them:

        distribution = "cells.csv"                      # one file with a header
        [measurements.pulse]                            # or a table with the reader options
        files = ["set_sweep.tsv.gz", "reset_sweep.tsv.gz"]
        header = false
        columns = { address = 1, width = 2, wl_voltage = 3, line_voltage = 4, r_before = 5, r_after = 6 }
        pulsed_line = ["bl", "sl"]
        read_voltage = 0.2
        cycling = "endurance_log.csv.gz"                # pulse fits: one cell's cycling log (FitOptions)
        read_series = "ret1.csv.gz"                     # and one cell read many times
    """

    files: tuple[Path, ...]
    header: bool | None = None
    columns: Mapping[str, Any] | None = None
    units: Mapping[str, str] | None = None
    constants: Mapping[str, Any] | None = None
    pulsed_line: tuple[str, ...] | None = None
    states: tuple[str, ...] | None = None
    read_voltage: float | None = None
    open_circuit: float | None = 1e9
    threshold: tuple[float, ...] | None = None
    strict: bool = False
    # retention files: per file, the time and temperature of its reads and its run (FitOptions)
    times: tuple[str, ...] | None = None
    temperatures: tuple[str, ...] | None = None
    runs: tuple[str, ...] | None = None
    # pulse files: one cell's SET/RESET cycling log and one cell's read series (FitOptions)
    cycling: Path | None = None
    read_series: Path | None = None
    SINGLE_FILES: ClassVar[tuple[str, ...]] = ("cycling", "read_series")  # one-file inputs besides `files`

    @classmethod
    def from_toml(cls, value: Any, base: Path, where: str) -> "MeasurementSpec":
        def resolve(name: str) -> Path:
            path = Path(name).expanduser()
            path = path if path.is_absolute() else (base / path).resolve()
            if not path.exists():
                raise CircuitkitError(f"{where}: file {path} does not exist")
            return path

        if isinstance(value, str):
            return cls(files=(resolve(value),))
        if not isinstance(value, Mapping) or "files" not in value:
            raise CircuitkitError(f"{where}: expected a file name or a table with 'files' and reader options "
                                  f"({', '.join(SPEC_KEYS)})")
        unknown = sorted(set(value) - set(SPEC_KEYS))
        if unknown:
            raise CircuitkitError(f"{where}: unknown key(s) {', '.join(unknown)}; expected {', '.join(SPEC_KEYS)}")
        files = value["files"] if isinstance(value["files"], list) else [value["files"]]

        def strings(key: str) -> tuple[str, ...] | None:
            item = value.get(key)
            return None if item is None else tuple(item if isinstance(item, list) else [item])

        return cls(files=tuple(resolve(f) for f in files), header=value.get("header"),
                   columns=value.get("columns"), units=value.get("units"), constants=value.get("constants"),
                   pulsed_line=strings("pulsed_line"), states=strings("states"),
                   read_voltage=value.get("read_voltage"), open_circuit=value.get("open_circuit", 1e9),
                   threshold=tuple(float(v) for v in strings("threshold")) if value.get("threshold") else None,
                   strict=bool(value.get("strict", False)),
                   **{key: resolve(value[key]) for key in cls.SINGLE_FILES if value.get(key) is not None},
                   **{key: tuple(str(v) for v in strings(key)) if value.get(key) is not None else None
                      for key in ("times", "temperatures", "runs")})

    def fit_options(self, **fields: Any) -> FitOptions:
        return FitOptions(header=self.header, columns=self.columns, units=self.units, constants=self.constants,
                          pulsed_lines=self.pulsed_line, states=self.states, v_read=self.read_voltage,
                          open_circuit_ohm=self.open_circuit or None, threshold_ohm=self.threshold,
                          strict=self.strict, times=self.times, temperatures=self.temperatures, runs=self.runs,
                          cycling=self.cycling, read_series=self.read_series, **fields)

    def single_files(self) -> dict[str, Path]:
        """The one-file inputs given (name -> path), in `SINGLE_FILES` order."""
        return {name: path for name in self.SINGLE_FILES if (path := getattr(self, name)) is not None}

    def input_paths(self) -> list[Path]:
        """Every file this fit reads: its files, then its single-file inputs."""
        return [*self.files, *self.single_files().values()]

    def key(self) -> dict[str, Any]:
        """What a flow stage depends on: the files' contents and every reader option."""
        import hashlib

        paths = ("files", *self.SINGLE_FILES)  # keyed by content, not by where they are
        options = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in paths}
        extra = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in self.single_files().items()}
        return {"files": [hashlib.sha256(p.read_bytes()).hexdigest() for p in self.files], **extra,
                "options": _jsonable({k: dict(v) if isinstance(v, Mapping) else v for k, v in options.items()})}
