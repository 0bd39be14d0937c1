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
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from circuitkit.files import write_atomic
from circuitkit import CircuitkitError
from circuitkit.toolchain import verilog_a_model

BOLTZMANN_EV = 1.3806503e-23 / 1.602176462e-19  # eV/K: `P_K/`P_Q of OpenVAF's constants.vams (CODATA 1998), as the .va sees them
MODULE = "rram_hfox"
DEFAULT_READ_VOLTAGE = 0.1
STATE_TOLERANCE = 1e-15  # m: the .va's slack on gmin <= gap_init <= gmax (a netlist's number rounding)
# Model parameters a card written before they existed lacks, with the values that switch
# their effect off (the card's equations stay those it was fitted with): state-independent
# sinh shape and no thermal activation of the current, no series resistance, no field
# threshold. `ModelCard.load` fills them in and says so.
LEGACY_VALUES = {"g_h": 0.0, "eac": 0.0, "tnom": 27.0, "rs": 0.0, "fmin_set": 0.0, "fmin_reset": 0.0}


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
    # `RelaxationModel.to_dict()` of `device.relaxation`: drift and widening of the states
    # with time after programming and temperature (empty if none; `relaxation_model()`).
    relaxation: Mapping[str, Any] = dataclasses.field(default_factory=dict)

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
                "pulse_model": self.pulse_model, "relaxation": self.relaxation}
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

    def instance_parameters(self, where: str = "", **values: float | str) -> str:
        """`key=value` text for an instance line: the card's nominal instance values, then
        `values` (numbers, or strings such as '{0.3n + agauss(0, 0.05n, 1)}'). A numeric
        gap_init is checked against the device's numeric bounds (`check_initial_state`,
        naming `where`, e.g. the instance) before any netlist holds it."""
        specs = parameter_specs(self.module)
        merged: dict[str, float | str] = {**self.instance_defaults, **values}
        for key, value in merged.items():
            if key not in specs or not specs[key].instance:
                raise CircuitkitError(f"{key!r} is not an instance parameter of {self.module}")
            if not isinstance(value, str):
                specs[key].check(value, where=f"{where}: " if where else "")
        state = {key: merged.get(key, self.value(key)) for key in ("gap_init", "gmin", "gmax")}
        if "gap_init" in merged and not any(isinstance(v, str) for v in state.values()):
            self.check_initial_state(state["gap_init"], state["gmin"], state["gmax"], where)
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
        for key in ("distributions", "pulse_model", "relaxation"):  # only when fitted: older cards stay byte-identical
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
        missing = [key for key in LEGACY_VALUES if key in specs and key not in data["parameters"]]
        if missing and module == MODULE:
            data["parameters"] = dict(data["parameters"]) | {key: LEGACY_VALUES[key] for key in missing}
            print(f"note: model card {path} predates the parameters {', '.join(missing)}; they take the values that "
                  f"switch their effects off ({', '.join(f'{k}={LEGACY_VALUES[k]:g}' for k in missing)})",
                  file=sys.stderr)
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
            relaxation=data.get("relaxation", {}),
        )
        for state in card.distributions:  # a malformed entry fails here, naming the card
            try:
                card.state_fit(state)
            except CircuitkitError as error:
                raise CircuitkitError(f"model card {path}, distributions[{state!r}]: {error}") from None
        try:
            card.relaxation_model()
        except CircuitkitError as error:
            raise CircuitkitError(f"model card {path}, relaxation: {error}") from None
        return card

    def relaxation_model(self):
        """The card's fitted `device.relaxation.RelaxationModel`, or None (no retention fit)."""
        if not self.relaxation:
            return None
        from circuitkit.device.relaxation import RelaxationModel

        return RelaxationModel.from_dict(self.relaxation)

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
    #
    # The equations of rram_hfox.va, once, in `_core_current` and `_gap_rate` below (see the
    # .va header for the physics and its sources). Voltages called `voltage` are terminal
    # voltages V(te, be); `v_core` is the voltage across the switching core behind the series
    # resistance rs (they are equal when rs = 0). Temperatures are ambient, in Celsius.

    def conduction_constants(self, temp_c: float = 27.0, i0_scale: float = 1.0) -> "ConductionConstants":
        p = self.value
        return ConductionConstants(i0=p("i0") * i0_scale, g0=p("g0"), v0=p("v0"), g_h=p("g_h"),
                                   theta_exponent=p("eac") / BOLTZMANN_EV * (1.0 / (temp_c + 273.15)
                                                                             - 1.0 / (p("tnom") + 273.15)),
                                   rs=p("rs"))

    def core_current(self, v_core: np.ndarray | float, gap: np.ndarray | float, i0_scale: float = 1.0,
                     temp_c: float = 27.0) -> np.ndarray:
        """Current (A) through the switching core at core voltage `v_core` (V) and gap (m)."""
        return _core_current(self.conduction_constants(temp_c, i0_scale), np.asarray(v_core, dtype=float),
                             np.asarray(gap, dtype=float))

    def core_voltage(self, voltage: np.ndarray | float, gap: np.ndarray | float, i0_scale: float = 1.0,
                     temp_c: float = 27.0) -> np.ndarray:
        """Voltage across the switching core when `voltage` lies across the terminals:
        v + rs * I(v) = voltage (Newton, monotone from above; exact when rs = 0)."""
        return _core_voltage(self.conduction_constants(temp_c, i0_scale), np.asarray(voltage, dtype=float),
                             np.asarray(gap, dtype=float))

    def current(self, voltage: np.ndarray | float, gap: np.ndarray | float, i0_scale: float = 1.0,
                temp_c: float = 27.0) -> np.ndarray:
        """Device current (A) at V(te,be) = voltage (V) and gap (m); same equations as the .va."""
        c = self.conduction_constants(temp_c, i0_scale)
        voltage, gap = np.asarray(voltage, dtype=float), np.asarray(gap, dtype=float)
        return _core_current(c, _core_voltage(c, voltage, gap), gap)

    def local_field(self, voltage: np.ndarray | float, gap: np.ndarray | float, i0_scale: float = 1.0,
                    temp_c: float = 27.0, *, core: bool = False) -> np.ndarray:
        """Local field (V/m) gam(g) v_core / tox that moves the ions at V(te,be) = voltage
        (`core=True`: `voltage` is already the switching core's, as `rate_function(core=True)`
        takes it): positive towards SET, negative towards RESET; nothing moves while it stays
        between -fmin_reset and fmin_set (the field thresholds)."""
        constants = self.rate_constants(temp_c, i0_scale)
        voltage, gap = np.asarray(voltage, dtype=float), np.asarray(gap, dtype=float)
        v_core = voltage if core else _core_voltage(constants.conduction, voltage, gap)
        return _local_field(constants, v_core, gap)

    def resistance(self, gap: np.ndarray | float, v_read: float | None = None, temp_c: float = 27.0) -> np.ndarray:
        """Read resistance V/I (ohm) of a device with this gap, read at v_read (default: the
        card's read voltage, `read_voltage`) and ambient temperature temp_c."""
        v_read = self.read_voltage if v_read is None else v_read
        return v_read / self.current(v_read, gap, temp_c=temp_c)

    def gap_for_resistance(self, resistance: np.ndarray | float, v_read: float | None = None,
                           temp_c: float = 27.0) -> np.ndarray:
        """Gap (m) whose read resistance at v_read (default: the card's read voltage) is
        `resistance` (inverse of `resistance`: Newton on ln R, which is close to linear in
        the gap with slope 1/g0)."""
        v_read = self.read_voltage if v_read is None else v_read
        resistance = np.asarray(resistance, dtype=float)
        if np.any(~(resistance > 0)) or np.any(~np.isfinite(resistance)):
            raise CircuitkitError("resistances must be positive finite numbers to convert them to gaps")
        c = self.conduction_constants(temp_c)
        if c.rs > 0 and np.any(resistance <= c.rs):
            raise CircuitkitError(f"a read resistance of {float(np.min(resistance)):.6g} ohm is not above the model's "
                                  f"series resistance rs = {c.rs:.6g} ohm: no gap reads it")
        target = np.log(resistance)

        def ln_r(gap):
            return np.log(v_read / _core_current(c, _core_voltage(c, np.full_like(gap, v_read), gap), gap))

        # start: the low-field, no-series-resistance inverse
        gap = c.g0 * (target + np.log(c.i0 / c.v0)) + 0.0 * target
        step = 1e-3 * c.g0
        for _ in range(60):
            value = ln_r(gap)
            slope = (ln_r(gap + step) - value) / step
            update = (value - target) / np.maximum(slope, 1e-3 / c.g0)
            gap = gap - update
            if np.all(np.abs(value - target) < 1e-13):
                return gap
        raise CircuitkitError("the gap of a read resistance did not converge (a card far outside the usual range?)")

    def check_initial_state(self, gap_init: float, gmin: float | None = None, gmax: float | None = None,
                            where: str = "") -> float:
        """`gap_init` (m), checked to lie inside the device's bounds [gmin, gmax] (the card's
        nominal instance values unless given): a CircuitkitError naming `where` and the values
        otherwise. The .va stops ngspice for the same reason; this says it before any netlist
        is written."""
        gmin = self.value("gmin") if gmin is None else float(gmin)
        gmax = self.value("gmax") if gmax is None else float(gmax)
        gap_init = float(gap_init)
        prefix = f"{where}: " if where else ""
        if not gmin < gmax:
            raise CircuitkitError(f"{prefix}gmin = {gmin:.6g} m must lie below gmax = {gmax:.6g} m")
        if not gmin - STATE_TOLERANCE <= gap_init <= gmax + STATE_TOLERANCE:
            side = "below gmin" if gap_init < gmin else "above gmax"
            raise CircuitkitError(
                f"{prefix}gap_init = {gap_init:.6g} m (read resistance {float(self.resistance(gap_init)):.6g} ohm) "
                f"lies {side}: the device's bounds are [gmin, gmax] = [{gmin:.6g}, {gmax:.6g}] m "
                f"({float(self.resistance(gmin)):.6g} .. {float(self.resistance(gmax)):.6g} ohm); a programmed "
                "state must lie inside them (give this device its own bounds, or use a card whose bounds hold it)")
        return gap_init

    def instance_for_gap(self, gap: float, where: str = "") -> dict[str, float]:
        """Instance values of one device at `gap` (m): its gap_init and, when the state lies
        beyond the card's nominal bounds, its own bound there (device-to-device spread of the
        saturation gaps: a cell found beyond gmax is a cell whose RESET saturates further
        out; its dynamics are unchanged, since the window is shut beyond a bound either way).
        A found or drawn state is then always inside its bounds; a hand-given gap_init
        outside them still fails `check_initial_state`."""
        gap = float(gap)
        if gap < 0:
            raise CircuitkitError(f"{where + ': ' if where else ''}gap {gap:.6g} m: the model cannot hold a state "
                                  f"below gap 0 (read resistance {float(self.resistance(0.0)):.6g} ohm at the card's "
                                  "read voltage)")
        values = {"gap_init": gap}
        if gap > self.value("gmax"):
            values["gmax"] = gap
        if gap < self.value("gmin"):
            values["gmin"] = gap
        return values

    def programmed_instance(self, resistance: float, v_read: float | None = None, where: str = "") -> dict[str, float]:
        """`instance_for_gap` of a device read at `resistance` ohm (e.g. a Monte Carlo draw).

        A draw more conductive than the closed gap (below `resistance(0)`; the real mixtures'
        low tails reach there) is a device with a wider filament: gap 0 and the current factor
        `i0_scale` > 1 that reads `resistance`. At gap 0 the conduction is ohmic (h(0) = 0),
        so R = rs + (R(0) - rs) / i0_scale holds exactly."""
        gap = float(self.gap_for_resistance(resistance, v_read))
        if gap >= 0:
            return self.instance_for_gap(gap, where)
        rs = self.conduction_constants().rs
        closed = float(self.resistance(0.0, v_read))
        return self.instance_for_gap(0.0, where) | {"i0_scale": (closed - rs) / (float(resistance) - rs)}

    def gap_rate(self, voltage: np.ndarray | float, gap: np.ndarray | float, temp_c: float = 27.0,
                 i0_scale: float = 1.0, rate_scale: float = 1.0) -> np.ndarray:
        """dg/dt (m/s) at terminal voltage `voltage`, with self-heating and the bound windows,
        as in the .va (c2c draws = 0)."""
        return self.rate_function(temp_c, i0_scale, rate_scale=rate_scale)(np.asarray(voltage, dtype=float),
                                                                          np.asarray(gap, dtype=float))

    def rate_constants(self, temp_c: float = 27.0, i0_scale: float = 1.0, rate_scale: float = 1.0) -> "RateConstants":
        """The numbers the state equation needs, gathered once (for fast repeated evaluation)."""
        p = self.value
        return RateConstants(
            conduction=self.conduction_constants(temp_c, i0_scale), rth=p("rth"), t_ambient=temp_c + 273.15,
            gamma0=p("gamma0"), beta=p("beta"), alpha=p("alpha"), a0=p("a0"), tox=p("tox"),
            vel0=p("vel0") * rate_scale, ea=p("ea"), fmin_set=p("fmin_set"), fmin_reset=p("fmin_reset"),
            gmin=p("gmin"), gmax=p("gmax"), gwin=p("gwin"),
        )

    def rate_function(self, temp_c: float = 27.0, i0_scale: float = 1.0, scalar: bool = False, *,
                      rate_scale: float = 1.0, core: bool = False):
        """`rate(voltage, gap) -> dg/dt (m/s)` with this card's constants bound once.

        `voltage` is the terminal voltage V(te, be), or with `core=True` the voltage across
        the switching core (callers that solved the series resistance themselves).
        `scalar=True` gives the same equations (one code path, `_gap_rate`) on Python
        floats, about 20x cheaper per call than numpy, for ODE solvers that evaluate one
        point at a time; otherwise it takes numpy arrays.
        """
        ops = _SCALAR_OPS if scalar else _ARRAY_OPS
        constants = self.rate_constants(temp_c, i0_scale, rate_scale)
        if core or constants.conduction.rs == 0:
            return functools.partial(_gap_rate, constants, ops=ops)

        def rate(voltage, gap):
            return _gap_rate(constants, _core_voltage(constants.conduction, voltage, gap, ops), gap, ops)

        return rate


