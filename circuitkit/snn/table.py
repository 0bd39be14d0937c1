"""The characterization table: what the IF neuron and the RRAM synapse do at one corner,
as the network simulator needs it, with the toolchain it came from.

A small JSON file (`characterize.py` writes it from ngspice runs; a bundled one per corner
lives in `circuitkit/snn/data/`):

    format        "circuitkit-snn-characterization-v1"
    condition     corner, vdd (V), temp_c (C)
    neuron        charge_to_threshold_pos_c / _neg_c   charge that takes the membrane from rest
                                                       to the positive / negative threshold (C)
                  threshold_sigma_rel                  neuron-to-neuron spread (1 sigma, relative)
                                                       of those charges (transistor mismatch)
                  refractory_s                         no new spike until this long after one (s)
                  reset                                "rest": a spike puts the membrane back at rest
                                                       (charge above the threshold is lost);
                                                       "subtract": only the threshold charge is removed
                  energy_per_spike_j, static_power_w   supply energy of one output spike; bias power
                                                       of one neuron (comparators, references)
    synapse       v_read_v                             voltage across a cell during a read (<= 0.1 V)
                  t_read_s                             read pulse of one input spike (s)
                  cells_per_polarity                   4: weight +w = w of the 4 positive cells in LRS
                  lrs_current_a, hrs_current_a         median read current of one cell in LRS / HRS as the
                                                       positive path copies it into the membrane (A)
                  lrs_current_neg_a, hrs_current_neg_a the same as the negative path pulls it out (A)
                  lrs_sigma_ln, hrs_sigma_ln           sigma of the log of those currents, device to device
                  read_noise_rel                       cycle-to-cycle read noise (1 sigma, relative, per read)
                  lrs_read_energy_j, hrs_read_energy_j supply energy of reading one cell in LRS / HRS for
                                                       t_read and copying its current into the membrane;
                                                       a synaptic event (one input spike through one
                                                       synapse into one neuron) reads 8 cells
    transfer      rows {quantity, input, output_rate_hz, polarity}: the measured transfer curves
    provenance    toolchain versions, circuitkit version, command, date, netlist hashes, notes

Every number is SI. `CharacterizationTable.read` validates and names the key at fault.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.device.nonideality import DeviceNonideality, NonidealityError, ProgrammedStates, ReadNoise

TABLE_FORMAT = "circuitkit-snn-characterization-v1"
RESETS = ("rest", "subtract")
DATA_DIR = Path(__file__).parent / "data"


class TableError(CircuitkitError):
    """A characterization table that is malformed or does not fit the request."""


@dataclasses.dataclass(frozen=True)
class NeuronCharacteristics:
    charge_to_threshold_pos_c: float
    charge_to_threshold_neg_c: float
    threshold_sigma_rel: float
    refractory_s: float
    reset: str = "rest"
    energy_per_spike_j: float = 0.0
    static_power_w: float = 0.0


@dataclasses.dataclass(frozen=True)
class SynapseCharacteristics:
    v_read_v: float
    t_read_s: float
    lrs_current_a: float
    hrs_current_a: float
    lrs_current_neg_a: float
    hrs_current_neg_a: float
    lrs_sigma_ln: float
    hrs_sigma_ln: float
    read_noise_rel: float = 0.0
    lrs_read_energy_j: float = 0.0
    hrs_read_energy_j: float = 0.0
    cells_per_polarity: int = 4

    @property
    def on_off_ratio(self) -> float:
        """LRS / HRS read current of the positive path (= HRS / LRS resistance for a linear read)."""
        return self.lrs_current_a / self.hrs_current_a

    def event_energy_j(self, weight: int | float) -> float:
        """Supply energy of one synaptic event of a synapse holding `weight` (|w| cells in
        LRS, the other 2*4 - |w| in HRS); vectorizes over arrays of weights."""
        on = np.abs(weight)
        return on * self.lrs_read_energy_j + (2 * self.cells_per_polarity - on) * self.hrs_read_energy_j


# Which fields may be zero (everything else must be > 0), and which must not exceed a bound.
_ZERO_OK = {"threshold_sigma_rel", "read_noise_rel", "lrs_sigma_ln", "hrs_sigma_ln", "energy_per_spike_j",
            "static_power_w", "lrs_read_energy_j", "hrs_read_energy_j", "refractory_s"}


@dataclasses.dataclass(frozen=True)
class CharacterizationTable:
    corner: str
    vdd: float
    temp_c: float
    neuron: NeuronCharacteristics
    synapse: SynapseCharacteristics
    transfer: tuple[Mapping[str, Any], ...] = ()
    provenance: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    source: str = "<table>"

    def __post_init__(self) -> None:
        where = self.source
        if not isinstance(self.corner, str) or not self.corner:
            raise TableError(f"{where}: condition.corner must be a non-empty string, got {self.corner!r}")
        for key in ("vdd", "temp_c"):
            if not _finite(getattr(self, key)):
                raise TableError(f"{where}: condition.{key} must be a finite number, got {getattr(self, key)!r}")
        for section in ("neuron", "synapse"):
            obj = getattr(self, section)
            for field in dataclasses.fields(obj):
                value = getattr(obj, field.name)
                if field.name == "reset":
                    if value not in RESETS:
                        raise TableError(f"{where}: neuron.reset is {value!r}; expected one of {RESETS}")
                    continue
                lowest_ok = 0.0 if field.name in _ZERO_OK else None
                if not _finite(value) or (value < 0 if lowest_ok is not None else value <= 0):
                    expected = ">= 0" if lowest_ok is not None else "> 0"
                    raise TableError(f"{where}: {section}.{field.name} = {value!r}: expected a finite number {expected}")
        if self.synapse.v_read_v > 0.1 + 1e-12:
            raise TableError(f"{where}: synapse.v_read_v = {self.synapse.v_read_v!r} V: the read keeps at most 0.1 V across a cell")
        for suffix in ("", "_neg"):
            lrs, hrs = (getattr(self.synapse, f"{state}_current{suffix}_a") for state in ("lrs", "hrs"))
            if hrs >= lrs:
                raise TableError(f"{where}: synapse.hrs_current{suffix}_a ({hrs:g} A) must be below "
                                 f"lrs_current{suffix}_a ({lrs:g} A)")
        if self.synapse.cells_per_polarity != 4:
            raise TableError(f"{where}: synapse.cells_per_polarity = {self.synapse.cells_per_polarity!r}; "
                             "the -4..+4 weights need 4 cells per polarity")

    # ------------------------------------------------------------------ requests
    def check_condition(self, corner: str | None = None, vdd: float | None = None, temp_c: float | None = None) -> None:
        """A clear error when the table was made at another corner / supply / temperature."""
        asked = {"corner": corner, "vdd": vdd, "temp_c": temp_c}
        for key, value in asked.items():
            if value is None:
                continue
            have = getattr(self, key)
            same = have == value if key == "corner" else math.isclose(float(have), float(value), abs_tol=1e-9)
            if not same:
                raise TableError(
                    f"{self.source}: characterized at {key} {have!r}, but {key} {value!r} was asked; "
                    f"characterize that condition (`circuitkit snn --characterize --corner ...`) or pass a table made there"
                )

    def with_on_off_ratio(self, ratio: float) -> "CharacterizationTable":
        """The same circuit with HRS cells leaking LRS current / ratio on both paths (a
        smaller HRS/LRS resistance ratio), the read pulse and neuron left as designed."""
        if not (_finite(ratio) and ratio > 1):
            raise TableError(f"HRS/LRS ratio must be a finite number > 1, got {ratio!r}")
        synapse = dataclasses.replace(self.synapse, hrs_current_a=self.synapse.lrs_current_a / ratio,
                                      hrs_current_neg_a=self.synapse.lrs_current_neg_a / ratio)
        return dataclasses.replace(self, synapse=synapse)

    def label(self) -> str:
        return f"{self.corner} vdd={self.vdd:g} V T={self.temp_c:g} C"

    # ------------------------------------------------------------------ the device it was made with
    def recorded_states(self) -> ProgrammedStates | None:
        """The programmed states the read currents were characterized at (provenance
        `device_spread`), or None when the table does not say."""
        recorded = self.provenance.get("device_spread")
        if not isinstance(recorded, Mapping):
            return None
        try:
            return ProgrammedStates.from_dict(recorded)
        except NonidealityError as error:
            raise TableError(f"{self.source}: provenance.device_spread: {error}") from None

    def device(self) -> DeviceNonideality:
        """The device nonideality this table describes: the programmed states it was
        characterized with (the literature defaults when it does not record them), its
        read noise (`synapse.read_noise_rel`), no stuck cells."""
        states = self.recorded_states() or ProgrammedStates()
        sigma = float(self.synapse.read_noise_rel)
        assumption = str(self.provenance.get("assumptions", {}).get("read_noise_rel", ""))
        if "assumption" in assumption or (not assumption and sigma == ReadNoise.ASSUMED):
            noise = ReadNoise(sigma, f"assumption, not your data ({self.source}: the compact model has no read noise)")
        else:
            noise = ReadNoise(sigma, f"characterization table {self.source}")
        return DeviceNonideality(states, noise)

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TABLE_FORMAT,
            "condition": {"corner": self.corner, "vdd": self.vdd, "temp_c": self.temp_c},
            "neuron": dataclasses.asdict(self.neuron),
            "synapse": dataclasses.asdict(self.synapse),
            "transfer": [dict(row) for row in self.transfer],
            "provenance": dict(self.provenance),
        }

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<table>") -> "CharacterizationTable":
        if not isinstance(data, Mapping):
            raise TableError(f"{source}: expected a JSON object at the top level")
        if data.get("format") != TABLE_FORMAT:
            raise TableError(f"{source}: format {data.get('format')!r}, expected {TABLE_FORMAT!r}")

        def section(name: str) -> Mapping[str, Any]:
            value = data.get(name)
            if not isinstance(value, Mapping):
                raise TableError(f"{source}: missing section {name!r} (an object)")
            return value

        def build(kind: type, name: str) -> Any:
            values = section(name)
            fields = {f.name: f for f in dataclasses.fields(kind)}
            unknown = sorted(set(values) - set(fields))
            if unknown:
                raise TableError(f"{source}: unknown key(s) {', '.join(f'{name}.{k}' for k in unknown)}")
            missing = [k for k, f in fields.items() if k not in values
                       and f.default is dataclasses.MISSING]
            if missing:
                raise TableError(f"{source}: missing key(s) {', '.join(f'{name}.{k}' for k in missing)}")
            for key, value in values.items():
                if key != "reset" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                    raise TableError(f"{source}: {name}.{key} must be a number, got {value!r}")
            return kind(**values)

        condition = section("condition")
        missing = [k for k in ("corner", "vdd", "temp_c") if k not in condition]
        if missing:
            raise TableError(f"{source}: missing key(s) {', '.join(f'condition.{k}' for k in missing)}")
        transfer = data.get("transfer", [])
        if not isinstance(transfer, list) or not all(isinstance(row, Mapping) for row in transfer):
            raise TableError(f"{source}: transfer must be a list of objects")
        return cls(
            corner=condition["corner"], vdd=condition["vdd"], temp_c=condition["temp_c"],
            neuron=build(NeuronCharacteristics, "neuron"), synapse=build(SynapseCharacteristics, "synapse"),
            transfer=tuple(transfer), provenance=dict(data.get("provenance", {})), source=source,
        )

    @classmethod
    def read(cls, path: str | Path) -> "CharacterizationTable":
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise TableError(f"{path}: cannot read characterization table: {error.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise TableError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
        return cls.from_dict(data, source=str(path))


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def bundled_table_path(corner: str = "tt") -> Path:
    return DATA_DIR / f"characterization_{corner}.json"


def load_table(path: str | Path | None = None, corner: str | None = None) -> CharacterizationTable:
    """A table from `path`, or the bundled one of `corner` (default tt); checked against
    `corner` either way."""
    if path is None:
        bundled = bundled_table_path(corner or "tt")
        if not bundled.is_file():
            have = sorted(p.stem.removeprefix("characterization_") for p in DATA_DIR.glob("characterization_*.json"))
            raise TableError(f"no bundled characterization table for corner {corner!r} (bundled: {', '.join(have) or 'none'}); "
                             "characterize it with `circuitkit snn --characterize --corner ...`")
        path = bundled
    table = CharacterizationTable.read(path)
    table.check_condition(corner=corner)
    return table
