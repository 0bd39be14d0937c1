"""The whole flow from a configuration file: measurements -> model card -> netlists ->
PVT bit-error tables -> network accuracy -> report.

Each stage writes into its own directory under the output directory, with a
`stage.json` recording a hash of everything it depends on (its settings, the content of
its input files, and the outputs of the stages it reads). A stage whose hash is
unchanged and whose outputs are all present is skipped, so a user can change one stage
(a CSV, a corner list) and rerun cheaply: only what depends on the change runs again.
A stage interrupted half-way (a long campaign) resumes where it stopped when its inputs
are unchanged.

The flow's configuration reuses the stages' own: its campaigns are `CampaignConfig`s
(a flow file's [campaign] keys are that dataclass's field names, as are `circuitkit ber`'s
options), so a setting has one name from the command line to the flow file to Python.

`circuitkit demo` is this flow on the bundled data (`demo_flow`).

The flow orchestrates: it calls the stages and records what they did; it computes no
result of its own and draws through `circuitkit.report`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from circuitkit import CircuitkitError, __version__
from circuitkit.corners.config import CampaignConfig
from circuitkit.files import file_hash, write_atomic
from circuitkit.resources import bundled_data

Log = Callable[[str], None]

# The campaigns of a flow: a binary Monte Carlo campaign (`campaign`), and, derived from
# it by the overrides `ternary` and `rare`, a ternary one and a rare-event (offset method)
# one. Their seed and device spread are the flow's.
FLOW_CAMPAIGN = CampaignConfig(corners=("tt", "ss", "ff"), vdd=(1.2, 1.8), samples=128)
TERNARY_OVERRIDES = {"vdd": (0.9,), "samples": 64}
RARE_OVERRIDES = {"samples": 32}
# What a flow file's [campaign] may set: the CampaignConfig fields the flow does not decide itself.
FLOW_DECIDES = ("scheme", "method", "seed", "spread")
CAMPAIGN_KEYS = tuple(f.name for f in dataclasses.fields(CampaignConfig) if f.init and f.name not in FLOW_DECIDES)


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    """A flow: the user's measurements, PDK, campaigns and networks (see the README's FLOW.toml).

    `campaign` is the binary Monte Carlo campaign; `ternary` and `rare` are the fields in
    which the ternary and the rare-event campaigns differ from it (None: no such
    campaign). `campaigns()` gives all of them, with the flow's seed.
    """

    output: Path
    iv: Path | None = None
    distribution: "MeasurementSpec | None" = None  # a path, or files + reader options (device.characterize)
    levels: "MeasurementSpec | None" = None        # low-field reads of many cells (address, voltage, current)
    pulse: "MeasurementSpec | None" = None         # 1T1R pulse sweeps (SET and RESET fitted jointly)
    sweep_rate: float | None = None          # V/s, for I-V files without a time column
    fit_temp_c: float = 27.0
    pdk_models: Path | None = None
    campaign: CampaignConfig = FLOW_CAMPAIGN
    ternary: Mapping[str, Any] | None = dataclasses.field(default_factory=lambda: dict(TERNARY_OVERRIDES))
    rare: Mapping[str, Any] | None = dataclasses.field(default_factory=lambda: dict(RARE_OVERRIDES))
    workers: int = 2
    seed: int = 1
    bnn: str = "bnn"
    tnn: str = "tnn"
    trials: int = 50
    dataset: str = "mnist5k"
    sweep_ber: tuple[float, float] = (1e-5, 0.2)   # the tolerance curves' BER grid (4 points per decade)
    snn_chips: int = 10                            # SPIRIT comparison: chips per case (0: no SNN stage)

    def __post_init__(self) -> None:
        # Every campaign checked (operating points included) before the fits spend minutes
        # on a flow that cannot run.
        self.campaigns()

    def campaigns(self, spread=None) -> dict[str, CampaignConfig]:
        """Stage name -> campaign, each with the flow's seed and (when given) `spread`."""
        base = {"seed": self.seed, **({"spread": spread} if spread is not None else {})}
        derived = {"ber_binary": {}, "ber_ternary": self.ternary, "ber_rare": self.rare}
        fixed = {"ber_binary": {}, "ber_ternary": {"scheme": "ternary"}, "ber_rare": {"method": "offset"}}
        campaigns = {}
        for name, overrides in derived.items():
            if overrides is None:
                continue
            unknown = sorted(set(overrides) - set(CAMPAIGN_KEYS))
            if unknown:
                raise CircuitkitError(f"flow campaign {name}: unknown setting(s) {', '.join(unknown)}; "
                                      f"expected {', '.join(CAMPAIGN_KEYS)}")
            try:
                campaigns[name] = dataclasses.replace(self.campaign, **overrides, **fixed[name], **base)
            except CircuitkitError as error:
                raise CircuitkitError(f"flow campaign {name}: {error}") from None
        return campaigns

    @classmethod
    def from_toml(cls, path: Path | str) -> "FlowConfig":
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise CircuitkitError(f"cannot read flow file {path}: {error}") from error
        base = path.parent
        sections = {"flow", "measurements", "pdk", "campaign", "network"}
        unknown = sorted(set(data) - sections)
        if unknown:
            raise CircuitkitError(f"{path}: unknown section(s) {', '.join(unknown)}; expected {', '.join(sorted(sections))}")

        def section(name: str, allowed: Sequence[str], values: Mapping[str, Any] | None = None) -> dict[str, Any]:
            values = data.get(name, {}) if values is None else values
            extra = sorted(set(values) - set(allowed))
            if extra:
                raise CircuitkitError(f"{path}, [{name}]: unknown key(s) {', '.join(extra)}; expected {', '.join(allowed)}")
            return dict(values)

        flow = section("flow", ["output", "seed", "workers"])
        measurements = section("measurements", ["iv", "levels", "pulse", "distribution", "sweep_rate", "temp_c"])
        pdk = section("pdk", ["models"])
        campaign = section("campaign", [*CAMPAIGN_KEYS, "ternary", "rare"])
        network = section("network", ["bnn", "tnn", "trials", "dataset", "sweep_ber", "snn_chips"])

        def resolve(value: str | None) -> Path | None:
            if value is None:
                return None
            candidate = Path(value).expanduser()
            return candidate if candidate.is_absolute() else (base / candidate).resolve()

        def network_spec(value: str) -> str:
            from circuitkit.inject.networks import is_bundled

            return value if is_bundled(value) else str(resolve(value))

        fields: dict[str, Any] = {"output": resolve(flow.get("output", "flow-output"))}
        for key, target in (("seed", "seed"), ("workers", "workers")):
            if key in flow:
                fields[target] = int(flow[key])
        from circuitkit.device.characterize import MeasurementSpec

        if "iv" in measurements:
            fields["iv"] = resolve(measurements["iv"])
        for key in ("levels", "pulse", "distribution"):
            if key in measurements:
                fields[key] = MeasurementSpec.from_toml(measurements[key], base, f"{path}, [measurements] {key}")
        if "sweep_rate" in measurements:
            fields["sweep_rate"] = float(measurements["sweep_rate"])
        if "temp_c" in measurements:
            fields["fit_temp_c"] = float(measurements["temp_c"])
        if "models" in pdk:
            fields["pdk_models"] = resolve(pdk["models"])
        # [campaign] holds CampaignConfig fields by their names; `ternary` / `rare` are false
        # (no such campaign) or a [campaign.ternary] / [campaign.rare] table of what differs.
        for name in ("ternary", "rare"):
            if name in campaign:
                value = campaign.pop(name)
                if value is not False and not isinstance(value, dict):
                    raise CircuitkitError(f"{path}, [campaign] {name}: expected false or a [campaign.{name}] table")
                fields[name] = None if value is False else section(f"campaign.{name}", CAMPAIGN_KEYS, value)
        for key in ("bnn", "tnn"):
            if key in network:
                fields[key] = network_spec(network[key])
        for key in ("trials", "snn_chips"):
            if key in network:
                fields[key] = int(network[key])
        if "dataset" in network:
            fields["dataset"] = network["dataset"]
        if "sweep_ber" in network:
            fields["sweep_ber"] = tuple(float(v) for v in network["sweep_ber"])
        try:
            config = cls(**fields, campaign=dataclasses.replace(FLOW_CAMPAIGN, **campaign))
        except CircuitkitError as error:
            raise CircuitkitError(f"{path}: {error}") from None
        if config.iv is not None and not config.iv.exists():
            raise CircuitkitError(f"{path}, [measurements] iv: file {config.iv} does not exist")
        return config