class ConductionConstants(NamedTuple):
    i0: float  # A, times i0_scale
    g0: float
    v0: float
    g_h: float
    theta_exponent: float  # eac/k (1/T - 1/Tnom): ln theta = -h * theta_exponent
    rs: float


class RateConstants(NamedTuple):
    conduction: ConductionConstants
    rth: float
    t_ambient: float
    gamma0: float
    beta: float
    alpha: float
    a0: float
    tox: float
    vel0: float  # m/s, times rate_scale
    ea: float
    fmin_set: float
    fmin_reset: float
    gmin: float
    gmax: float
    gwin: float


class _ScalarOps:
    exp = staticmethod(math.exp)
    sinh = staticmethod(math.sinh)
    cosh = staticmethod(math.cosh)
    maximum = staticmethod(max)
    abs = staticmethod(abs)

    @staticmethod
    def clip(x: float, low: float, high: float) -> float:
        return low if x < low else high if x > high else x

    @staticmethod
    def where(condition, a, b):
        return a if condition else b


class _ArrayOps:
    exp = staticmethod(np.exp)
    sinh = staticmethod(np.sinh)
    cosh = staticmethod(np.cosh)
    maximum = staticmethod(np.maximum)
    abs = staticmethod(np.abs)
    clip = staticmethod(np.clip)
    where = staticmethod(np.where)


