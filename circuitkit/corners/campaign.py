"""PVT Monte Carlo campaigns: corners x supplies x temperatures x stored weights x samples,
into a bit-error table.

`run_campaign` is the orchestrator: from a `CampaignConfig` (`corners/config.py`) it
plans and runs the jobs (`corners/jobs.py`: seeding by value, executors, checkpoints),
refuses to mix samples of other settings, another model card, another toolchain or
another read simulator (or its settings) in one directory, and turns the reads into
`ber_table.csv` (counts, the rare-event `offset` estimate of `corners/rare.py`, or the
importance-sampling estimate of
`corners/importance.py`, whose jobs a pilot offset run places) and `campaign.json` (settings, spread, toolchain, timing,
failures, delay and margin statistics). A campaign killed at any moment and restarted
with the same command resumes, and its final table equals an uninterrupted run's.

It must not know the circuit: the caller hands `run_campaign` a `ReadSimulator`
(`circuitkit.corners.batch`; the 2T2R + PCSA one is
`circuitkit.corners.reads.PcsaReadSimulator`). It draws no plot either: the caller does
(`circuitkit.report.plots.plot_ber_vs_vdd`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.ber_table import BerTable, Condition, method_text
from circuitkit.corners import importance
from circuitkit.corners.batch import ReadSimulator
from circuitkit.corners.config import CampaignConfig
from circuitkit.corners.jobs import Job, JobOutcome, SampleStore, collect, execute, plan_importance_jobs, plan_jobs
from circuitkit.corners.outcomes import counted_table, non_converged_bounds, reweighted_sensitivity, tally_reads
from circuitkit.corners.rare import offset_table
from circuitkit.device.model import ModelCard
from circuitkit.files import write_atomic

__all__ = ["CampaignConfig", "CampaignResult", "run_campaign"]


def _finite_stats(values: list[float]) -> dict[str, float | int]:
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return {"samples": 0}
    return {"samples": int(data.size), "mean": float(data.mean()), "std": float(data.std(ddof=1)) if data.size > 1 else math.nan,
            "min": float(data.min()), "max": float(data.max())}


def condition_summaries(results: list[tuple[Job, JobOutcome]]) -> list[dict[str, Any]]:
    """Per condition and stored value: sense delay and margin statistics, failures."""
    summary: dict[tuple[Condition, int], dict[str, list]] = {}
    for job, outcome in results:
        entry = summary.setdefault((job.condition, job.stored), {"delay": [], "margin": [], "failed": 0, "elapsed": 0.0})
        entry["elapsed"] += outcome.elapsed_s
        if outcome.status != "ok":
            entry["failed"] += job.count
            continue
        entry["delay"].extend(outcome.delay_s)
        entry["margin"].extend(outcome.margin_v)
    return [
        {**dataclasses.asdict(condition), "stored": stored, "failed_samples": entry["failed"],
         "sense_delay_s": _finite_stats(entry["delay"]), "sense_margin_v": _finite_stats(entry["margin"]),
         "simulation_time_s": entry["elapsed"]}
        for (condition, stored), entry in summary.items()
    ]


@dataclasses.dataclass(frozen=True)
class CampaignResult:
    table: BerTable
    summary: dict[str, Any]
    outdir: Path


def run_campaign(config: CampaignConfig, outdir: Path | str, *, simulator: ReadSimulator, workers: int = 1,
                 executor: str = "process", scheduler: str | None = None, card: ModelCard | None = None,
                 progress: bool = True, log: Callable[[str], None] | None = None) -> CampaignResult:
    """Run (or resume) a campaign into `outdir`: ber_table.csv and campaign.json; every
    read through `simulator`.

    A device with default numbers (literature spread) is announced through `log`
    (default: stderr)."""
    from circuitkit import toolchain

    config.device.announce(log)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    tools = toolchain.toolchain()
    simulated_with = simulation_key(card if card is not None else ModelCard.default(), tools.fingerprint(), simulator)
    _check_or_save_config(config, outdir / "campaign_config.json")
    _check_or_save_simulation_key(simulated_with, outdir / "simulated_with.json", outdir / "samples")
    store = SampleStore(outdir / "samples")
    # `is`: the pilot offset characterisation first; its fit places the proposal.
    pilot = dataclasses.replace(config, method="offset", samples=config.pilot_samples) if config.method == "is" else config
    jobs = plan_jobs(pilot)
    # Measured here once (and cached) rather than by every worker's first job.
    timings = {f"{vdd:g}": dict(simulator.timing(config.scheme, vdd)) for vdd in config.vdd}
    started = time.perf_counter()
    ran_now = execute(jobs, config, store, simulator, workers=workers, executor=executor, scheduler=scheduler,
                      card=card, progress=progress)
    grouped = collect(jobs, store)
    pilot_fits = {}
    if config.method == "is":
        pilot_fits = importance.pilot_fits(grouped["offset"])
        sampling_jobs = plan_importance_jobs(config, pilot_fits)
        ran_now += execute(sampling_jobs, config, store, simulator, workers=workers, executor=executor,
                           scheduler=scheduler, card=card, progress=progress)
        jobs += sampling_jobs
        grouped |= collect(sampling_jobs, store)
    all_results = [item for items in grouped.values() for item in items]
    # An `is` campaign's reads are its sampled ones; the pilot's fixed ratios only placed them.
    estimated_from = grouped["is"] if config.method == "is" else all_results
    tallies = tally_reads(estimated_from, config.conditions())
    importance_rows = []
    if config.method == "mc":
        table = counted_table(tallies, method_text("mc", config.device.states.model_label()))
        rare_fits = []
        alternatives = reweighted_sensitivity(grouped["mc"], config.device)   # every condition's, in one pass
        sensitivity = [{**dataclasses.asdict(condition), "assumed": config.device.states.model_label(),
                        "ber": rate.ber, "alternatives": alternatives.get(condition, [])}
                       for condition, rate in zip(table.conditions(), table.error_rates())]
    elif config.method == "is":
        table, importance_rows = importance.importance_table(grouped["is"], config)
        rare_fits = [{**dataclasses.asdict(condition), "pilot": True, **fit.to_dict()}
                     for condition, fit in pilot_fits.items()]
        sensitivity = [{**dataclasses.asdict(condition), "assumed": config.device.states.model_label(),
                        "ber": rate.ber, "alternatives": []}
                       for condition, rate in zip(table.conditions(), table.error_rates())]
    else:
        table, rare_fits = offset_table(grouped["offset"], config)
        sensitivity = [{key: fit[key] for key in ("corner", "vdd", "temp_c", "scheme")}
                       | {"assumed": fit.get("assumed"), "ber": rate.ber, "alternatives": fit.get("model_form_sensitivity", [])}
                       for fit, rate in zip(rare_fits, table.error_rates())]
    table.write(outdir / "ber_table.csv")
    conditions = condition_summaries(estimated_from)
    non_converged = non_converged_bounds(tallies)
    for line in outcome_lines(non_converged, sensitivity, config):
        (log or _to_stderr)(line)
    summary = {
        "settings": config.to_dict(),
        "model_card": dict(card.provenance) if card is not None else "defaults of verilog-a/rram_hfox.va",
        "device_spread": config.device.describe(),
        "toolchain": tools.versions(),
        "simulated_with": simulated_with,
        "read_timing_by_vdd": timings,
        "seed": config.seed,
        "jobs": len(jobs),
        "jobs_run_this_time": ran_now,
        "samples_simulated": sum(job.count for job, _ in all_results),
        "failed_samples": sum(entry["failed_samples"] for entry in conditions),
        "failed_samples_by_condition": [
            {key: entry[key] for key in ("corner", "vdd", "temp_c", "scheme", "stored")} | {"failed": entry["failed_samples"]}
            for entry in conditions
        ],
        "failures": sorted({outcome.error for _, outcome in all_results if outcome.error})[:20],
        "retried_jobs": sum(1 for _, outcome in all_results if outcome.attempts > 1),
        "conditions": conditions,
        "offset_fits": rare_fits,
        **({"importance": {"estimator": importance.ESTIMATOR, "rows": importance_rows,
                           "pilot_samples_simulated": sum(job.count for job, _ in grouped["offset"]),
                           "pilot_failed_samples": sum(job.count for job, o in grouped["offset"] if o.status != "ok")}}
           if config.method == "is" else {}),
        "non_converged": {
            "how": "reads whose simulation did not converge (after one retry) stay in the accounting: each table "
                   "row's interval spans them counted as that outcome and as another; here the BER with them "
                   "counted as correct and as errors (both bounds) and left out (the table's estimate)",
            "by_condition": non_converged},
        "model_form_sensitivity": {
            "how": ("the offset estimate recomputed from the same fit with each distribution model the card's fit "
                    "compared (same kind for LRS and HRS)" if config.method == "offset" else
                    "not computed for importance sampling (its weights are for the assumed model only)"
                    if config.method == "is" else
                    "the same reads reweighted by each alternative model's likelihood ratio (self-normalised); "
                    "cannot show a tail beyond the reads"),
            "note": "" if config.device.states.fitted else
                    "no alternative models: the states were given or are defaults, not fitted to cells",
            "by_condition": sensitivity},
        "wall_time_s_this_run": time.perf_counter() - started,
        "simulation_time_s_total": sum(outcome.elapsed_s for _, outcome in all_results),
        "workers": workers,
        "executor": executor,
    }
    write_atomic(outdir / "campaign.json", json.dumps(summary, indent=2, default=float) + "\n")
    return CampaignResult(table, summary, outdir)


def _to_stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr)


def outcome_lines(non_converged: list[dict[str, Any]], sensitivity: list[dict[str, Any]],
                  config: CampaignConfig) -> list[str]:
    """What the console says about reads that decided nothing and about the device model
    each estimate assumed (the same facts as campaign.json)."""
    lines = []
    for entry in non_converged:
        label = Condition(entry["corner"], entry["vdd"], entry["temp_c"], entry["scheme"]).label()
        if entry["non_converged_reads"]:
            lines.append(f"{label}: {entry['non_converged_reads']} of {entry['reads']} reads did not converge; BER "
                         f"{entry['ber_counted_as_correct']:.3g} with them counted as correct, "
                         f"{entry['ber_counted_as_errors']:.3g} counted as errors (the table's intervals span both)")
        if entry["unresolved_reads"]:
            lines.append(f"{label}: {entry['unresolved_reads']} reads unresolved at the sampling time "
                         "(their own outcome in the table, counted as errors)")
    for entry in sensitivity:
        if not entry["alternatives"]:
            continue
        label = Condition(entry["corner"], entry["vdd"], entry["temp_c"], entry["scheme"]).label()
        rates = [alternative["ber"] for alternative in entry["alternatives"]]
        positive = [rate for rate in rates + [entry["ber"]] if rate > 0]
        spread = max(positive) / min(positive) if positive else 1.0
        lines.append(f"{label}: BER {entry['ber']:.3g} assuming {entry['assumed']}; with the other fitted models "
                     + ", ".join(f"{a['hrs']} {a['ber']:.3g}" + (f" (reweighted, {a['errors_seen']} errors seen)"
                                                                    if "errors_seen" in a else "")
                                 for a in entry["alternatives"])
                     + (f" ({spread:.3g}x apart: the answer is the assumption)" if spread > 10 else ""))
    return lines


def simulation_key(card: ModelCard, fingerprint: dict[str, str], simulator: ReadSimulator) -> dict[str, str]:
    """What the samples of a campaign were simulated with, besides its settings: the model
    card's content hash, the toolchain fingerprint (ngspice, Verilog-A, PDK) and the read
    simulator with its settings (`read_simulator_key`)."""
    return {"model_card": f"sha256 {hashlib.sha256(card.to_json().encode()).hexdigest()[:16]}", **fingerprint,
            "read_simulator": read_simulator_key(simulator)}


def read_simulator_key(simulator: ReadSimulator) -> str:
    """The read simulator's class and every field, e.g. `SingleEndedReadSimulator(
    sample_after_s=None, reference=SingleEndedReference(ohm=31622.776601683792))`: its fields
    are what changes its reads (a 1T1R reference level, a sampling time), so samples read with
    other values are not resumed. Floats by repr, so the text is exact."""
    if not dataclasses.is_dataclass(simulator) or isinstance(simulator, type):
        raise CircuitkitError(
            f"simulator {simulator!r}: expected a dataclass instance whose fields are the settings that change "
            "its reads (they key the campaign directory, so that a resumed campaign reuses only reads made "
            "with the same settings)")
    fields = ", ".join(f"{field.name}={getattr(simulator, field.name)!r}" for field in dataclasses.fields(simulator))
    return f"{type(simulator).__qualname__}({fields})"


_KEY_NAMES = {"model_card": "model card", "ngspice": "ngspice", "verilog_a": "Verilog-A model", "pdk": "PDK",
              "read_simulator": "read simulator"}


def _check_or_save_simulation_key(current: dict[str, str], path: Path, samples: Path) -> None:
    """Refuse to resume samples simulated with another model card, toolchain or read
    simulator: one table would mix two models (or two circuits). Says which of them changed."""
    if not path.exists():
        if samples.exists() and any(samples.glob("*.json")):
            raise CircuitkitError(
                f"{path.parent} holds samples without a record of the model card and toolchain they were "
                "simulated with (an older circuitkit made them); use another output directory, or delete it "
                "to start over")
        write_atomic(path, json.dumps(current, indent=2) + "\n")
        return
    saved = json.loads(path.read_text())
    changed = [key for key in dict.fromkeys([*saved, *current]) if saved.get(key) != current.get(key)]
    if changed:
        details = "; ".join(f"{_KEY_NAMES.get(key, key)} was "
                            f"{repr(saved[key]) if key in saved else 'not recorded (an older circuitkit)'}, "
                            f"now {current.get(key)!r}" for key in changed)
        raise CircuitkitError(
            f"{path.parent} holds samples simulated with another {' and '.join(_KEY_NAMES.get(k, k) for k in changed)} "
            f"({details}); resuming would mix two models in one table: use another output directory, "
            "or delete it to start over")


def _check_or_save_config(config: CampaignConfig, path: Path) -> None:
    """Refuse to mix samples of different settings in one directory."""
    current = config.to_dict()
    if path.exists():
        saved = json.loads(path.read_text())
        differing = sorted(k for k in set(saved) | set(current) if json.dumps(saved.get(k)) != json.dumps(current.get(k)))
        if differing:
            raise CircuitkitError(
                f"{path.parent} holds a campaign with other settings ({', '.join(differing)} differ); "
                "use another output directory, or delete it to start over"
            )
        return
    write_atomic(path, json.dumps(current, indent=2) + "\n")