def demo_flow(output: Path | str) -> FlowConfig:
    """The flow `make demo` runs: real devices (the bundled 130 nm 1T1R array data: low-field
    reads of 32 levels, the SET and RESET sweeps, the programmed LRS/HRS distributions),
    three corners, two supplies, a ternary read at its near-threshold supply, rare-event
    rows, bundled BNN/TNN."""
    from circuitkit.device.characterize import MeasurementSpec

    data = bundled_data("rram-1t1r-130nm")
    sweep = {"address": 1, "width": 2, "wl_voltage": 3, "line_voltage": 4, "r_before": 5, "r_after": 6}
    return FlowConfig(
        output=Path(output),
        levels=MeasurementSpec((data / "read_voltage_sweep.tsv.gz",), header=False, read_voltage=0.2,
                               columns={"address": 1, "voltage": 2, "current": 3}),
        pulse=MeasurementSpec((data / "set_sweep.tsv.gz", data / "reset_sweep.tsv.gz"), header=False, columns=sweep,
                              pulsed_line=("bl", "sl"), read_voltage=0.2),
        # LRS: the cells before the RESET sweep (all SET); HRS: the cells before the SET sweep (RESET).
        distribution=MeasurementSpec((data / "reset_sweep.tsv.gz", data / "set_sweep.tsv.gz"), header=False,
                                     columns={"resistance": 5, "address": 1}, states=("LRS", "HRS"), read_voltage=0.2),
    )


