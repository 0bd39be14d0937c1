"""The whole flow from a configuration file: measurements -> model card -> netlists ->
PVT bit-error tables -> network accuracy -> report.

Each stage writes into its own directory under the output directory, with a
`stage.json` recording a hash of everything it depends on (its settings, the content of
its input files, and the outputs of the stages it reads). A stage whose hash is
unchanged and whose outputs are all present is skipped, so a user can change one stage
(a CSV, a corner list) and rerun cheaply: only what depends on the change runs again.
A stage interrupted half-way (a long campaign) resumes where it stopped when its inputs
are unchanged.

`circuitkit demo` is this flow on the bundled data (`DEMO_FLOW`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from circuitkit.files import write_atomic
from circuitkit import CircuitkitError, __version__
from circuitkit.toolchain import REPO_ROOT

Log = Callable[[str], None]


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    """A flow: the user's measurements, PDK, corners and networks (see the README's FLOW.toml)."""

    output: Path
    iv: Path | None = None
    distribution: "MeasurementSpec | None" = None  # a path, or files + reader options (device.characterize)
    levels: "MeasurementSpec | None" = None        # low-field reads of many cells (address, voltage, current)
    pulse: "MeasurementSpec | None" = None         # 1T1R pulse sweeps (SET and RESET fitted jointly)
    sweep_rate: float | None = None          # V/s, for I-V files without a time column
    fit_temp_c: float = 27.0
    pdk_models: Path | None = None
    corners: tuple[str, ...] = ("tt", "ss", "ff")
    vdds: tuple[float, ...] = (1.2, 1.8)
    temps_c: tuple[float, ...] = (27.0,)
    samples: int = 128
    ternary_vdds: tuple[float, ...] = (0.9,)
    ternary_samples: int = 64
    rare_event: bool = True
    rare_samples: int = 32
    batch_size: int = 64
    workers: int = 2
    seed: int = 1
    bnn: str = "bnn"
    tnn: str = "tnn"
    trials: int = 50
    dataset: str = "digits"
    sweep_ber: tuple[float, float] = (1e-6, 1e-1)

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

        def section(name: str, allowed: Sequence[str]) -> dict[str, Any]:
            values = data.get(name, {})
            extra = sorted(set(values) - set(allowed))
            if extra:
                raise CircuitkitError(f"{path}, [{name}]: unknown key(s) {', '.join(extra)}; expected {', '.join(allowed)}")
            return values

        flow = section("flow", ["output", "seed", "workers"])
        measurements = section("measurements", ["iv", "levels", "pulse", "distribution", "sweep_rate", "temp_c"])
        pdk = section("pdk", ["models"])
        campaign = section("campaign", ["corners", "vdd", "temp", "samples", "ternary_vdd", "ternary_samples",
                                        "rare_event", "rare_samples", "batch_size"])
        network = section("network", ["bnn", "tnn", "trials", "dataset", "sweep_ber"])

        def resolve(value: str | None) -> Path | None:
            if value is None:
                return None
            candidate = Path(value).expanduser()
            return candidate if candidate.is_absolute() else (base / candidate).resolve()

        def network_spec(value: str) -> str:
            return value if value in ("bnn", "tnn") else str(resolve(value))

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
        renames = {"corners": "corners", "vdd": "vdds", "temp": "temps_c", "ternary_vdd": "ternary_vdds"}
        for key, target in renames.items():
            if key in campaign:
                fields[target] = tuple(campaign[key])
        for key in ("samples", "ternary_samples", "rare_samples", "batch_size"):
            if key in campaign:
                fields[key] = int(campaign[key])
        if "rare_event" in campaign:
            fields["rare_event"] = bool(campaign["rare_event"])
        for key in ("bnn", "tnn"):
            if key in network:
                fields[key] = network_spec(network[key])
        if "trials" in network:
            fields["trials"] = int(network["trials"])
        if "dataset" in network:
            fields["dataset"] = network["dataset"]
        if "sweep_ber" in network:
            fields["sweep_ber"] = tuple(float(v) for v in network["sweep_ber"])
        config = cls(**fields)
        if config.iv is not None and not config.iv.exists():
            raise CircuitkitError(f"{path}, [measurements] iv: file {config.iv} does not exist")
        return config


def demo_flow(output: Path | str) -> FlowConfig:
    """The flow `make demo` runs: real devices (the bundled 130 nm 1T1R array data: low-field
    reads of 32 levels, the SET and RESET sweeps, the programmed LRS/HRS distributions),
    three corners, two supplies, a ternary read at its near-threshold supply, rare-event
    rows, bundled BNN/TNN."""
    from circuitkit.device.characterize import MeasurementSpec

    data = REPO_ROOT / "characterization" / "rram-1t1r-130nm"
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
        self.out.mkdir(parents=True, exist_ok=True)
        card_path = self._fit_stages()
        self._netlist_stage(card_path)
        tables = self._campaign_stages(card_path)
        self._inject_stages(tables)
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
                      "seed": config.seed}

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
        from circuitkit.netlist.common import SupplyCondition, write
        from circuitkit.netlist.pcsa import TERNARY_SUPPLY, ternary_pcsa, two_t_two_r_pcsa

        config = self.config
        inputs = {"card": file_hash(card_path) if card_path else "defaults", "corners": config.corners,
                  "vdds": config.vdds, "temps": config.temps_c}

        def action(directory: Path) -> dict[str, Any]:
            card = self._card(card_path)
            supply = SupplyCondition(config.corners[0], max(config.vdds), config.temps_c[0])
            netlists = {f"2t2r_pcsa_w{weight:+d}.cir": two_t_two_r_pcsa(weight, supply=supply, card=card)
                        for weight in (+1, -1)}
            netlists["ternary_pcsa.cir"] = ternary_pcsa(card=card, supply=TERNARY_SUPPLY)
            for name, text in netlists.items():
                write(text, directory / name)
            return {"netlists": list(netlists)}

        self.stage("netlists", inputs, action)

    def _campaign_stages(self, card_path: Path | None) -> dict[str, Path]:
        from circuitkit.corners.campaign import CampaignConfig, run_campaign
        from circuitkit.corners.spread import DeviceSpread

        config = self.config
        card = self._card(card_path)
        spread = DeviceSpread.from_model_card(card) if "median_r_lrs" in card.variability else DeviceSpread()
        common = dict(corners=config.corners, temps_c=config.temps_c, seed=config.seed, batch_size=config.batch_size,
                      spread=spread)
        campaigns = {"ber_binary": CampaignConfig(vdds=config.vdds, samples=config.samples, **common)}
        if config.ternary_vdds:
            campaigns["ber_ternary"] = CampaignConfig(vdds=config.ternary_vdds, scheme="ternary",
                                                      samples=config.ternary_samples, **common)
        if config.rare_event:
            campaigns["ber_rare"] = CampaignConfig(vdds=config.vdds, method="offset", samples=config.rare_samples,
                                                   **common)
        tables = {}
        for name, campaign in campaigns.items():
            inputs = {"campaign": campaign.to_dict(), "card": file_hash(card_path) if card_path else "defaults"}

            def action(directory: Path, campaign=campaign) -> dict[str, Any]:
                result = run_campaign(campaign, directory, workers=config.workers, card=card if card_path else None)
                summary = result.summary
                return {key: summary[key] for key in ("samples_simulated", "failed_samples", "simulation_time_s_total",
                                                      "toolchain")}

            self.stage(name, inputs, action)
            tables[name] = self.out / name / "ber_table.csv"
        return tables

    def _inject_stages(self, tables: dict[str, Path]) -> None:
        from circuitkit.ber_table import BerTable
        from circuitkit.inject.accuracy import evaluate_table, sweep_table, write_accuracy_csv
        from circuitkit.inject.data import load_dataset
        from circuitkit.inject.networks import load_network

        config = self.config
        jobs = [("accuracy_sweep_bnn", config.bnn, None), ("accuracy_sweep_tnn", config.tnn, None)]
        jobs += [(f"accuracy_{name.removeprefix('ber_')}", config.tnn if "ternary" in name else config.bnn, path)
                 for name, path in tables.items()]
        for name, network_spec, table_path in jobs:
            network_file = network_spec if network_spec in ("bnn", "tnn") else file_hash(Path(network_spec))
            inputs = {"network": network_spec, "network_file": network_file, "trials": config.trials,
                      "dataset": config.dataset, "seed": config.seed,
                      "table": file_hash(table_path) if table_path else {"sweep": config.sweep_ber}}

            def action(directory: Path, network_spec=network_spec, table_path=table_path) -> dict[str, Any]:
                network = load_network(network_spec)
                dataset = load_dataset(config.dataset)
                if table_path is None:
                    table = sweep_table(config.sweep_ber[0], config.sweep_ber[1], 11, network.scheme)
                    table.write(directory / "ber_table.csv")
                else:
                    table = BerTable.read(table_path)
                results = evaluate_table(network, dataset.x_test, dataset.y_test, table, trials=config.trials,
                                         seed=config.seed)
                write_accuracy_csv(results, directory / "accuracy.csv")
                clean = float(network.accuracy(dataset.x_test, dataset.y_test))
                return {"network": f"{network.kind} {network.layer_sizes}", "clean_accuracy": clean,
                        "test_images": len(dataset.y_test)}

            self.stage(name, inputs, action)

    def _report_stage(self, versions: dict[str, str]) -> None:
        from circuitkit.report.html import write_report

        inputs = {name: record.digest for name, record in self.records.items()}
        inputs["versions"] = versions
        records = dict(self.records)
        self.stage("report", inputs, lambda directory: write_report(self.out, directory, records, self.config, versions),
                   published=("report.html", "report.md"))


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
