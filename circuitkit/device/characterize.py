"""Device characterization end to end: read a CSV, fit, re-simulate in ngspice, write the outputs.

    from circuitkit.device.characterize import characterize
    result = characterize("characterization/iv_sweep.csv", "iv", "out/fit-iv")

writes `model_card.json` (the fitted card), `fit_report.json` (parameters with standard
errors, fit metrics, ngspice re-simulation metrics, runtimes) and `fit.png`. The
ngspice re-simulation runs the compiled .va on the measurement's stimulus with the
fitted card and scores it with the same metrics as the fit, so the two errors can be
read side by side: if they differ, the Python model and the simulator disagree.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from circuitkit import CircuitkitError, __version__
from circuitkit.device import fit as fitting
from circuitkit.device import plot as plotting
from circuitkit.device.model import DEFAULT_READ_VOLTAGE, ModelCard
from circuitkit.device.resimulate import ngspice_pulses, ngspice_read, ngspice_sweep
from circuitkit.files import write_atomic
from circuitkit.measurements import IVSweep, PulseTable, ResistanceDistribution, read_measurement

KINDS = ("iv", "pulse", "distribution")
Log = Callable[[str], None]


@dataclasses.dataclass
class CharacterizationResult:
    card: ModelCard
    report: dict[str, Any]
    card_path: Path
    report_path: Path
    plot_path: Path


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """Options of `circuitkit fit` (all optional)."""

    start: ModelCard | None = None  # card to start from (e.g. an I-V fit before a pulse fit)
    loss: str = "linear"
    temp_c: float = 27.0
    sweep_rate: float | None = None  # V/s, for I-V files without a time column
    current_floor: float | None = None  # A
    compliance: float | None = None  # A
    v_read: float = DEFAULT_READ_VOLTAGE
    units: Mapping[str, str] | None = None
    columns: Mapping[str, str] | None = None
    ngspice: bool = True
    seed: int = 1  # ngspice Monte Carlo seed for distributions


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _read(path: Path, kind: str, options: FitOptions):
    extra = {"sweep_rate": options.sweep_rate} if kind == "iv" else {}
    return read_measurement(path, kind, columns=options.columns, units=options.units, **extra)


def characterize(path: Path | str, kind: str, outdir: Path | str, options: FitOptions = FitOptions(), *,
                 progress: fitting.Progress | None = None, log: Log | None = None) -> CharacterizationResult:
    if kind not in KINDS:
        raise CircuitkitError(f"unknown measurement kind {kind!r}; choose one of {', '.join(KINDS)}")
    log = log or (lambda message: None)
    path, outdir = Path(path), Path(outdir)
    times: dict[str, float] = {}
    began = time.perf_counter()

    log(f"reading {path} as {kind}")
    data = _read(path, kind, options)
    times["read"] = time.perf_counter() - began

    log("fitting" + (" (the Python model integrates every cycle of the sweep)" if kind == "iv" else ""))
    mark = time.perf_counter()
    outcome = _fit(kind, data, options, progress)
    times["fit"] = time.perf_counter() - mark

    spice_metrics: dict[str, Any] | None = None
    spice_curve: Any = None
    if options.ngspice:
        log("re-simulating the measurement's stimulus with the fitted card in ngspice")
        mark = time.perf_counter()
        spice_curve, spice_metrics = _resimulate(kind, data, outcome, options)
        times["ngspice"] = time.perf_counter() - mark

    card = outcome.card.with_values(provenance=_provenance(data, outcome, spice_metrics, options))
    card_path = card.save(outdir / "model_card.json")

    log("plotting")
    mark = time.perf_counter()
    plot_path = _plot(kind, outdir / "fit.png", data, outcome, spice_curve, path.name)
    times["plot"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - began

    report = _jsonable({
        "circuitkit_version": __version__,
        "date": card.provenance["date"],
        "kind": kind,
        "data": data.source.describe() | {"rows": len(data)},
        "settings": outcome.settings,
        "parameters": outcome.parameters,
        "measurement_state": outcome.measurement_state,
        "fit_metrics": outcome.metrics,
        "ngspice_metrics": spice_metrics,
        "optimizer": {"evaluations": outcome.nfev, "success": outcome.success, "message": outcome.message},
        "runtime_s": times,
        "outputs": {"model_card": card_path.name, "plot": plot_path.name},
    })
    report_path = write_atomic(outdir / "fit_report.json", json.dumps(report, indent=2) + "\n")
    return CharacterizationResult(card, report, card_path, report_path, plot_path)


def _fit(kind: str, data: Any, options: FitOptions, progress) -> fitting.FitOutcome:
    if kind == "iv":
        return fitting.fit_iv(data, options.start, loss=options.loss, temp_c=options.temp_c,
                              current_floor=options.current_floor, compliance=options.compliance, progress=progress)
    if kind == "pulse":
        return fitting.fit_pulses(data, options.start, loss=options.loss, temp_c=options.temp_c,
                                  v_read=options.v_read, progress=progress)
    return fitting.fit_distribution(data, options.start, v_read=options.v_read)


def _resimulate(kind: str, data: Any, outcome: fitting.FitOutcome, options: FitOptions):
    card = outcome.card
    if kind == "iv":
        sweep: IVSweep = data
        sim = ngspice_sweep(card, sweep.time, sweep.voltage, outcome.measurement_state["gap_init"],
                            temp_c=options.temp_c)
        floor = outcome.settings["current_floor_A"]
        metrics = fitting.iv_metrics(sweep, sim.current, floor, outcome.curves["levels"], outcome.curves["mask"])
        return sim.current, metrics
    if kind == "pulse":
        table: PulseTable = data
        v_read = outcome.settings["v_read"]
        after = ngspice_pulses(card, table.amplitude, table.width, outcome.curves["gap_before"], temp_c=options.temp_c)
        r_after = card.resistance(after, v_read)
        return r_after, fitting.pulse_metrics(table, r_after)
    distribution: ResistanceDistribution = data
    simulated = {}
    for fit in outcome.curves["fits"]:
        expressions = [card.gap_init_expression(fit.state)] * fit.n
        simulated[fit.state] = ngspice_read(card, expressions, v_read=options.v_read, temp_c=options.temp_c,
                                            seed=options.seed + len(simulated))
    return simulated, fitting.distribution_metrics(distribution, outcome.curves["fits"], simulated)


def _provenance(data: Any, outcome: fitting.FitOutcome, spice_metrics: dict | None, options: FitOptions) -> dict:
    quality_keys = ("rms_ln_current", "median_relative_current_error", "rms_ln_r_after",
                    "median_relative_r_after_error")
    provenance: dict[str, Any] = {
        "source": f"circuitkit {__version__} fit --kind {outcome.kind}",
        "kind": outcome.kind,
        "data_file": str(data.source.path),
        "data_sha256": data.source.sha256,
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "fitted": list(outcome.parameters) if outcome.kind == "distribution" else outcome.settings["fitted"],
        "fit_quality": {k: outcome.metrics[k] for k in quality_keys if k in outcome.metrics},
        "ngspice_quality": ({k: spice_metrics[k] for k in quality_keys if k in spice_metrics}
                            if spice_metrics and outcome.kind != "distribution" else spice_metrics),
    }
    if outcome.kind == "distribution":
        provenance["fit_quality"] = outcome.metrics["states"]
    if options.start is not None:
        provenance["based_on"] = dict(options.start.provenance)
    return _jsonable(provenance)


def _plot(kind: str, path: Path, data: Any, outcome: fitting.FitOutcome, spice: Any, name: str) -> Path:
    if kind == "iv":
        title = f"{name}: rram_hfox fit, rms ln-current error {outcome.metrics['rms_ln_current']:.3f}"
        return plotting.plot_iv(path, data, outcome.curves["current"], spice, outcome.settings["current_floor_A"], title)
    if kind == "pulse":
        title = f"{name}: rram_hfox fit, rms ln-R error {outcome.metrics['rms_ln_r_after']:.3f}"
        return plotting.plot_pulses(path, data, outcome.curves["r_after"], spice, title)
    return plotting.plot_distribution(path, data, outcome.curves["fits"], spice,
                                      f"{name}: lognormal fit per state and the card's spread in ngspice")


def summary(result: CharacterizationResult) -> str:
    """Human-readable lines for the terminal."""
    report = result.report
    lines = [f"{report['kind']} fit of {report['data']['path']} ({report['data']['rows']} rows)"]
    for name, row in report["parameters"].items():
        if row.get("vary"):
            stderr = f" +- {row['stderr']:.3g}" if row.get("stderr") is not None else ""
            lines.append(f"  {name:<14} {row['value']:.6g}{stderr} {row['unit']}")
    fit_m, spice_m = report["fit_metrics"], report["ngspice_metrics"]
    for key in ("rms_ln_current", "median_relative_current_error", "rms_ln_r_after", "median_relative_r_after_error"):
        if key in fit_m:
            spice = f"{spice_m[key]:.4g}" if spice_m and spice_m.get(key) is not None else "not run"
            lines.append(f"  {key:<32} fit (Python) {fit_m[key]:.4g}   ngspice re-simulation {spice}")
    if report["kind"] == "distribution" and spice_m:
        for state, m in spice_m.items():
            lines.append(f"  {state}: ngspice Monte Carlo median error {m['median_relative_error']:+.2%}, "
                         f"sigma(ln R) error {m['sigma_lnR_error']:+.4f}, KS distance to data {m['ks_distance_to_data']:.3f}")
    lines.append(f"  runtime: " + ", ".join(f"{k} {v:.2f} s" for k, v in report["runtime_s"].items()))
    lines.append(f"  wrote {result.card_path}, {result.report_path}, {result.plot_path}")
    return "\n".join(lines)

