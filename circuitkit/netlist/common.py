"""What every bench shares when it writes netlist text: programmed RRAM states, `.param`
blocks (from dataclass fields declared with `netlist_param`), transistor lines, the
process corner and temperature lines, checks of sizes and numbers.

A generated netlist reads top to bottom as: a title and a one-line description of the
bench (`* circuitkit-bench: {...}`, read back only by `circuitkit simulate FILE`), the
parameters (`.param`), the process corner and temperature, the RRAM model card, the
subcircuits, the stimuli, the circuit, the measurements and the analysis. Numbers live
in the `.param` block; element lines refer to them by name.

This module writes text; it never reads a netlist back (`circuitkit.netlist.run` is the
one place that does, for files).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from circuitkit import CircuitkitError, __version__
from circuitkit.device.model import ModelCard, instance_parameter_names
from circuitkit.device.nonideality import CELL_STATES, LITERATURE_HRS, LITERATURE_LRS
from circuitkit.files import write_atomic
from circuitkit.operating import OperatingPoint
from circuitkit.spice.binning import FET_SIZES_TAG, FetSize, FetSizes, binned_library_name
from circuitkit.toolchain import SKY130_LIB_NAME, sky130_section

# Smallest drawn sizes of sky130_fd_pr__nfet_01v8 / pfet_01v8 (microns).
MIN_WIDTH_UM = 0.42
MIN_LENGTH_UM = 0.15

NFET = "sky130_fd_pr__nfet_01v8"
PFET = "sky130_fd_pr__pfet_01v8"
BENCH_TAG = "* circuitkit-bench: "


def check_positive(owner: str, name: str, value: float, unit: str = "", *, allow_zero: bool = False) -> float:
    """`value` as a float if it is a finite positive number (or zero when allowed)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    ok = math.isfinite(number) and (number >= 0 if allow_zero else number > 0)
    if not ok:
        expected = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise CircuitkitError(f"{owner}: {name}={value!r}{' ' + unit if unit else ''}: expected {expected}")
    return number


def check_fields_positive(obj: Any, *, allow_zero: Iterable[str] = ()) -> None:
    """Check every float field of a dataclass with `check_positive`."""
    zero_ok = set(allow_zero)
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            check_positive(type(obj).__name__, field.name, value, allow_zero=field.name in zero_ok)


def check_sizes(obj: Any) -> None:
    """Check a sizing dataclass: every number positive, `w_*` fields at least the sky130
    minimum width, `l_*` fields (but `l_diff`) at least the minimum length (microns)."""
    check_fields_positive(obj, allow_zero=[f.name for f in dataclasses.fields(obj) if f.name.startswith("c_")])
    owner = type(obj).__name__
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if field.name.startswith("w_") and value < MIN_WIDTH_UM:
            raise CircuitkitError(f"{owner}: {field.name}={value!r} um is below the sky130 minimum width {MIN_WIDTH_UM} um")
        if field.name.startswith("l_") and field.name != "l_diff" and value < MIN_LENGTH_UM:
            raise CircuitkitError(
                f"{owner}: {field.name}={value!r} um is below the sky130 1.8 V minimum length {MIN_LENGTH_UM} um"
            )


WEIGHTS = (-1, 0, +1)


def check_weight(weight: int, *, ternary: bool = True, where: str = "weight") -> int:
    allowed = WEIGHTS if ternary else (-1, +1)
    if isinstance(weight, bool) or weight not in allowed:
        raise CircuitkitError(f"{where}={weight!r}: expected one of {', '.join(f'{w:+d}' for w in allowed)}")
    return int(weight)


