"""The RRAM compact model as Python sees it: parameters, model cards and the same equations.

The Verilog-A file is the single source of truth. Parameter names, defaults, bounds and
scope (model or instance) are read from its `parameter` declarations, units and
descriptions from its header table; `tests/test_device_model.py` proves that the Python
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
from typing import Any, NamedTuple

import numpy as np

from circuitkit.files import write_atomic
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
    # Per state (upper case, e.g. 'LRS'): `StateFit.to_dict()` of `device.distributions`, the
    # chosen resistance distribution model and the fitted alternatives with their goodness
    # of fit. Empty on cards without a distribution fit (and on cards written before it existed).
    distributions: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # `PulseModel.to_dict()` of `device.pulse`: the stochastic 1T1R pulse model (empty if none).
    pulse_model: Mapping[str, Any] = dataclasses.field(default_factory=dict)

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

    def with_values(self, values: Mapping[str, float] | None = None, **fields: Any) -> "ModelCard":
        """A copy with some model/instance values replaced (range-checked) and/or other
        fields (variability, provenance) replaced."""
        merged = {**self.parameters, **self.instance_defaults, **(values or {})}
        kept = {"variability": self.variability, "provenance": self.provenance, "distributions": self.distributions,
                "pulse_model": self.pulse_model}
        return ModelCard.from_values(merged, module=self.module, **(kept | fields))

    def gap_init_expression(self, state: str) -> str:
        """ngspice expression drawing one device's `gap_init` in `state` (e.g. 'lrs') from the
        card's device-to-device spread: `{gap_nom_<state> + agauss(0, sigma_gap_<state>, 1)}`."""
        key = state.lower()
        try:
            nominal = self.variability[f"gap_nom_{key}"]
            sigma = self.variability[f"sigma_gap_{key}"]
        except KeyError:
            known = sorted(k.removeprefix("gap_nom_") for k in self.variability if k.startswith("gap_nom_"))
            raise CircuitkitError(
                f"the model card has no device-to-device spread for state {state!r} (fit a resistance "
                f"distribution: circuitkit fit --kind distribution); states on the card: {', '.join(known) or 'none'}"
            ) from None
        return f"{{{_spice_number(nominal)} + agauss(0, {_spice_number(sigma)}, 1)}}"

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
        """JSON of the card. `parameter_info` (unit, range, scope, description of every
        parameter, from the .va) and `variability_info` (meaning of each variability key)
        are written for the reader and ignored by `load`."""
        specs = parameter_specs(self.module)
        data = dataclasses.asdict(self) | {
            "parameters": dict(self.parameters),
            "parameter_info": {
                name: {"unit": spec.unit, "lower": _json_bound(spec.lower), "upper": _json_bound(spec.upper),
                       "scope": "instance" if spec.instance else "model", "description": spec.description}
                for name, spec in specs.items()
                if name in self.parameters or name in self.instance_defaults
            },
            "variability_info": {key: variability_meaning(key) for key in self.variability},
        }
        for key in ("distributions", "pulse_model"):  # written only when fitted: older cards stay byte-identical
            if not data[key]:
                del data[key]
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def save(self, path: Path | str) -> Path:
        path = write_atomic(path, self.to_json())
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
        card = cls(
            parameters={k: float(v) for k, v in data["parameters"].items()},
            instance_defaults={k: float(v) for k, v in data.get("instance_defaults", {}).items()},
            variability={k: float(v) for k, v in data.get("variability", {}).items()},
            provenance=data.get("provenance", {}),
            module=module,
            distributions=data.get("distributions", {}),
            pulse_model=data.get("pulse_model", {}),
        )
        for state in card.distributions:  # a malformed entry fails here, naming the card
            try:
                card.state_fit(state)
            except CircuitkitError as error:
                raise CircuitkitError(f"model card {path}, distributions[{state!r}]: {error}") from None
        return card

    # ------------------------------------------------------------------ fitted distributions

    @property
    def read_voltage(self) -> float:
        """Read voltage (V) the card's resistances refer to (the fit's, else the default)."""
        return float(self.variability.get("v_read", DEFAULT_READ_VOLTAGE))

    def state_fit(self, state: str):
        """The fitted distribution models of `state` (`device.distributions.StateFit`)."""
        from circuitkit.device.distributions import StateFit

        key = state.upper()
        if key not in self.distributions:
            raise CircuitkitError(f"the model card has no fitted distribution for state {state!r}; states on the "
                                  f"card: {', '.join(self.distributions) or 'none (fit one: circuitkit fit --kind distribution)'}")
        return StateFit.from_dict(self.distributions[key])

    def distribution(self, state: str, kind: str | None = None):
        """The chosen distribution model of `state`, or the alternative `kind`."""
        fit = self.state_fit(state)
        if kind is None:
            return fit.model
        if kind not in fit.models:
            raise CircuitkitError(f"state {state!r} has no {kind!r} model on the card; fitted: {', '.join(fit.models)}"
                                  + (f"; not fitted: {fit.not_fitted}" if fit.not_fitted else ""))
        return fit.models[kind]

    # ------------------------------------------------------------------ equations

    def current(self, voltage: np.ndarray | float, gap: np.ndarray | float, i0_scale: float = 1.0) -> np.ndarray:
        """Device current (A) at V(te,be) = voltage (V) and gap (m); same equation as the .va."""
        p = self.parameters
        return p["i0"] * i0_scale * np.exp(-np.asarray(gap) / p["g0"]) * np.sinh(np.asarray(voltage) / p["v0"])

    def resistance(self, gap: np.ndarray | float, v_read: float | None = None) -> np.ndarray:
        """Read resistance V/I (ohm) of a device with this gap, read at v_read (default: the
        card's read voltage, `read_voltage`)."""
        v_read = self.read_voltage if v_read is None else v_read
        return v_read / self.current(v_read, gap)

    def gap_for_resistance(self, resistance: np.ndarray | float, v_read: float | None = None) -> np.ndarray:
        """Gap (m) whose read resistance at v_read (default: the card's read voltage) is
        `resistance` (inverse of `resistance`)."""
        v_read = self.read_voltage if v_read is None else v_read
        p = self.parameters
        resistance = np.asarray(resistance, dtype=float)
        if np.any(resistance <= 0):
            raise CircuitkitError("resistances must be positive to convert them to gaps")
        return p["g0"] * np.log(resistance * p["i0"] * np.sinh(v_read / p["v0"]) / v_read)

    def gap_rate(self, voltage: np.ndarray | float, gap: np.ndarray | float, temp_c: float = 27.0,
                 i0_scale: float = 1.0) -> np.ndarray:
        """dg/dt (m/s) with self-heating and the bound windows, as in the .va (c2c draws = 0)."""
        return self.rate_function(temp_c, i0_scale)(np.asarray(voltage, dtype=float), np.asarray(gap, dtype=float))

    def rate_constants(self, temp_c: float = 27.0, i0_scale: float = 1.0) -> "RateConstants":
        """The numbers the state equation needs, gathered once (for fast repeated evaluation)."""
        p = self.parameters
        return RateConstants(
            i0=p["i0"] * i0_scale, g0=p["g0"], v0=p["v0"], rth=p["rth"], t_ambient=temp_c + 273.15,
            gamma0=p["gamma0"], beta=p["beta"], alpha=p["alpha"], a0_over_tox=p["a0"] / p["tox"],
            vel0=p["vel0"], ea=p["ea"], gmin=self.value("gmin"), gmax=self.value("gmax"), gwin=p["gwin"],
        )

    def rate_function(self, temp_c: float = 27.0, i0_scale: float = 1.0, scalar: bool = False):
        """`rate(voltage, gap) -> dg/dt (m/s)` with this card's constants bound once.

        `scalar=True` gives the same equations (one code path, `_gap_rate`) on Python
        floats, about 20x cheaper per call than numpy, for ODE solvers that evaluate one
        point at a time; otherwise it takes numpy arrays.
        """
        ops = _SCALAR_OPS if scalar else _ARRAY_OPS
        return functools.partial(_gap_rate, self.rate_constants(temp_c, i0_scale), ops=ops)


