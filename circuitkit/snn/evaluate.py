"""From trained weights and a characterization table to the figures `circuitkit snn`
reports: accuracy of the cases for each input coding, accuracy vs HRS/LRS ratio,
energy, a raster plot.

Cases (all on the same test set; the SNN cases of one coding on the same input spike
trains per chip):

    quantized               the -4..+4 network evaluated exactly (argmax of x @ W)
    snn_ideal               the SNN with every cell at its state's median current, nominal thresholds
    snn_spread              + device-to-device RRAM spread, cycle-to-cycle read noise, neuron threshold
                            spread (from the characterization's Monte Carlo)
    snn_spread_stuck        + stuck cells at their rates (the device's `StuckCells`)
    snn_spread_stuck_upper  the same with the stuck rates at their 95 % upper bounds (measured rates only)
    snn_spread_cell_flips   what-if, only when asked: cell states flipped by a given matrix

The single-level 1T1R cells are read by their current: there is no sense-amplifier
decision, so a 2T2R bit-error table is not their error mechanism (`cells`).

Intervals: the SNN cases give the mean accuracy over chips with a Student-t 95 %
interval of that mean (`stats.mean_interval`; the chips differ in devices and in their
input spike trains, the test set is fixed). The quantized network is deterministic: its
interval is Clopper-Pearson over the test images (`stats.binomial_interval`).
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from circuitkit.ber_table import TransitionMatrix
from circuitkit.device.nonideality import DeviceNonideality
from circuitkit.snn.simulate import (
    RateCoding,
    SnnRun,
    agreement,
    build_chips,
    encode,
    expected_pixel_spikes,
    input_generator,
    run_case,
    simulate,
)
from circuitkit.snn.table import CharacterizationTable
from circuitkit.snn.train import predict
from circuitkit.stats import binomial_interval, mean_interval

# The reference system's figures: SPIRIT (Valentian et al., "Fully Integrated Spiking
# Neural Network with Analog Neurons and RRAM Synapses", IEDM 2019): 130 nm, single-level
# 1T1R RRAM, -4..+4 weights, 10 IF neurons, MNIST downscaled to 12x12, 10k test images.
REFERENCE = {
    "source": "SPIRIT: Valentian et al., IEDM 2019, MNIST downscaled to 12x12, 10,000 test images",
    "energy_per_synaptic_event_j": 3.6e-12,
    "input_spikes_per_image": 136.0,
    "accuracy_measured": 0.84,
    "accuracy_ideal_topology": 0.88,
}
ACCURACY_COLUMNS = ("coding", "case", "accuracy_mean", "accuracy_std", "ci_low", "ci_high", "samples", "interval",
                    "agreement_with_quantized", "tie_fraction", "input_spikes_per_image", "output_spikes_per_image",
                    "description")


@dataclasses.dataclass(frozen=True)
class CaseResult:
    coding: str
    case: str
    description: str
    mean: float
    std: float
    low: float
    high: float
    samples: int
    interval: str
    agreement: float = math.nan
    ties: float = math.nan
    input_spikes: float = math.nan
    output_spikes: float = math.nan

    def row(self) -> list[Any]:
        return [self.coding, self.case, self.mean, self.std, self.low, self.high, self.samples, self.interval,
                self.agreement, self.ties, self.input_spikes, self.output_spikes, self.description]


def snn_result(case: str, description: str, run: SnnRun, labels: np.ndarray, reference: np.ndarray,
               coding: str) -> CaseResult:
    accuracy = mean_interval(run.accuracies(labels))
    return CaseResult(coding, case, description, accuracy.mean, accuracy.std, accuracy.low, accuracy.high, accuracy.samples,
                      f"Student-t over {accuracy.samples} chips", float(agreement(run, reference).mean()),
                      float(run.ties.mean()), float(run.input_spikes.mean()), float(run.output_spikes.mean()))


@dataclasses.dataclass
class Evaluation:
    cases: list[CaseResult]
    runs: dict[str, SnnRun]


def quantized_result(weights: np.ndarray, x: np.ndarray, y: np.ndarray) -> CaseResult:
    """The exact integer network: deterministic, interval over the test images."""
    correct = int(np.sum(predict(x, weights) == y))
    exact = binomial_interval(correct, len(y))
    return CaseResult("none", "quantized", "integer -4..+4 network, exact arithmetic", exact.estimate, math.nan,
                      exact.low, exact.high, len(y), f"Clopper-Pearson over {len(y)} test images", 1.0)


def evaluate_cases(
    weights: np.ndarray,
    table: CharacterizationTable,
    x: np.ndarray,
    y: np.ndarray,
    *,
    chips: int,
    coding: RateCoding,
    device: DeviceNonideality,
    flips: TransitionMatrix | None = None,
    flips_label: str = "",
    seed: int = 0,
) -> Evaluation:
    """The SNN cases of the module docstring for one input coding: ideal, the `device`
    without and (when it has them) with its stuck cells, and the what-if `flips`."""
    reference = predict(x, weights)
    spread = dataclasses.replace(device, stuck=None)
    settings: list[tuple[str, str, DeviceNonideality | None, TransitionMatrix | None]] = [
        ("snn_ideal", "SNN, every cell at its median current, nominal neurons", None, None),
        ("snn_spread", "SNN with RRAM device spread, read noise and neuron threshold spread", spread, None),
    ]
    stuck = device.stuck
    if stuck is not None:
        settings.append(("snn_spread_stuck", f"+ stuck cells (LRS {stuck.stuck_lrs:.3g}, HRS {stuck.stuck_hrs:.3g})",
                         device, None))
        upper = stuck.upper_bounds()
        if upper is not stuck:
            settings.append(("snn_spread_stuck_upper", f"+ stuck cells at their 95 % upper bounds (LRS "
                             f"{upper.stuck_lrs:.3g}, HRS {upper.stuck_hrs:.3g})",
                             dataclasses.replace(device, stuck=upper), None))
    if flips is not None:
        settings.append(("snn_spread_cell_flips", f"what-if: spread and cell-state flips ({flips_label})", spread,
                         flips))
    cases, runs = [], {}
    for case, description, case_device, case_flips in settings:
        run = run_case(weights, table, x, chips=chips, coding=coding, device=case_device, flips=case_flips, seed=seed)
        runs[case] = run
        cases.append(snn_result(case, description, run, y, reference, coding.kind))
    return Evaluation(cases, runs)


def spirit_comparison(
    weights: np.ndarray,
    table: CharacterizationTable,
    dataset,
    *,
    chips: int,
    codings: Sequence[RateCoding],
    device: DeviceNonideality,
    flips: TransitionMatrix | None = None,
    flips_label: str = "",
    seed: int = 0,
    weights_origin: str = "",
) -> tuple[list[CaseResult], dict[str, Evaluation], dict[str, Any]]:
    """The quantized network and every SNN case for each coding on the dataset's test
    set, and a summary (dataset, codings, chips, threshold spread with its Monte Carlo
    samples, the device with its sources, stuck cells, the reference) for
    `snn_summary.json`."""
    from circuitkit.snn.cells import threshold_spread

    x, y = dataset.x_test, dataset.y_test
    cases = [quantized_result(weights, x, y)]
    evaluations = {}
    for coding in codings:
        evaluations[coding.kind] = evaluate_cases(weights, table, x, y, chips=chips, coding=coding, device=device,
                                                  flips=flips, flips_label=flips_label, seed=seed)
        cases += evaluations[coding.kind].cases
    summary = {
        "dataset": dataset.name, "test_images": int(len(y)), "inputs": int(x.shape[1]),
        "output_neurons": int(weights.shape[1]), "chips_per_case": chips,
        "codings": [dataclasses.asdict(c) for c in codings], "weights": weights_origin,
        "characterization": {"source": table.source, "condition": table.label()},
        "threshold_spread": threshold_spread(table).to_dict(),
        "device": device.describe(),
        "stuck_cells": device.stuck.to_dict() if device.stuck is not None else None,
        "cell_flips_what_if": flips_label or None,
        "reference": REFERENCE,
    }
    return cases, evaluations, summary


def leakage_sweep(
    weights: np.ndarray,
    table: CharacterizationTable,
    x: np.ndarray,
    y: np.ndarray,
    ratios: Sequence[float],
    *,
    chips: int,
    coding: RateCoding,
    seed: int = 0,
) -> list[CaseResult]:
    """SNN accuracy (with spread) when HRS cells leak LRS current / ratio, the circuit
    unchanged: more leakage from the many "off" cells as the ratio shrinks."""
    reference = predict(x, weights)
    results = []
    for ratio in ratios:
        changed = table.with_on_off_ratio(ratio)
        run = run_case(weights, changed, x, chips=chips, coding=coding, device=changed.device(), seed=seed)
        results.append(snn_result(f"hrs_lrs_ratio={ratio:g}", f"SNN with spread, HRS/LRS current ratio {ratio:g}",
                                  run, y, reference, coding.kind))
    return results


def write_cases_csv(results: Sequence[CaseResult], path: str | Path,
                    extra: Sequence[tuple[str, Sequence[float]]] = ()) -> Path:
    """One row per case; floats exactly (repr). `extra` adds columns before the case's."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([name for name, _ in extra] + list(ACCURACY_COLUMNS))
        for index, result in enumerate(results):
            writer.writerow([repr(float(values[index])) for _, values in extra]
                            + [v if isinstance(v, (str, int)) else repr(float(v)) for v in result.row()])
    return path