@dataclasses.dataclass(frozen=True)
class RramStates:
    """What 'LRS' and 'HRS' mean for the generated cells.

    Either read resistances in ohm at the card's read voltage (`unit="ohm"`, the default:
    the medians of the device's default programmed states,
    `device.nonideality.LITERATURE_LRS` / `LITERATURE_HRS`, 10.5 kohm / 85.8 kohm, so a
    netlist's nominal cell is the middle of what campaigns draw) or tunnelling gaps in
    metres (`unit="m"`). `gaps(card)` gives the `gap_init` of each state for a model card;
    `of(device)` the medians of a device's states.
    """

    lrs: float = LITERATURE_LRS.median
    hrs: float = LITERATURE_HRS.median
    unit: str = "ohm"

    @classmethod
    def of(cls, device) -> "RramStates":
        """The medians of a `DeviceNonideality`'s (or `ProgrammedStates`') LRS and HRS."""
        states = getattr(device, "states", device)
        return cls(states.lrs.median, states.hrs.median)

    def __post_init__(self) -> None:
        if self.unit not in ("ohm", "m"):
            raise CircuitkitError(f"RramStates: unit={self.unit!r}: expected 'ohm' (resistances) or 'm' (gaps)")
        check_positive("RramStates", "lrs", self.lrs, self.unit)
        check_positive("RramStates", "hrs", self.hrs, self.unit)
        if self.lrs >= self.hrs:
            what = "resistance" if self.unit == "ohm" else "gap"
            raise CircuitkitError(
                f"RramStates: the LRS {what} ({self.lrs:g} {self.unit}) must be below the HRS {what} "
                f"({self.hrs:g} {self.unit})"
            )

    @classmethod
    def of_card(cls, card: ModelCard) -> "RramStates":
        """The card's nominal programmed states (`gap_nom_lrs` / `gap_nom_hrs` of a fitted
        distribution, inside its bounds), else the default states."""
        v = card.variability
        if "gap_nom_lrs" in v and "gap_nom_hrs" in v:
            return cls(float(v["gap_nom_lrs"]), float(v["gap_nom_hrs"]), unit="m")
        return cls()

    def gaps(self, card: ModelCard, check: bool = True) -> tuple[float, float]:
        """(LRS gap, HRS gap) in metres for this model card, each checked to lie inside the
        card's bounds (`check=False` where a bench has checked the states it uses)."""
        if self.unit == "m":
            pair = (float(self.lrs), float(self.hrs))
        else:
            pair = (float(card.gap_for_resistance(self.lrs)), float(card.gap_for_resistance(self.hrs)))
        for state, gap in zip(("LRS", "HRS"), pair if check else ()):
            card.check_initial_state(gap, where=f"RramStates {state}")
        return pair

    def resistances(self, card: ModelCard, check: bool = True) -> tuple[float, float]:
        """(LRS, HRS) read resistances in ohm for this model card."""
        lrs, hrs = self.gaps(card, check)
        return float(card.resistance(lrs)), float(card.resistance(hrs))


# Weight -> programmed state of the (BL, BLb) devices of a 2T2R synapse: the device's one
# map (`device.nonideality.CELL_STATES`), so netlists program what campaigns draw.
WEIGHT_STATES: Mapping[int, tuple[str, str]] = CELL_STATES


def gap_params(weight: int) -> tuple[str, str]:
    """Netlist parameter names holding the (BL, BLb) `gap_init` of a weight."""
    bl, blb = WEIGHT_STATES[check_weight(weight)]
    return f"gap_{bl}", f"gap_{blb}"


def rram_param_names(side: str, card: ModelCard | None = None) -> list[str]:
    """Subcircuit parameter names carrying the RRAM instance parameters of one device."""
    module = card.module if card else "rram_hfox"
    return [f"{name}_{side}" for name in instance_parameter_names(module)]


def rram_subckt_defaults(sides: Sequence[str], card: ModelCard) -> str:
    """`name=value` defaults of the per-device subcircuit parameters (the card's nominal
    instance values; `gap_init` defaults to the HRS parameter)."""
    pairs = []
    for side in sides:
        for name in instance_parameter_names(card.module):
            value = "{gap_hrs}" if name == "gap_init" else spice_number(card.value(name))
            pairs.append(f"{name}_{side}={value}")
    return " ".join(pairs)