# --------------------------------------------------------------------------- stages


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
        self._inject_stages(tables)
        self._tolerance_stage()
        self._snn_stage()
        self._report_stage(versions)
        return self.records

    def _fit_stages(self) -> Path | None:
        from circuitkit.device.characterize import FitOptions, characterize
        from circuitkit.device.model import ModelCard

        from circuitkit.device.characterize import MeasurementSpec

        config = self.config
        card_path: Path | None = None
        stages = (("iv", MeasurementSpec((config.iv,)) if config.iv else None), ("levels", config.levels),
                  ("pulse", config.pulse), ("distribution", config.distribution))
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
        from circuitkit.corners.campaign import run_campaign
        from circuitkit.corners.reads import PcsaReadSimulator
        from circuitkit.corners.spread import device_spread
        from circuitkit.report.plots import BER_FIGURE, plot_ber_vs_vdd

        config = self.config
        card = self._card(card_path)
        spread = device_spread(card)   # announced by each campaign that runs, recorded by each
        tables = {}
        for name, campaign in config.campaigns(spread).items():
            inputs = {"campaign": campaign.to_dict(), "card": file_hash(card_path) if card_path else "defaults",
                      "toolchain": self.fingerprint}

            def action(directory: Path, campaign=campaign) -> dict[str, Any]:
                result = run_campaign(campaign, directory, simulator=PcsaReadSimulator(), workers=config.workers,
                                      card=card if card_path else None, log=lambda message: self.log(f"       {message}"))
                plot_ber_vs_vdd(result.table, directory / BER_FIGURE)
                summary = result.summary
                return {key: summary[key] for key in ("samples_simulated", "failed_samples", "simulation_time_s_total",
                                                      "toolchain", "device_spread")}

            self.stage(name, inputs, action)
            tables[name] = self.out / name / "ber_table.csv"
        return tables

    def _inject_stages(self, tables: dict[str, Path]) -> None:
        from circuitkit.ber_table import BerTable
        from circuitkit.inject.accuracy import evaluate_table, write_accuracy_csv
        from circuitkit.inject.data import load_dataset
        from circuitkit.inject.networks import load_network
        from circuitkit.report.html import ACCURACY_AT_BER_UPPER_BOUND

        config = self.config
        # The symmetric sweeps are the tolerance stage's curves.
        jobs = [(f"accuracy_{name.removeprefix('ber_')}", config.tnn if "ternary" in name else config.bnn, path)
                for name, path in tables.items()]
        for name, network_spec, table_path in jobs:
            inputs = {**self._network_inputs(network_spec), "trials": config.trials,
                      "dataset": config.dataset, "seed": config.seed, "table": file_hash(table_path)}

            def action(directory: Path, network_spec=network_spec, table_path=table_path) -> dict[str, Any]:
                network = load_network(network_spec)
                dataset = load_dataset(config.dataset)
                table = BerTable.read(table_path)
                results = evaluate_table(network, dataset.x_test, dataset.y_test, table, trials=config.trials,
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
        from circuitkit.inject.tolerance import ToleranceConfig, tolerance_curve, write_knees_csv

        config = self.config
        tolerance = ToleranceConfig(ber_start=config.sweep_ber[0], ber_stop=config.sweep_ber[1], trials=config.trials,
                                    seed=config.seed)
        networks = {"bnn": config.bnn, "tnn": config.tnn}
        inputs = {"tolerance": dataclasses.asdict(tolerance), "dataset": config.dataset,
                  **{label: self._network_inputs(spec) for label, spec in networks.items()}}

        def action(directory: Path) -> dict[str, Any]:
            dataset = load_dataset(config.dataset)
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
        from circuitkit.snn.cells import StuckCells
        from circuitkit.snn.evaluate import spirit_comparison, write_cases_csv
        from circuitkit.snn.simulate import CODINGS, RateCoding
        from circuitkit.snn.table import bundled_table_path, load_table
        from circuitkit.snn.train import TanhConfig, load_snn_dataset, train_snn_weights

        config = self.config
        if config.snn_chips < 2:
            return
        inputs = {"chips": config.snn_chips, "dataset": config.dataset, "seed": config.seed,
                  "table": file_hash(bundled_table_path("tt"))}

        def action(directory: Path) -> dict[str, Any]:
            dataset = load_snn_dataset(config.dataset)
            trained = train_snn_weights(dataset, TanhConfig(seed=config.seed))
            stuck = StuckCells.dataset_default()
            self.log(f"       stuck cells: {stuck.source}")
            cases, _, summary = spirit_comparison(
                trained.weights, load_table(corner="tt"), dataset, chips=config.snn_chips,
                codings=[RateCoding(kind) for kind in CODINGS], stuck=stuck, seed=config.seed,
                weights_origin="trained here (tanh single layer, quantized -4..+4)")
            write_cases_csv(cases, directory / "snn_accuracy.csv")
            (directory / "snn_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
            return {"dataset": dataset.name, "test_images": int(len(dataset.y_test))}

        self.stage("snn", inputs, action)

    def _report_stage(self, versions: dict[str, str]) -> None:
        from circuitkit.report.html import write_report

        inputs = {name: record.digest for name, record in self.records.items()}
        inputs["versions"] = versions
        inputs["toolchain_fingerprint"] = self.fingerprint
        records = dict(self.records)
        self.stage("report", inputs, lambda directory: write_report(self.out, directory, records, self.config, versions),
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
            results += evaluate_table(network, dataset.x_test, dataset.y_test, table, trials=config.trials,
                                      seed=config.seed, bound="ci_high", conditions=[condition])
        except BerTableError as error:
            unbounded.append(str(error))
    write_accuracy_csv(results, path)
    return {"file": path.name, "conditions": len(results), "without_upper_bound": unbounded}


def run_flow(config: FlowConfig, log: Log = print) -> dict[str, StageRecord]:
    return Flow(config, log).run()


# --------------------------------------------------------------------------- CLI


def _run(args) -> int:
    config = FlowConfig.from_toml(args.flow)
    if args.output is not None:
        config = dataclasses.replace(config, output=args.output)
    if args.workers is not None:
        config = dataclasses.replace(config, workers=args.workers)
    return _execute(config)


def _demo(args) -> int:
    config = demo_flow(args.output)
    if args.workers is not None:
        config = dataclasses.replace(config, workers=args.workers)
    return _execute(config)


def _execute(config: FlowConfig) -> int:
    started = time.perf_counter()
    records = run_flow(config)
    ran = [name for name, record in records.items() if record.ran]
    print(f"flow finished in {time.perf_counter() - started:.1f} s: {len(ran)} of {len(records)} stages ran "
          f"({', '.join(ran) or 'none: everything was up to date'}); report: {Path(config.output) / 'report.html'}")
    return 0


def add_parser(subparsers) -> None:
    import argparse

    run = subparsers.add_parser(
        "run", help="run the whole flow from a FLOW.toml (stages skipped when up to date)",
        description="Fit, netlists, PVT campaigns, network accuracy and the report, from a configuration file; "
                    "a stage whose inputs (content hashes) are unchanged is skipped.")
    run.add_argument("flow", type=Path, help="FLOW.toml (see the README)")
    run.add_argument("-o", "--output", type=Path, help="output directory (overrides [flow] output)")
    run.add_argument("--workers", type=int, help="worker processes (overrides [flow] workers)")
    run.set_defaults(handler=_run)
    demo = subparsers.add_parser(
        "demo", help="the whole flow on the bundled data (what `make demo` runs)",
        description="Fits real devices (the bundled 130 nm 1T1R array data: low-field reads, SET/RESET sweeps with "
                    "the access transistor in the loop, LRS/HRS distributions), generates the 2T2R + PCSA netlists, "
                    "runs a small PVT campaign (binary, ternary, rare-event rows), injects the tables into the "
                    "bundled BNN and TNN and writes OUTDIR/report.html.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("-o", "--output", type=Path, default=Path("out/demo"), help="output directory")
    demo.add_argument("--workers", type=int, help="worker processes (default 2)")
    demo.set_defaults(handler=_demo)