def energy_summary(
    weights: np.ndarray,
    table: CharacterizationTable,
    x: np.ndarray,
    run: SnnRun,
    coding: RateCoding,
) -> dict[str, Any]:
    """Energy per synaptic event and per image, separated into what was chosen (inputs)
    and what the characterized circuit gives (results); only results are compared with
    the reference.

    A synaptic event is one input spike read through one synapse (its 8 cells) and
    integrated by one output neuron, so an image costs input spikes x n_outputs events.
    The dynamic energy weights each synapse's read energy (|w| LRS + 8 - |w| HRS cells) by
    how often its input spikes: it follows from the circuit. The total adds the static
    power of every neuron over the presentation window and the output spikes; the window
    is a chosen input, so the total (and its ratio to the reference) moves with it.
    The input spikes per image are set by `coding.max_spikes` (an input: chosen near the
    reference's 136), so they are reported, never compared.
    """
    n_out = weights.shape[1]
    syn, neuron = table.synapse, table.neuron
    per_pixel = expected_pixel_spikes(x, coding)  # (N, P)
    row_energy = syn.event_energy_j(weights.astype(np.float64)).sum(axis=1)  # (P,) one input spike, all neurons
    dynamic = float(np.mean(per_pixel @ row_energy))
    spikes_in = mean_interval(run.input_spikes.mean(axis=1))
    spikes_out = mean_interval(run.output_spikes.mean(axis=1))
    events = spikes_in.mean * n_out
    expected_events = float(np.mean(per_pixel.sum(axis=1))) * n_out
    static = neuron.static_power_w * coding.window_s * n_out
    output = neuron.energy_per_spike_j * spikes_out.mean
    total = dynamic + static + output
    per_event_dynamic = dynamic / expected_events
    per_event_total = total / events
    return {
        "definition": "synaptic event = one input spike read through one synapse (4 + 4 RRAM cells) "
                      "and integrated by one output neuron; events per image = input spikes x output neurons",
        "table": {"source": table.source, "corner": table.corner, "vdd": table.vdd, "temp_c": table.temp_c},
        "output_neurons": n_out,
        "inputs": {
            "note": "chosen, not results: never compared with the reference",
            "coding": dataclasses.asdict(coding),
            "input_spikes_per_image": _interval_dict(spikes_in, "chips")
            | {"set_by": f"coding.max_spikes = {coding.max_spikes:g} spikes for a full-intensity pixel"},
            "presentation_window_s": coding.window_s,
            "read_pulse_s": syn.t_read_s,
            "read_pulse_rule": table.provenance.get("assumptions", {}).get("t_read_s", "design choice"),
        },
        "results": {
            "output_spikes_per_image": _interval_dict(spikes_out, "chips"),
            "synaptic_events_per_image": events,
            "energy_per_synaptic_event_j": {
                "dynamic_read_and_integration": per_event_dynamic,
                "total": per_event_total,
                "total_depends_on": f"presentation_window_s (static bias is {static / total:.0%} of the total)",
            },
            "energy_per_image_j": {"synapse_reads": dynamic, "neuron_static": static, "output_spikes": output,
                                   "total": total},
            "static_share": static / total,
        },
        "reference": REFERENCE,
        "ratio_to_reference": {
            "energy_per_synaptic_event_dynamic": per_event_dynamic / REFERENCE["energy_per_synaptic_event_j"],
            "energy_per_synaptic_event_total": per_event_total / REFERENCE["energy_per_synaptic_event_j"],
        },
    }


def _interval_dict(interval: Any, over: str) -> dict[str, Any]:
    return {"mean": interval.mean, "ci_low": interval.low, "ci_high": interval.high, "samples": interval.samples,
            "over": over}


@dataclasses.dataclass(frozen=True)
class Raster:
    """One classification on one chip with device spread, recorded spike by spike: the
    input events (`inputs`, the draws the simulation used) and the run (`run.spikes`)."""

    image: np.ndarray
    label: int
    chip: int
    coding: RateCoding
    inputs: Any
    run: SnnRun


def raster(weights: np.ndarray, table: CharacterizationTable, image: np.ndarray, label: int, *,
           coding: RateCoding, seed: int = 0, chip: int = 0) -> Raster:
    """Input and output spikes of one classification on one chip (the table's device)."""
    x = np.asarray(image, dtype=np.float64)[None, :]
    chips = build_chips(weights, table, 1, seed, table.device(), first_chip=chip)
    run = simulate(chips, x, coding, table.neuron, seed, first_chip=chip, record=True)
    inputs = encode(x, coding, input_generator(seed, chip))  # the same draws simulate used
    return Raster(x[0], int(label), chip, coding, inputs, run)