_SCALAR_OPS = _ScalarOps()
_ARRAY_OPS = _ArrayOps()
_SMALL_U = 1e-4  # below it sinh(u)/u is taken as 1 + u^2/6 (as in the .va)


def _share(c: ConductionConstants, gap, ops=_ARRAY_OPS):
    """h(g) = 1 - exp(-max(g, 0)/g_h): the tunnelling/hopping share of the conduction (1 when g_h = 0)."""
    if c.g_h <= 0:
        return 1.0 + 0.0 * gap
    return 1.0 - ops.exp(-ops.maximum(gap, 0.0) / c.g_h)


def _core_factors(c: ConductionConstants, v_core, gap, ops=_ARRAY_OPS):
    """(K, u): I = K * (v/v0) * sinh(u)/u and dI/dv = K * cosh(u)/v0, with K the low-field
    amplitude i0 exp(-g/g0) theta and u = h v / v0."""
    share = _share(c, gap, ops)
    amplitude = c.i0 * ops.exp(-gap / c.g0 - share * c.theta_exponent)
    return amplitude, share * v_core / c.v0


def _core_current(c: ConductionConstants, v_core, gap, ops=_ARRAY_OPS):
    """I = i0 exp(-g/g0) theta (v/v0) sinhc(h v/v0) of rram_hfox.va (theta = exp(-h eac/k (1/T - 1/Tnom)))."""
    amplitude, u = _core_factors(c, v_core, gap, ops)
    if ops is _SCALAR_OPS:
        shape = 1.0 + u * u / 6.0 if abs(u) < _SMALL_U else math.sinh(u) / u
    else:
        small = np.abs(u) < _SMALL_U
        safe = np.where(small, 1.0, u)
        shape = np.where(small, 1.0 + u * u / 6.0, np.sinh(safe) / safe)
    return amplitude * (v_core / c.v0) * shape