class RateConstants(NamedTuple):
    i0: float
    g0: float
    v0: float
    rth: float
    t_ambient: float
    gamma0: float
    beta: float
    alpha: float
    a0_over_tox: float
    vel0: float
    ea: float
    gmin: float
    gmax: float
    gwin: float


class _ScalarOps:
    exp = staticmethod(math.exp)
    sinh = staticmethod(math.sinh)
    maximum = staticmethod(max)

    @staticmethod
    def clip(x: float, low: float, high: float) -> float:
        return low if x < low else high if x > high else x


class _ArrayOps:
    exp = staticmethod(np.exp)
    sinh = staticmethod(np.sinh)
    maximum = staticmethod(np.maximum)
    clip = staticmethod(np.clip)


_SCALAR_OPS = _ScalarOps()
_ARRAY_OPS = _ArrayOps()


def _gap_rate(c: RateConstants, voltage, gap, ops=_ARRAY_OPS):
    """The state equation of rram_hfox.va, written once for floats (`_SCALAR_OPS`) and
    arrays (`_ARRAY_OPS`); `limexp` is taken as exp with its argument clipped at +-80."""
    current = c.i0 * ops.exp(-gap / c.g0) * ops.sinh(voltage / c.v0)
    kt = BOLTZMANN_EV * (c.t_ambient + voltage * current * c.rth)  # eV, i.e. thermal voltage in V
    gamma = ops.maximum(c.gamma0 - c.beta * ops.maximum(gap * 1e9, 0.0) ** c.alpha, 0.0)
    argument = ops.clip(gamma * c.a0_over_tox * voltage / kt, -80.0, 80.0)
    rate0 = c.vel0 * ops.exp(-c.ea / kt)
    u_set = ops.clip((gap - c.gmin) / c.gwin, 0.0, 1.0)
    u_reset = ops.clip((c.gmax - gap) / c.gwin, 0.0, 1.0)
    w_set = u_set * u_set * (3.0 - 2.0 * u_set)
    w_reset = u_reset * u_reset * (3.0 - 2.0 * u_reset)
    return rate0 * 0.5 * (-ops.exp(argument) * w_set + ops.exp(-argument) * w_reset)