def rram_instance_line(instance: str, te: str, be: str, side: str, card: ModelCard, model: str = "rram") -> str:
    """RRAM instance whose every instance parameter comes from the subcircuit parameter
    `<name>_<side>`, so that each copy of the subcircuit can get its own values."""
    params = " ".join(f"{name}={{{name}_{side}}}" for name in instance_parameter_names(card.module))
    return f"{instance} {te} {be} {model} {params}"


def instance_overrides(side: str, values: Mapping[str, float | str], card: ModelCard, where: str = "") -> list[str]:
    """`<name>_<side>=value` pairs for an X line, checked against the model's instance
    parameters (numbers are range-checked, a numeric gap_init against its bounds, naming
    `where`; strings such as '{agauss(1, 0.1, 1)}' pass)."""
    card.instance_parameters(where=where, **values)  # CircuitkitError on unknown names / bad numbers / states
    return [f"{name}_{side}={value if isinstance(value, str) else spice_number(value)}" for name, value in values.items()]


_SMALL_SUFFIXES = ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "u"))


def spice_number(value: float) -> str:
    """A number for a netlist: 6 significant digits, SPICE suffixes f/p/n/u for small values
    (2e-15 -> '2f', 1e-09 -> '1n'), plain otherwise."""
    value = float(value)
    magnitude = abs(value)
    if 1e-15 <= magnitude < 1e-3:
        scale, suffix = max((s for s in _SMALL_SUFFIXES if s[0] <= magnitude * (1 + 1e-12)), key=lambda s: s[0])
        return f"{value / scale:.6g}{suffix}"
    return f"{value:.6g}"


def netlist_param(name: str, comment: str, default: Any) -> Any:
    """A dataclass field that a bench writes into its `.param` block as `name`, after a
    `* comment` line (see `netlist_params`)."""
    return dataclasses.field(default=default, metadata={"netlist": name, "comment": comment})


ParamEntry = tuple[str, "float | str", str]


def netlist_params(obj: Any, derived: Mapping[str, Sequence[ParamEntry]] | None = None) -> list[ParamEntry]:
    """`(netlist name, value, comment)` of every field of the dataclass `obj` declared with
    `netlist_param`, in field order; `derived[field]` entries (expressions of other
    parameters) follow that field's own entry."""
    entries: list[ParamEntry] = []
    for field in dataclasses.fields(obj):
        if "netlist" in field.metadata:
            entries.append((field.metadata["netlist"], getattr(obj, field.name), field.metadata["comment"]))
        entries.extend((derived or {}).get(field.name, ()))
    return entries


def param_lines(params: Sequence[ParamEntry]) -> list[str]:
    """`.param name=value` lines, each with its comment line (`(name, value, comment)`)."""
    lines = []
    for name, value, comment in params:
        if comment:
            lines.append(f"* {comment}")
        text = value if isinstance(value, str) else spice_number(value)
        lines.append(f".param {name}={text}")
    return lines


class FetLine(str):
    """A transistor line (`fet_line`): the text, plus the PDK device and the names of the
    parameters holding its width and length, so a bench can say which sizes it uses
    (`fet_sizes`) without reading its text back."""

    device: str
    width: str
    length: str


def fet_line(name: str, drain: str, gate: str, source: str, body: str, kind: str, width: str,
             length: str = "l_min", multiplier: str | None = None) -> FetLine:
    """A sky130 1.8 V transistor whose width and length are netlist parameters; drain and
    source diffusions are `l_diff` long (junction area and perimeter from the width).
    `multiplier` (a parameter name) puts that many identical devices in parallel (`m=`),
    which is how mirror ratios are made: sky130 devices of different widths differ in
    threshold, so a 10:1 width ratio does not give a 10:1 current ratio."""
    model = {"n": NFET, "p": PFET}[kind]
    line = (
        f"X{name} {drain} {gate} {source} {body} {model} w={{{width}}} l={{{length}}} "
        f"ad={{{width}*l_diff}} as={{{width}*l_diff}} pd={{2*({width}+l_diff)}} ps={{2*({width}+l_diff)}}"
    )
    fet = FetLine(line + (f" m={{{multiplier}}}" if multiplier else ""))
    fet.device, fet.width, fet.length = model, width, length
    return fet