def _core_voltage(c: ConductionConstants, voltage, gap, ops=_ARRAY_OPS, iterations: int = 60):
    """Solve v + rs I(v) = voltage for v: I is odd and convex in v > 0, so Newton from
    |voltage| falls monotonically onto the root (v = voltage when rs = 0)."""
    if c.rs <= 0:
        return voltage
    if ops is _SCALAR_OPS:
        target = abs(voltage)
        v = target
        for _ in range(iterations):
            amplitude, u = _core_factors(c, v, gap, ops)
            residual = v + c.rs * _core_current(c, v, gap, ops) - target
            v_next = v - residual / (1.0 + c.rs * amplitude * math.cosh(u) / c.v0)
            if abs(v_next - v) <= 1e-15 * max(target, 1e-30):
                v = v_next
                break
            v = v_next
        return math.copysign(v, voltage)
    voltage, gap = np.broadcast_arrays(np.asarray(voltage, dtype=float), np.asarray(gap, dtype=float))
    target = np.abs(voltage)
    v = target.copy()
    for _ in range(iterations):
        amplitude, u = _core_factors(c, v, gap)
        residual = v + c.rs * _core_current(c, v, gap) - target
        v_next = v - residual / (1.0 + c.rs * amplitude * np.cosh(u) / c.v0)
        done = np.all(np.abs(v_next - v) <= 1e-15 * np.maximum(target, 1e-30))
        v = v_next
        if done:
            break
    return np.copysign(v, voltage)


