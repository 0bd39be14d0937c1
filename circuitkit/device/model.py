"""The RRAM compact model as Python sees it: parameters, model cards and the same equations.

The Verilog-A file is the single source of truth. Parameter names, defaults, bounds and
scope (model or instance) are read from its `parameter` declarations, units and
descriptions from its header table; `tests/test_rram_model.py` proves that the Python
equations below and the compiled model in ngspice give the same currents.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.toolchain import verilog_a_model

BOLTZMANN_EV = 8.617333262e-5  # eV/K
MODULE = "rram_hfox"
DEFAULT_READ_VOLTAGE = 0.1


@dataclasses.dataclass(frozen=True)
class ParameterSpec:
    """One Verilog-A parameter: default, allowed range, unit, scope."""

    name: str
    default: float
    lower: float
    upper: float
    lower_inclusive: bool
    upper_inclusive: bool
    instance: bool
    unit: str = ""
    description: str = ""

    def check(self, value: float, where: str = "") -> float:
        value = float(value)
        low_ok = value >= self.lower if self.lower_inclusive else value > self.lower
        high_ok = value <= self.upper if self.upper_inclusive else value < self.upper
        if not (math.isfinite(value) and low_ok and high_ok):
            low = "[" if self.lower_inclusive else "("
            high = "]" if self.upper_inclusive else ")"
            raise CircuitkitError(
                f"{where}parameter {self.name}={value!r} is outside its range "
                f"{low}{self.lower:g}, {self.upper:g}{high} {self.unit}".rstrip()
            )
        return value


_DECLARATION = re.compile(
    r"^\s*(\(\*type=\"instance\"\*\)\s*)?parameter\s+real\s+(\w+)\s*=\s*([-+.\deE]+)"
    r"(?:\s+from\s+([\[(])\s*([-+.\deEinf]+)\s*:\s*([-+.\deEinf]+)\s*([\])]))?\s*;",
    re.MULTILINE,
)
_HEADER_ROW = re.compile(r"^//\s+(?:model:|instance:)?\s+(\w+)\s+([-+.\deE]+)\s+(\S+)\s+(.+?)\s*$", re.MULTILINE)


def _number(text: str) -> float:
    return {"inf": math.inf, "-inf": -math.inf}.get(text, None) or float(text)


@functools.cache
def parameter_specs(module: str = MODULE) -> dict[str, ParameterSpec]:
    """Parameter specifications parsed from `verilog-a/<module>.va`, in declaration order."""
    source = verilog_a_model(module).read_text()
    header = {name: (unit, description) for name, _, unit, description in _HEADER_ROW.findall(source)}
    specs = {}
    for instance, name, default, low_bracket, low, high, high_bracket in _DECLARATION.findall(source):
        unit, description = header.get(name, ("", ""))
        specs[name] = ParameterSpec(
            name=name,
            default=float(default),
            lower=_number(low) if low else -math.inf,
            upper=_number(high) if high else math.inf,
            lower_inclusive=low_bracket == "[",
            upper_inclusive=high_bracket == "]",
            instance=bool(instance),
            unit="" if unit == "-" else unit,
            description=description,
        )
    if not specs:
        raise CircuitkitError(f"no parameter declarations found in {verilog_a_model(module)}")
    return specs


def model_parameter_names(module: str = MODULE) -> list[str]:
    return [name for name, spec in parameter_specs(module).items() if not spec.instance]


def instance_parameter_names(module: str = MODULE) -> list[str]:
    return [name for name, spec in parameter_specs(module).items() if spec.instance]


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """Values of the model's parameters, with where they came from.

    `parameters` holds every model-level parameter (defaults filled in); `instance_defaults`
    the nominal instance parameters (e.g. gmin, gmax) that generators put on instance
    lines; `variability` the device-to-device / cycle-to-cycle spread (e.g. lognormal
    sigma of the LRS and HRS resistances) and `provenance` the data file hash, date and fit
    quality of a fitted card.
    """

    parameters: Mapping[str, float]
    instance_defaults: Mapping[str, float] = dataclasses.field(default_factory=dict)
    variability: Mapping[str, float] = dataclasses.field(default_factory=dict)
    provenance: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    module: str = MODULE

    @classmethod
    def default(cls, **overrides: float) -> "ModelCard":
        return cls.from_values(overrides, provenance={"source": f"defaults of verilog-a/{MODULE}.va"})

    @classmethod
    def from_values(cls, values: Mapping[str, float], module: str = MODULE, **fields: Any) -> "ModelCard":
        """A card from a partial mapping of model and instance values; the rest default."""
        specs = parameter_specs(module)
        unknown = sorted(set(values) - set(specs))
        if unknown:
            raise CircuitkitError(f"unknown {module} parameter(s) {', '.join(unknown)}; known: {', '.join(specs)}")
        parameters = {n: specs[n].check(values.get(n, s.default)) for n, s in specs.items() if not s.instance}
        instance = {n: specs[n].check(v) for n, v in values.items() if specs[n].instance}
        instance = {**dict(fields.pop("instance_defaults", {})), **instance}
        return cls(parameters=parameters, instance_defaults=instance, module=module, **fields)

    def value(self, name: str) -> float:
        if name in self.parameters:
            return float(self.parameters[name])
        if name in self.instance_defaults:
            return float(self.instance_defaults[name])
        return parameter_specs(self.module)[name].default

    # ------------------------------------------------------------------ netlist text

    def model_line(self, name: str = "rram") -> str:
        """`.model` card for ngspice with every model parameter written out, so the netlist
        says exactly what was simulated even if the .va defaults change later."""
        specs = parameter_specs(self.module)
        pairs = [f"{key}={_spice_number(self.parameters[key])}" for key in specs if key in self.parameters]
        lines = [f".model {name} {self.module}"]
        for start in range(0, len(pairs), 6):
            lines.append("+ " + " ".join(pairs[start : start + 6]))
        return "\n".join(lines)

    def instance_parameters(self, **values: float | str) -> str:
        """`key=value` text for an instance line: the card's nominal instance values, then
        `values` (numbers, or strings such as '{0.3n + agauss(0, 0.05n, 1)}')."""
        specs = parameter_specs(self.module)
        merged: dict[str, float | str] = {**self.instance_defaults, **values}
        for key, value in merged.items():
            if key not in specs or not specs[key].instance:
                raise CircuitkitError(f"{key!r} is not an instance parameter of {self.module}")
            if not isinstance(value, str):
                specs[key].check(value)
        return " ".join(f"{k}={v if isinstance(v, str) else _spice_number(v)}" for k, v in merged.items())

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self) | {"parameters": dict(self.parameters)}, indent=2, sort_keys=True) + "\n"

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".tmp")
        partial.write_text(self.to_json())
        partial.replace(path)
        return path

    @classmethod
    def load(cls, path: Path | str) -> "ModelCard":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise CircuitkitError(f"cannot read model card {path}: {error}") from error
        if not isinstance(data, dict) or "parameters" not in data:
            raise CircuitkitError(f"model card {path} has no 'parameters' object")
        module = data.get("module", MODULE)
        specs = parameter_specs(module)
        for key, value in {**data["parameters"], **data.get("instance_defaults", {})}.items():
            if key not in specs:
                raise CircuitkitError(f"model card {path}: unknown {module} parameter {key!r}")
            specs[key].check(value, where=f"model card {path}: ")
        return cls(
            parameters={k: float(v) for k, v in data["parameters"].items()},
            instance_defaults={k: float(v) for k, v in data.get("instance_defaults", {}).items()},
            variability={k: float(v) for k, v in data.get("variability", {}).items()},
            provenance=data.get("provenance", {}),
            module=module,
        )

    # ------------------------------------------------------------------ equations

    def current(self, voltage: np.ndarray | float, gap: np.ndarray | float, i0_scale: float = 1.0) -> np.ndarray:
        """Device current (A) at V(te,be) = voltage (V) and gap (m); same equation as the .va."""
        p = self.parameters
        return p["i0"] * i0_scale * np.exp(-np.asarray(gap) / p["g0"]) * np.sinh(np.asarray(voltage) / p["v0"])

    def resistance(self, gap: np.ndarray | float, v_read: float = DEFAULT_READ_VOLTAGE) -> np.ndarray:
        """Read resistance V/I (ohm) of a device with this gap."""
        return v_read / self.current(v_read, gap)

    def gap_for_resistance(self, resistance: np.ndarray | float, v_read: float = DEFAULT_READ_VOLTAGE) -> np.ndarray:
        """Gap (m) whose read resistance at v_read is `resistance` (inverse of `resistance`)."""
        p = self.parameters
        resistance = np.asarray(resistance, dtype=float)
        if np.any(resistance <= 0):
            raise CircuitkitError("resistances must be positive to convert them to gaps")
        return p["g0"] * np.log(resistance * p["i0"] * np.sinh(v_read / p["v0"]) / v_read)

    def gap_rate(self, voltage: np.ndarray | float, gap: np.ndarray | float, temp_c: float = 27.0,
                 i0_scale: float = 1.0) -> np.ndarray:
        """dg/dt (m/s) with self-heating and the bound windows, as in the .va (c2c draws = 0)."""
        p = self.parameters
        voltage = np.asarray(voltage, dtype=float)
        gap = np.asarray(gap, dtype=float)
        gmin = self.value("gmin")
        gmax = self.value("gmax")
        current = self.current(voltage, gap, i0_scale)
        temperature = temp_c + 273.15 + voltage * current * p["rth"]
        kt = BOLTZMANN_EV * temperature  # eV, i.e. thermal voltage in V
        gamma = np.maximum(p["gamma0"] - p["beta"] * np.maximum(gap * 1e9, 0.0) ** p["alpha"], 0.0)
        argument = np.clip(gamma * p["a0"] / p["tox"] * voltage / kt, -80.0, 80.0)
        rate0 = p["vel0"] * np.exp(-p["ea"] / kt)
        w_set = _smoothstep((gap - gmin) / p["gwin"])
        w_reset = _smoothstep((gmax - gap) / p["gwin"])
        return rate0 * 0.5 * (-np.exp(argument) * w_set + np.exp(-argument) * w_reset)


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _spice_number(value: float) -> str:
    return f"{float(value):.10g}"