def fet_sizes(lines: Iterable[str], params: Sequence[ParamEntry]) -> FetSizes:
    """The (device, W, L) of every transistor among `lines` (those made by `fet_line`),
    with W and L taken from the `.param` entries `params`: what a bin-resolved library
    must hold for the netlist (`circuitkit.spice.binning`)."""
    values = {name: value for name, value, _ in params}
    sizes = []
    for line in lines:
        if not isinstance(line, FetLine):
            continue
        size = []
        for role, name in (("width", line.width), ("length", line.length)):
            value = values.get(name)
            if isinstance(value, str) or value is None:
                raise CircuitkitError(f"transistor line {line.split()[0]}: its {role} parameter {name!r} is "
                                      f"{'an expression' if value else 'not among the parameters'}; a bin-resolved "
                                      "library needs the number")
            size.append(value)
        sizes.append(FetSize(line.device, *size))
    return FetSizes(tuple(sizes))


def wrap_words(first: str, items: Sequence[str], width: int = 100) -> list[str]:
    """`first item item ...` split into SPICE continuation lines (`+ ...`) of at most `width`."""
    lines, current = [], first
    for item in items:
        if len(current) + 1 + len(item) > width and current not in (first, "+"):
            lines.append(current)
            current = "+"
        current += " " + item
    return lines + [current]


def section(title: str) -> list[str]:
    return ["", f"* ---- {title} " + "-" * max(4, 72 - len(title))]


def header(title: str, generator: str, info: Mapping[str, Any]) -> list[str]:
    """Title, provenance and the machine-readable bench description."""
    return [
        f"* {title}",
        f"* generated by circuitkit {__version__} ({generator}); change the generator, not this file",
        BENCH_TAG + json.dumps(info, sort_keys=True, separators=(",", ":")),
    ]


def process_lines(point: OperatingPoint, mismatch: bool, card: ModelCard,
                  fet_sizes: FetSizes | None = None) -> list[str]:
    """The corner library section (with the PDK's per-instance mismatch if `mismatch`),
    the temperature and the RRAM `.model` card. With `fet_sizes`, the bin-resolved copy
    of the library that keeps only the model bins of those sizes (declared on the line
    above it, where `circuitkit.spice.deck` finds them); else the PDK's full library."""
    what = f"* sky130 FET models, {point.corner} corner" + (" with per-instance mismatch" if mismatch else "")
    section_name = sky130_section(point.corner, mismatch)
    if fet_sizes is None:
        library = [what, f".lib {SKY130_LIB_NAME} {section_name}"]
    else:
        library = [what + ", only the model bins these transistor sizes select (W/L in um):",
                   FET_SIZES_TAG + fet_sizes.declaration(),
                   f".lib {binned_library_name(fet_sizes)} {section_name}"]
    return [
        *section("process corner, temperature, RRAM model"),
        *library,
        f".temp {point.temp_c:g}",
        "* HfOx RRAM (verilog-a/rram_hfox.va): te/be, V(te,be) > 0 SETs",
        card.model_line("rram"),
    ]


def options_lines(seed: int | None, options: Mapping[str, float | str] | None) -> list[str]:
    lines = []
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 1:
            raise CircuitkitError(f"seed={seed!r}: expected a positive integer")
        lines.append(f".options seed={seed}")
    if options:
        for key, value in options.items():
            if not re.fullmatch(r"[A-Za-z_]\w*", str(key)):
                raise CircuitkitError(f"ngspice option name {key!r} is not a plain word")
            lines.append(f".options {key}={value if isinstance(value, str) else spice_number(value)}")
    return lines


def finish(lines: list[str]) -> str:
    text = "\n".join(lines).rstrip("\n") + "\n.end\n"
    return re.sub(r"\n{3,}", "\n\n", text)


def write(netlist: str, path: Path | str) -> Path:
    """Write netlist text to `path` (parent directories created, atomic replace)."""
    return write_atomic(path, netlist)


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
