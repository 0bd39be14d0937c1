"""The flow's stages and the machinery that skips what is up to date.

Each stage writes into its own directory under the output directory, with a
`stage.json` recording a hash of everything it depends on (its settings, the content of
its input files, the toolchain it simulates with, and the outputs of the stages it
reads). A stage whose hash is unchanged and whose outputs are all present is skipped, so
a user can change one stage (a CSV, a corner list) and rerun cheaply: only what depends
on the change runs again. A stage interrupted half-way (a long campaign) resumes where
it stopped when its inputs are unchanged.

The stages, in order: fit_iv / fit_levels / fit_pulse / fit_distribution / fit_retention
(each from the card of the one before), netlists, ber_binary / ber_ternary / ber_rare
(campaigns with the fitted device), ber_time (the rare-event campaign read at times after
programming, when the card has a relaxation model), disturb (read disturb over a lifetime,
when configured), accuracy_* (each table injected into its network), tolerance, snn,
report. `Flow` orchestrates: it calls the stages and records what they did; it computes
no result of its own and draws through `circuitkit.report`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from circuitkit import __version__
from circuitkit.files import file_hash, write_atomic
from circuitkit.flow.config import RARE_OVERRIDES, FlowConfig

Log = Callable[[str], None]
# Simulations per offset point of each BER-vs-time campaign (half the demo's rare campaign:
# the line has one campaign per read time).
BER_TIME_SAMPLES = 16


@dataclasses.dataclass
class StageRecord:
    name: str
    ran: bool
    key: str
    outputs: dict[str, str]     # relative path -> sha256
    seconds: float
    summary: dict[str, Any]

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.outputs, sort_keys=True).encode()).hexdigest()


class Flow:
    def __init__(self, config: FlowConfig, log: Log = print):
        self.config = config
        self.log = log
        self.out = Path(config.output)
        self.records: dict[str, StageRecord] = {}

    def stage(self, name: str, inputs: dict[str, Any], action: Callable[[Path], dict[str, Any]],
              published: Sequence[str] = ()) -> StageRecord:
        """Run `action(stage_dir)` unless the stage is up to date; `inputs` decide that.

        Outputs are every file the action leaves in its directory, plus `published`: files
        it writes at the top of the output directory (e.g. report.html), checked the same way."""
        directory = self.out / name
        key = hashlib.sha256(json.dumps({"circuitkit": __version__, **inputs}, sort_keys=True, default=str).encode()).hexdigest()
        record_path = directory / "stage.json"
        if record_path.exists():
            saved = json.loads(record_path.read_text())
            outputs_intact = all((directory / rel).exists() and file_hash(directory / rel) == digest
                                 for rel, digest in saved["outputs"].items())
            if saved["key"] == key and outputs_intact:
                self.log(f"[skip] {name}: up to date")
                record = StageRecord(name, False, key, saved["outputs"], saved["seconds"], saved.get("summary", {}))
                self.records[name] = record
                return record
        marker = directory / ".inputs_key"
        if directory.exists() and not (marker.exists() and marker.read_text() == key):
            shutil.rmtree(directory)           # outputs of other inputs: never mixed with new ones
        directory.mkdir(parents=True, exist_ok=True)
        marker.write_text(key)
        record_path.unlink(missing_ok=True)
        self.log(f"[run ] {name}")
        started = time.perf_counter()
        summary = action(directory) or {}
        if "toolchain" in inputs:
            summary["toolchain_used"] = inputs["toolchain"]   # shown per stage in the report
        seconds = time.perf_counter() - started
        outputs = {str(p.relative_to(directory)): file_hash(p) for p in sorted(directory.rglob("*"))
                   if p.is_file() and p.name not in ("stage.json", ".inputs_key") and "samples" not in p.parts}
        outputs |= {f"../{file}": file_hash(self.out / file) for file in published}
        write_atomic(record_path, json.dumps({"key": key, "inputs": inputs, "outputs": outputs, "seconds": seconds,
                                              "summary": summary}, indent=2, default=str) + "\n")
        self.log(f"       {name}: {seconds:.1f} s")
        record = StageRecord(name, True, key, outputs, seconds, summary)
        self.records[name] = record
        return record

    # ------------------------------------------------------------------ the flow

    def run(self) -> dict[str, StageRecord]:
        config = self.config
        if config.pdk_models is not None:
            os.environ["CIRCUITKIT_SKY130_MODELS"] = str(config.pdk_models)
        from circuitkit import toolchain

        toolchain.toolchain.cache_clear()
        versions = toolchain.toolchain().versions()
        # Stages that simulate are keyed by it: a PDK or ngspice change reruns them.
        self.fingerprint = toolchain.toolchain().fingerprint()
        self.out.mkdir(parents=True, exist_ok=True)
        card_path = self._fit_stages()
        self._netlist_stage(card_path)
        tables = self._campaign_stages(card_path)
        self._ber_time_stage(card_path)
        self._disturb_stage(card_path)
        self._inject_stages(tables)
        self._tolerance_stage()
        self._snn_stage()
        self._mlc_stage(card_path)
        self._program_stage(card_path)
        self._report_stage(versions)
        return self.records

    def _fit_stages(self) -> Path | None:
        from circuitkit.device.characterize import MeasurementSpec, characterize
        from circuitkit.device.model import ModelCard

        config = self.config
        card_path: Path | None = None
        stages = (("iv", MeasurementSpec((config.iv,)) if config.iv else None), ("levels", config.levels),
                  ("pulse", config.pulse), ("distribution", config.distribution), ("retention", config.retention))
        for kind, spec in stages:  # each fit starts from the card of the one before
            if spec is None:
                continue
            upstream = card_path
            inputs = {"data": spec.key(), "kind": kind, "sweep_rate": config.sweep_rate,
                      "temp_c": config.fit_temp_c, "start_card": file_hash(upstream) if upstream else None,
                      "seed": config.seed,
                      "toolchain": {key: self.fingerprint[key] for key in ("ngspice", "verilog_a")}}  # re-simulation

            def action(directory: Path, kind=kind, spec=spec, upstream=upstream) -> dict[str, Any]:
                options = spec.fit_options(start=ModelCard.load(upstream) if upstream else None,
                                           sweep_rate=config.sweep_rate, temp_c=config.fit_temp_c, seed=config.seed)
                result = characterize(spec.files, kind, directory, options, log=lambda m: self.log(f"       {m}"))
                return {"fit_quality": {k: v for k, v in result.report.get("fit_metrics", {}).items()
                                        if k != "held_out"}, "ngspice": result.report.get("ngspice_metrics"),
                        "status": result.report["status"], "flags": [f["message"] for f in result.report["flags"]],
                        "summary": result.report["settings"].get("summary", []),
                        "data": [str(p) for p in spec.files]}

            self.stage(f"fit_{kind}", inputs, action)
            card_path = self.out / f"fit_{kind}" / "model_card.json"
        return card_path

    def _card(self, card_path: Path | None):
        from circuitkit.device.model import ModelCard

        return ModelCard.load(card_path) if card_path else ModelCard.default()

    def _netlist_stage(self, card_path: Path | None) -> None:
        from circuitkit.netlist.common import RramStates
        from circuitkit.netlist.pcsa import ternary_pcsa, two_t_two_r_pcsa
        from circuitkit.operating import OperatingPoint

        campaign = self.config.campaign
        # The binary read at the campaign's first corner and temperature, highest supply.
        point = OperatingPoint(campaign.corners[0], max(campaign.vdd), campaign.temp_c[0])
        inputs = {"card": file_hash(card_path) if card_path else "defaults", "point": dataclasses.asdict(point)}

        def action(directory: Path) -> dict[str, Any]:
            card = self._card(card_path)
            states = RramStates.of_card(card)  # a fitted card's own states, inside its bounds
            benches = {f"2t2r_pcsa_w{weight:+d}.cir": two_t_two_r_pcsa(weight, point=point, card=card, states=states)
                       for weight in (+1, -1)}
            benches["ternary_pcsa.cir"] = ternary_pcsa(card=card, states=states)
            for name, bench in benches.items():
                bench.write(directory / name)
            return {"netlists": list(benches)}

        self.stage("netlists", inputs, action)

    def _campaign_stages(self, card_path: Path | None) -> dict[str, Path]:
        from circuitkit.ber_table import BerTable
        from circuitkit.corners.campaign import run_campaign
        from circuitkit.corners.reads import PcsaReadSimulator
        from circuitkit.device.nonideality import CHOSEN, device_nonideality
        from circuitkit.report.plots import BER_FIGURE, plot_ber_vs_vdd

        config = self.config
        card = self._card(card_path)
        device = device_nonideality(card, model=CHOSEN)   # the fit's chosen models; announced by each campaign that runs, recorded by each
        tables = {}
        for name, campaign in config.campaigns(device).items():
            inputs = {"campaign": campaign.to_dict(), "card": file_hash(card_path) if card_path else "defaults",
                      "toolchain": self.fingerprint}

            def action(directory: Path, campaign=campaign) -> dict[str, Any]:
                result = run_campaign(campaign, directory, simulator=PcsaReadSimulator(), workers=config.workers,
                                      card=card if card_path else None, log=lambda message: self.log(f"       {message}"))
                plot_ber_vs_vdd(result.table, directory / BER_FIGURE)
                summary = result.summary
                return {key: summary[key] for key in ("samples_simulated", "failed_samples", "simulation_time_s_total",
                                                      "toolchain", "device_spread", "non_converged",
                                                      "model_form_sensitivity")}

            self.stage(name, inputs, action)
            tables[name] = self.out / name / "ber_table.csv"
        # The flow's BER figure: every campaign's estimates together, each in its method's style
        # (brute force where it saw errors, the rare-event method's estimate with its interval
        # where it did not), upper bounds only where no campaign measured a condition.
        drawn = [BerTable.read(path) for path in tables.values() if path.exists()]
        if drawn:
            plot_ber_vs_vdd(drawn, self.out / BER_FIGURE)
        return tables

    def _ber_time_stage(self, card_path: Path | None) -> None:
        """BER against the time after programming: the rare-event (offset) campaign at the
        flow's first corner and temperature and its highest supply, once per read time, the
        states relaxed by the card's fitted relaxation model (no model on the card: no stage)."""
        from circuitkit.corners.campaign import run_campaign
        from circuitkit.corners.cli import BER_VS_TIME, ber_vs_time_rows, write_ber_vs_time
        from circuitkit.corners.reads import PcsaReadSimulator
        from circuitkit.device.nonideality import CHOSEN, device_nonideality
        from circuitkit.device.relaxation import RetentionRead, format_duration
        from circuitkit.report.plots import BER_TIME_FIGURE, plot_ber_vs_time

        config = self.config
        card = self._card(card_path)
        if card.relaxation_model() is None:
            return
        # The fit's chosen models, as the other campaigns draw (the relaxation moves each lognormal component).
        rare = config.campaigns(device_nonideality(card, model=CHOSEN))["ber_rare" if config.rare is not None else "ber_binary"]
        # One condition, at most BER_TIME_SAMPLES simulations per offset point: a campaign per read time.
        samples = min(rare.samples if config.rare is not None else RARE_OVERRIDES["samples"], BER_TIME_SAMPLES)
        base = dataclasses.replace(rare, corners=rare.corners[:1], vdd=(max(rare.vdd),), temp_c=rare.temp_c[:1],
                                   method="offset", scheme="binary", samples=samples)
        reads = [RetentionRead(t, config.retention_temp_c, card.relaxation) for t in config.read_after]
        campaigns = [dataclasses.replace(base, retention=read) for read in reads]
        inputs = {"campaigns": [c.to_dict() for c in campaigns], "card": file_hash(card_path),
                  "toolchain": self.fingerprint}

        def action(directory: Path) -> dict[str, Any]:
            rows = []
            for campaign in campaigns:
                label = format_duration(campaign.retention.read_after_s).replace(" ", "")
                self.log(f"       {campaign.retention.label}")
                result = run_campaign(campaign, directory / f"read_after_{label}", simulator=PcsaReadSimulator(),
                                      workers=config.workers, card=card, log=lambda m: self.log(f"       {m}"))
                rows.extend(ber_vs_time_rows(result.table, campaign.retention))
            write_ber_vs_time(rows, directory / BER_VS_TIME)
            plot_ber_vs_time(rows, directory / BER_TIME_FIGURE)
            return {"method": "offset (rare-event): the sense amplifier's measured offset integrated against the "
                    "relaxed states (the card's chosen distribution models, each lognormal component relaxed)", "relaxation": card.relaxation_model().describe(), "rows": rows}

        self.stage("ber_time", inputs, action)

    def _disturb_stage(self, card_path: Path | None) -> None:
        """Read disturb over a lifetime with the flow's card: stress per read in ngspice, drift
        law, reads to failure per corner and read bias (as designed, clamp, slew-limited word line)."""
        from circuitkit.corners.disturb import card_source, run_disturb, write_disturb

        disturb = self.config.disturb
        if disturb is None:
            return
        inputs = {"config": disturb.to_dict(), "card": file_hash(card_path) if card_path else "defaults",
                  "toolchain": self.fingerprint}

        def action(directory: Path) -> dict[str, Any]:
            card = self._card(card_path)
            result = run_disturb(disturb, card, card_source(card_path), log=lambda m: self.log(f"       {m}"))
            write_disturb(result, directory, card)
            return {"rows": len(result.rows), "simulated_reads": disturb.reads}

        self.stage("disturb", inputs, action)

    def _inject_stages(self, tables: dict[str, Path]) -> None:
        from circuitkit.ber_table import BerTable
        from circuitkit.inject.accuracy import evaluate_table, write_accuracy_csv
        from circuitkit.inject.data import load_dataset
        from circuitkit.inject.networks import load_network
        from circuitkit.report.html import ACCURACY_AT_BER_UPPER_BOUND

        config = self.config
        # The symmetric sweeps are the tolerance stage's curves.
        network = config.network
        jobs = [(f"accuracy_{name.removeprefix('ber_')}", network.tnn if "ternary" in name else network.bnn, path)
                for name, path in tables.items()]
        for name, network_spec, table_path in jobs:
            inputs = {**self._network_inputs(network_spec), "trials": network.trials,
                      "dataset": network.dataset, "seed": config.seed, "table": file_hash(table_path)}

            def action(directory: Path, network_spec=network_spec, table_path=table_path) -> dict[str, Any]:
                network = load_network(network_spec)
                dataset = load_dataset(config.network.dataset)
                table = BerTable.read(table_path)
                results = evaluate_table(network, dataset.x_test, dataset.y_test, table, trials=config.network.trials,
                                         seed=config.seed)
                write_accuracy_csv(results, directory / "accuracy.csv")
                clean = float(network.accuracy(dataset.x_test, dataset.y_test))
                summary = {"network": network.describe(), "clean_accuracy": clean,
                           "test_images": len(dataset.y_test)}
                if table_path is not None:
                    summary["ber_upper_bound"] = _accuracy_at_ber_upper_bound(
                        network, dataset, table, directory / ACCURACY_AT_BER_UPPER_BOUND, config)
                return summary

            self.stage(name, inputs, action)

    def _network_inputs(self, spec: str) -> dict[str, str]:
        from circuitkit.inject.networks import is_bundled, pretrained_path

        path = pretrained_path(spec) if is_bundled(spec) else Path(spec)
        return {"network": spec, "network_file": file_hash(path)}

    def _tolerance_stage(self) -> None:
        """Tolerance curves of both networks with their 1- and 5-point knees."""
        from circuitkit.inject.data import load_dataset
        from circuitkit.inject.networks import load_network
        from circuitkit.inject.tolerance import tolerance_curve, write_knees_csv

        config = self.config
        tolerance = config.tolerance()
        networks = {"bnn": config.network.bnn, "tnn": config.network.tnn}
        inputs = {"tolerance": dataclasses.asdict(tolerance), "dataset": config.network.dataset,
                  **{label: self._network_inputs(spec) for label, spec in networks.items()}}

        def action(directory: Path) -> dict[str, Any]:
            dataset = load_dataset(config.network.dataset)
            curves = []
            for label, spec in networks.items():
                curve = tolerance_curve(label, load_network(spec), dataset.x_test, dataset.y_test, tolerance)
                curve.write_csv(directory / f"tolerance_{label}.csv")
                curves.append(curve)
            write_knees_csv(curves, directory / "knees.csv")
            return {label: {"network": curve.description, "clean_accuracy": curve.clean_accuracy,
                            "test_images": int(curve.clean_correct.size)} for label, curve in zip(networks, curves)}

        self.stage("tolerance", inputs, action)

    def _snn_stage(self) -> None:
        """The SPIRIT comparison: the SNN on 12x12 MNIST, both input codings."""
        from circuitkit.device.nonideality import StuckCells
        from circuitkit.snn.evaluate import spirit_comparison, write_cases_csv
        from circuitkit.snn.simulate import CODINGS, RateCoding
        from circuitkit.snn.table import bundled_table_path, load_table
        from circuitkit.snn.train import TanhConfig, load_snn_dataset, train_snn_weights

        config = self.config
        if config.snn.chips < 2:
            return
        inputs = {"chips": config.snn.chips, "dataset": config.network.dataset, "seed": config.seed,
                  "table": file_hash(bundled_table_path("tt"))}

        def action(directory: Path) -> dict[str, Any]:
            dataset = load_snn_dataset(config.network.dataset)
            trained = train_snn_weights(dataset, TanhConfig(seed=config.seed))
            table = load_table(corner="tt")
            device = dataclasses.replace(table.device(), stuck=StuckCells.dataset_default())
            device.announce(lambda message: self.log(f"       {message}"))
            cases, _, summary = spirit_comparison(
                trained.weights, table, dataset, chips=config.snn.chips,
                codings=[RateCoding(kind) for kind in CODINGS], device=device, seed=config.seed,
                weights_origin="trained here (tanh single layer, quantized -4..+4)")
            write_cases_csv(cases, directory / "snn_accuracy.csv")
            (directory / "snn_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
            return {"dataset": dataset.name, "test_images": int(len(dataset.y_test))}

        self.stage("snn", inputs, action)

    @staticmethod
    def _load_card(card_path: Path | None):
        """The flow's fitted card (None where the flow fitted none), loaded once per stage."""
        from circuitkit.device.model import ModelCard

        return ModelCard.load(card_path) if card_path else None

    def _programming_cards(self, card):
        """(pulse card, HRS start card, fallback lines): the flow's fitted pulse model and
        HRS distribution in `card`, or the bundled real-device cards where the flow fitted none."""
        from circuitkit.mlc.campaign import cards_or_bundled

        pulse, start, fallbacks = cards_or_bundled(
            card if card is not None and card.pulse_model else None,
            card if card is not None and self.config.distribution is not None else None,
            log=None, why="the flow fitted none")  # the stage announces them when it runs
        return pulse, start, list(fallbacks)

    def _mlc_stage(self, card_path: Path | None) -> None:
        """Multi-level write-verify with the flow's fitted pulse model and HRS distribution
        (the bundled real-device cards where the flow fitted none, announced), compared with
        the real 32-level runs when the levels are theirs."""
        from circuitkit.mlc.campaign import card_digest, run_mlc_campaign

        mlc = self.config.mlc_config()
        if mlc is None:
            return
        from circuitkit.mlc.levels import LevelMap
        from circuitkit.mlc.measured import LEVELS, READ_AFTER_S

        card = self._load_card(card_path)
        pulse, start, fallbacks = self._programming_cards(card)
        compared = mlc.level_map == LevelMap(LEVELS)
        # Beside the real runs, read 15-30 min after programming, the later read relaxes by the
        # flow's fitted relaxation model for as long (none fitted: fresh reads, said in the summary).
        drift = card.relaxation_model() if compared and card is not None else None
        drift_t_s = READ_AFTER_S if drift is not None else 0.0
        inputs = {"config": dataclasses.asdict(mlc), "pulse_card": card_digest(pulse), "start_card": card_digest(start),
                  "drift": None if drift is None else [card_digest(card), drift_t_s]}

        def action(directory: Path) -> dict[str, Any]:
            from circuitkit.mlc.compare import compare

            for line in fallbacks:
                self.log(f"       fallback: {line}")
            campaign = run_mlc_campaign(mlc, directory, pulse_card=pulse, start_card=start, drift=drift,
                                        drift_t_s=drift_t_s, log=lambda m: self.log(f"       {m}"))
            if compared:
                compare(campaign, directory)
            return {"cells": int(campaign.summary["cells"]), "fallbacks": fallbacks, "compared_with_measured": compared,
                    "drift": campaign.summary["drift"]}

        self.stage("mlc", inputs, action)

    def _program_stage(self, card_path: Path | None) -> None:
        """Programming energy vs read BER: cells SET in ngspice with the flow's fitted pulse
        model from its fitted HRS (the bundled real-device cards where the flow fitted none,
        announced), read by 2T2R + PCSA and 1T1R, with the networks' accuracy."""
        from circuitkit.mlc.campaign import card_digest

        program = self.config.program_config()
        if program is None:
            return
        pulse, start, fallbacks = self._programming_cards(self._load_card(card_path))
        inputs = {"config": program.to_dict(), "pulse_card": card_digest(pulse), "start_card": card_digest(start),
                  "toolchain": self.fingerprint}

        def action(directory: Path) -> dict[str, Any]:
            from circuitkit.program.tradeoff import run_tradeoff
            from circuitkit.report.tradeoff import TRADEOFF_FIGURE, plot_tradeoff

            for line in fallbacks:
                self.log(f"       fallback: {line}")
            result = run_tradeoff(program, directory, pulse_card=pulse, start_card=start,
                                  log=lambda m: self.log(f"       {m}"))
            plot_tradeoff(result.rows, directory / TRADEOFF_FIGURE, result.programmed)
            return {"conditions": len(result.rows) // 2, "fallbacks": fallbacks}

        self.stage("program", inputs, action)

    def _report_stage(self, versions: dict[str, str]) -> None:
        from circuitkit.inject.tolerance import PUBLISHED
        from circuitkit.report.html import write_report

        inputs = {name: record.digest for name, record in self.records.items()}
        inputs["versions"] = versions
        inputs["toolchain_fingerprint"] = self.fingerprint
        records = dict(self.records)
        self.stage("report", inputs, lambda directory: write_report(self.out, directory, records, self.config, versions,
                                                                  published_points=PUBLISHED),
                   published=("report.html", "report.md"))


def _accuracy_at_ber_upper_bound(network, dataset, table, path: Path, config: FlowConfig) -> dict[str, Any]:
    """Write the accuracy at each condition's BER upper bound to `path` (accuracy.csv
    columns); conditions with too few reads for an upper bound are listed, not written.

    A measured table's BER is an estimate: the accuracy is also evaluated with every error
    probability at its 95 % upper bound (bound="ci_high"), so a condition that showed no
    error in N reads does not get a zero-width accuracy interval."""
    from circuitkit.ber_table import BerTableError
    from circuitkit.inject.accuracy import evaluate_table, write_accuracy_csv

    results, unbounded = [], []
    for condition in table.conditions():
        try:
            results += evaluate_table(network, dataset.x_test, dataset.y_test, table, trials=config.network.trials,
                                      seed=config.seed, bound="ci_high", conditions=[condition])
        except BerTableError as error:
            unbounded.append(str(error))
    write_accuracy_csv(results, path)
    return {"file": path.name, "conditions": len(results), "without_upper_bound": unbounded}


def run_flow(config: FlowConfig, log: Log = print) -> dict[str, StageRecord]:
    return Flow(config, log).run()