def _motion(x, ops=_ARRAY_OPS):
    """S(x) = 2 sinh(x/2)^2 of the over-threshold argument, x clipped to [0, 80] (as in the .va)."""
    x = ops.clip(x, 0.0, 80.0)
    half = ops.exp(0.5 * x) - ops.exp(-0.5 * x)
    return 0.5 * half * half


def _local_field(c: RateConstants, v_core, gap, ops=_ARRAY_OPS):
    """F = gam(g) v / tox with the field enhancement gam = max(gamma0 - beta (g/1 nm)^alpha, 0)."""
    gamma = ops.maximum(c.gamma0 - c.beta * ops.maximum(gap * 1e9, 0.0) ** c.alpha, 0.0)
    return gamma * v_core / c.tox


def _gap_rate(c: RateConstants, v_core, gap, ops=_ARRAY_OPS):
    """The state equation of rram_hfox.va at core voltage `v_core`, written once for floats
    (`_SCALAR_OPS`) and arrays (`_ARRAY_OPS`)."""
    current = _core_current(c.conduction, v_core, gap, ops)
    kt = BOLTZMANN_EV * (c.t_ambient + v_core * current * c.rth)  # eV, i.e. thermal voltage in V
    field = _local_field(c, v_core, gap, ops)
    s_set = _motion(c.a0 * (field - c.fmin_set) / kt, ops)
    s_reset = _motion(c.a0 * (-field - c.fmin_reset) / kt, ops)
    rate0 = c.vel0 * ops.exp(-c.ea / kt)
    u_set = ops.clip((gap - c.gmin) / c.gwin, 0.0, 1.0)
    u_reset = ops.clip((c.gmax - gap) / c.gwin, 0.0, 1.0)
    w_set = u_set * u_set * (3.0 - 2.0 * u_set)
    w_reset = u_reset * u_reset * (3.0 - 2.0 * u_reset)
    return rate0 * (-w_set * s_set + w_reset * s_reset)


# Keys of `ModelCard.variability` (<state> is a state label in lower case, e.g. lrs, hrs):
# written by `circuitkit fit --kind distribution`, read by the Monte Carlo stage, which
# draws gap_init per cell with `ModelCard.gap_init_expression(state)`.
VARIABILITY_KEYS = {
    "v_read": ("V", "read voltage of the resistance distribution the spreads come from"),
    "median_r_<state>": ("ohm", "median read resistance of the cells in <state>"),
    "sigma_lnR_<state>": ("", "standard deviation of ln(R) across the cells in <state> (lognormal spread)"),
    "gap_nom_<state>": ("m", "gap_init whose read resistance is median_r_<state> (ModelCard.gap_for_resistance)"),
    "sigma_gap_<state>": ("m", "device-to-device sigma of gap_init in <state> = sigma_lnR_<state> * dg/d(ln R) "
                               "at the median (g0 at low field, where ln R is linear in the gap with slope 1/g0)"),
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