# Keys of `ModelCard.variability` (<state> is a state label in lower case, e.g. lrs, hrs):
# written by `circuitkit fit --kind distribution`, read by the Monte Carlo stage, which
# draws gap_init per cell with `ModelCard.gap_init_expression(state)`.
VARIABILITY_KEYS = {
    "v_read": ("V", "read voltage of the resistance distribution the spreads come from"),
    "median_r_<state>": ("ohm", "median read resistance of the cells in <state>"),
    "sigma_lnR_<state>": ("", "standard deviation of ln(R) across the cells in <state> (lognormal spread)"),
    "gap_nom_<state>": ("m", "gap_init whose read resistance is median_r_<state> (ModelCard.gap_for_resistance)"),
    "sigma_gap_<state>": ("m", "device-to-device sigma of gap_init in <state> = sigma_lnR_<state> * g0 "
                               "(ln R is linear in the gap with slope 1/g0)"),
}


def variability_meaning(key: str) -> dict[str, str]:
    """Unit and meaning of a variability key (per-state keys matched by their prefix)."""
    for pattern, (unit, meaning) in VARIABILITY_KEYS.items():
        prefix = pattern.split("<state>")[0]
        if key == pattern or ("<state>" in pattern and key.startswith(prefix) and len(key) > len(prefix)):
            state = key[len(prefix):] if "<state>" in pattern else ""
            return {"unit": unit, "meaning": meaning.replace("<state>", state.upper())}
    return {"unit": "", "meaning": "not a key circuitkit writes"}


def _json_bound(value: float) -> float | str:
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def _spice_number(value: float) -> str:
    return f"{float(value):.10g}"
