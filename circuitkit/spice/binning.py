"""Bin-resolved transistor models: a copy of the PDK's FET library that keeps, for each
device, only the model bins the circuit's transistor sizes can select.

Why: every sky130 FET instance is a subcircuit holding the device's whole set of binned
`.model` cards (48 for `nfet_01v8`, ~5,300 lines), and ngspice copies that body for each
instance while it expands the netlist. In a Monte Carlo batch of a few hundred sense
amplifiers that copying, not the transient, is most of the run time and memory. A sense
amplifier uses two or three sizes; the cards of the other bins are never selected.

What is kept: for every declared (device, W, L), each bin whose *closed* box
[lmin, lmax] x [wmin, wmax] holds the size (so a size on a bin boundary keeps both
neighbours: ngspice 46 puts a `w={param}` W = 1 um `nfet_01v8` in bin 40, not in bin 32,
and keeping only 32 would shift Ion by up to 0.4 % at ss/ff), in the file's order; every
other line of the device's subcircuit (`.param`s with the mismatch AGAUSS, the M line,
`delvto`) verbatim. ngspice then makes the same choice among the same candidates, so a
nominal simulation is bit-identical to one with the full library
(`tests/test_binned_models.py` proves it with `showmod`, DC sweeps and a batch transient).

What changes: the per-instance mismatch draws. ngspice's random stream is consumed while
the model cards are expanded, so fewer cards means other draws: statistically the same
(tested against the PDK's sigma and the full library), not seed-for-seed the same. Going
from one library to the other redraws a Monte Carlo.

`FetSizes` is the declaration a bench writes into its netlist (`* circuitkit-fet-sizes:`)
and the key of the reduced library (`binned_library_name`); `reduce_models` is the pure
text transformation; `binned_library` generates and caches the files from the toolchain's
PDK (`circuitkit.toolchain`, which holds the reduction's version for its fingerprint), and
`circuitkit.spice.deck` wires them into a run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping

from circuitkit import CircuitkitError
from circuitkit import toolchain as tc
from circuitkit.files import write_atomic

# The reduction's version (`circuitkit.toolchain` holds it: the fingerprint names it).
REDUCTION_VERSION = tc.REDUCTION_VERSION
# The netlist line that declares the sizes a bench's transistors use.
FET_SIZES_TAG = "* circuitkit-fet-sizes: "
LIBRARY_PREFIX = "circuitkit_sky130_fet_"
# sky130 model dimensions are in microns (`.option scale=1.0u`), the bins' bounds in metres.
MICRON = 1e-6
# A bin's box is closed; the slack only absorbs the rounding of W * scale in ngspice.
_BOUNDARY_SLACK = 1e-9

_DEVICE_NAME = re.compile(r"[A-Za-z_][\w]*")


class BinningError(CircuitkitError):
    """A transistor size has no model bin, or a declaration cannot be read."""


def _size_number(value: float, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise BinningError(f"{what}={value!r}: expected a finite size > 0 in microns")
    return float(f"{number:.6g}")  # the precision the netlist writes it with


@dataclasses.dataclass(frozen=True, order=True)
class FetSize:
    """One transistor size a circuit uses: the PDK subcircuit and its drawn W and L (um)."""

    device: str
    w_um: float
    l_um: float

    def __post_init__(self) -> None:
        if not isinstance(self.device, str) or not _DEVICE_NAME.fullmatch(self.device):
            raise BinningError(f"FetSize: device={self.device!r}: expected a subcircuit name such as "
                               "sky130_fd_pr__nfet_01v8")
        object.__setattr__(self, "w_um", _size_number(self.w_um, f"{self.device} W"))
        object.__setattr__(self, "l_um", _size_number(self.l_um, f"{self.device} L"))

    def label(self) -> str:
        return f"{self.device} W/L = {self.w_um:g}/{self.l_um:g} um"


@dataclasses.dataclass(frozen=True)
class FetSizes:
    """The set of transistor sizes a bench uses (sorted, without repeats)."""

    sizes: tuple[FetSize, ...]

    def __post_init__(self) -> None:
        sizes = tuple(sorted(set(self.sizes)))
        if not sizes:
            raise BinningError("a bin-resolved library needs at least one transistor size")
        object.__setattr__(self, "sizes", sizes)

    @classmethod
    def of(cls, sizes: Iterable[FetSize | tuple[str, float, float]]) -> "FetSizes":
        return cls(tuple(size if isinstance(size, FetSize) else FetSize(*size) for size in sizes))

    def union(self, other: "FetSizes | Iterable[FetSize]") -> "FetSizes":
        extra = other.sizes if isinstance(other, FetSizes) else tuple(other)
        return FetSizes(self.sizes + extra)

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(size.device for size in self.sizes))

    def of_device(self, device: str) -> tuple[FetSize, ...]:
        return tuple(size for size in self.sizes if size.device == device)

    def declaration(self) -> str:
        """Canonical text, e.g. `sky130_fd_pr__nfet_01v8 W/L 1/0.15 2/0.15; ...`: what a
        netlist declares after `FET_SIZES_TAG` and what the library is keyed by."""
        return "; ".join(f"{device} W/L " + " ".join(f"{s.w_um:g}/{s.l_um:g}" for s in self.of_device(device))
                         for device in self.devices)

    @classmethod
    def parse(cls, text: str) -> "FetSizes":
        """The inverse of `declaration`."""
        sizes = []
        for part in text.strip().split(";"):
            words = part.split()
            if len(words) < 3 or words[1].upper() != "W/L":
                raise BinningError(f"unreadable transistor size declaration {part.strip()!r}: expected "
                                   "'<device> W/L <w>/<l> ...' (microns)")
            for pair in words[2:]:
                w, slash, l = pair.partition("/")
                if not slash:
                    raise BinningError(f"unreadable size {pair!r} of {words[0]}: expected <w>/<l> in microns")
                sizes.append(FetSize(words[0], w, l))
        return cls(tuple(sizes))

    def digest(self) -> str:
        return hashlib.sha256(self.declaration().encode()).hexdigest()[:12]


def binned_library_name(sizes: FetSizes) -> str:
    """The `.lib` file name of the bin-resolved library for `sizes` (the same sections as
    the full library: `tt`, `tt_mm`, ...). It names the size set, not the PDK: the netlist
    text does not depend on where the models are."""
    return f"{LIBRARY_PREFIX}{sizes.digest()}.lib"


# --------------------------------------------------------------------------- the models


@dataclasses.dataclass(frozen=True)
class ModelBin:
    """One binned `.model` card of a device: its name and its box (metres)."""

    name: str
    lmin: float
    lmax: float
    wmin: float
    wmax: float

    def holds(self, size: FetSize) -> bool:
        """Does the closed box hold the size (um, at scale 1u)?"""
        l, w = size.l_um * MICRON, size.w_um * MICRON

        def inside(value: float, low: float, high: float) -> bool:
            return low * (1 - _BOUNDARY_SLACK) <= value <= high * (1 + _BOUNDARY_SLACK)

        return inside(l, self.lmin, self.lmax) and inside(w, self.wmin, self.wmax)

    def describe(self) -> str:
        return (f"{self.name} (W {self.wmin / MICRON:g}-{self.wmax / MICRON:g} um, "
                f"L {self.lmin / MICRON:g}-{self.lmax / MICRON:g} um)")


@dataclasses.dataclass(frozen=True)
class ReducedModels:
    """The reduced model text and, per declared device, the bins it keeps (file order)."""

    text: str
    sizes: FetSizes
    kept: Mapping[str, tuple[ModelBin, ...]]

    def describe(self) -> str:
        return "; ".join(f"{device}: " + ", ".join(b.describe() for b in bins) for device, bins in self.kept.items())


_SUBCKT = re.compile(r"^\s*\.subckt\s+(\S+)", re.IGNORECASE)
_ENDS = re.compile(r"^\s*\.ends\b", re.IGNORECASE)
_MODEL = re.compile(r"^\s*\.model\s+(\S+)", re.IGNORECASE)
_BOUND = re.compile(r"\b(lmin|lmax|wmin|wmax)\s*=\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)", re.IGNORECASE)


def _is_filler(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("*")


def _card_end(lines: list[str], start: int) -> int:
    """Index after the `.model` card starting at `start`: its `+` continuation lines and
    the comments between them (a comment followed by no continuation is not the card's)."""
    end = index = start + 1
    while index < len(lines):
        if lines[index].lstrip().startswith("+"):
            end = index = index + 1
        elif _is_filler(lines[index]):
            index += 1
        else:
            break
    return end


def _bin_of(card: list[str], name: str) -> ModelBin | None:
    """The card's box if it is a binned card (all of lmin, lmax, wmin, wmax are numbers)."""
    bounds: dict[str, float] = {}
    for line in card:
        for key, value in _BOUND.findall(line):
            bounds.setdefault(key.lower(), float(value))
    if len(bounds) < 4:
        return None
    return ModelBin(name, bounds["lmin"], bounds["lmax"], bounds["wmin"], bounds["wmax"])


def _subckt_blocks(lines: list[str]) -> list[tuple[str | None, int, int]]:
    """(subcircuit name or None for top-level text, start, end) spans covering `lines`."""
    blocks: list[tuple[str | None, int, int]] = []
    start, name = 0, None
    for index, line in enumerate(lines):
        if name is None and (match := _SUBCKT.match(line)):
            if index > start:
                blocks.append((None, start, index))
            start, name = index, match.group(1)
        elif name is not None and _ENDS.match(line):
            blocks.append((name, start, index + 1))
            start, name = index + 1, None
    if start < len(lines):
        if name is not None:
            raise BinningError(f"subcircuit {name} has no .ends")
        blocks.append((None, start, len(lines)))
    return blocks


def _dependencies(blocks, lines: list[str], wanted: set[str]) -> set[str]:
    """`wanted` plus every subcircuit of the file a kept subcircuit instantiates (an X line
    naming it), transitively; those are kept whole."""
    defined = {name.lower(): name for name, _, _ in blocks if name}
    keep = {defined[name.lower()] for name in wanted if name.lower() in defined}
    frontier = list(keep)
    while frontier:
        current = frontier.pop()
        for name, start, end in blocks:
            if name != current:
                continue
            for line in lines[start + 1:end]:
                if not line.lstrip()[:1].lower() == "x":
                    continue
                for word in re.findall(r"[\w.]+", line.split("=")[0]):
                    target = defined.get(word.lower())
                    if target and target not in keep:
                        keep.add(target)
                        frontier.append(target)
    return keep


def reduce_models(text: str, sizes: FetSizes, *, source: str = "the model file") -> ReducedModels:
    """The model file `text` with, for each declared device, only the bins a declared size
    of it can select; subcircuits no declared device needs are left out; everything else
    verbatim. Raises `BinningError` naming the size when a declared device is missing or
    a size lies in none of its bins."""
    lines = text.splitlines(keepends=True)
    blocks = _subckt_blocks(lines)
    defined = {name.lower(): name for name, _, _ in blocks if name}
    missing = [device for device in sizes.devices if device.lower() not in defined]
    if missing:
        raise BinningError(f"{source} defines no subcircuit {', '.join(missing)} (transistor sizes declared: "
                           f"{sizes.declaration()})")
    declared = {defined[device.lower()]: sizes.of_device(device) for device in sizes.devices}
    keep = _dependencies(blocks, lines, set(declared))
    out: list[str] = []
    kept: dict[str, tuple[ModelBin, ...]] = {}
    for name, start, end in blocks:
        if name is None:
            out += lines[start:end]
            continue
        if name not in keep:
            continue
        if name not in declared:
            out += lines[start:end]  # a dependency: whole
            continue
        device_sizes = declared[name]
        device_kept: list[ModelBin] = []
        device_bins: list[ModelBin] = []
        index = start
        while index < end:
            match = _MODEL.match(lines[index])
            if not match:
                out.append(lines[index])
                index += 1
                continue
            card_end = min(_card_end(lines, index), end)
            card = lines[index:card_end]
            model_bin = _bin_of(card, match.group(1))
            if model_bin is None or any(model_bin.holds(size) for size in device_sizes):
                out += card
            if model_bin is not None:
                device_bins.append(model_bin)
                if any(model_bin.holds(size) for size in device_sizes):
                    device_kept.append(model_bin)
            index = card_end
        for size in device_sizes:
            if device_bins and not any(b.holds(size) for b in device_kept):
                covered = (f"W {min(b.wmin for b in device_bins) / MICRON:g}-{max(b.wmax for b in device_bins) / MICRON:g}"
                           f" um, L {min(b.lmin for b in device_bins) / MICRON:g}-"
                           f"{max(b.lmax for b in device_bins) / MICRON:g} um")
                raise BinningError(f"{size.label()} lies in no model bin of {source} (its {len(device_bins)} bins "
                                   f"cover {covered}, not every combination)")
        kept[device_sizes[0].device] = tuple(device_kept)
    header = (f"* circuitkit: bin-resolved copy of {source} (reduction v{REDUCTION_VERSION}) for the sizes\n"
              f"*   {sizes.declaration()}\n"
              + "".join(f"* {device} keeps {', '.join(b.describe() for b in bins) or 'all its (unbinned) cards'}\n"
                        for device, bins in kept.items()))
    return ReducedModels(header + "".join(out), sizes, kept)


# --------------------------------------------------------------------------- the library files


@dataclasses.dataclass(frozen=True)
class BinnedLibrary:
    """A bin-resolved corner library (`circuitkit.spice.binning`) for one set of transistor
    sizes: `library` is the `.lib` file (sections as the full library's), `kept` the bins
    each device keeps."""

    library: Path
    sizes: FetSizes
    kept: Mapping[str, tuple[ModelBin, ...]]

    def describe(self) -> str:
        return "; ".join(f"{device}: " + ", ".join(b.describe() for b in bins) for device, bins in self.kept.items())


_SCALE_MICRON = re.compile(r"^\s*\.options?\s+(?:parser\s+)?scale\s*=\s*1(?:\.0*)?u\b", re.IGNORECASE | re.MULTILINE)
_BINNED: dict[tuple[str, str, str], BinnedLibrary] = {}


def binned_library(sizes: FetSizes, models: tc.Sky130Models | None = None) -> BinnedLibrary:
    """The bin-resolved library of `sizes` for the PDK in use (`models`: default, the
    toolchain's), generated on first use and cached like the OSDI files: under
    `<cache>/pdk/binned/<hash of the PDK model files>-<hash of their directory>-r<reduction
    version>/`, named by the size set. A user's PDK is read, never written to. Raises
    `BinningError` naming the size when a size lies in no model bin of the PDK."""
    models = models or tc.toolchain().sky130
    pdk_digest = tc._files_digest(models.directory, tc.SKY130_FET_FILES)
    # The library includes the PDK's other files by absolute path: the same files in another
    # place are another library (else a moved or deleted copy would leave it dangling).
    place = hashlib.sha256(str(models.directory.resolve()).encode()).hexdigest()[:8]
    key = (pdk_digest, place, sizes.declaration())
    if key in _BINNED:
        return _BINNED[key]
    directory = tc.cache_dir() / "pdk" / "binned" / f"{pdk_digest}-{place}-r{REDUCTION_VERSION}"
    library = directory / binned_library_name(sizes)
    record = library.with_suffix(".json")  # written last: its presence marks a complete library
    if library.exists() and record.exists():
        kept = json.loads(record.read_text())["kept"]
    else:
        global_models = models.directory / "models_global.spice"
        if not _SCALE_MICRON.search(global_models.read_text(errors="replace")):
            raise BinningError(f"{global_models} does not set `.option scale=1.0u`: the bin-resolved library "
                               "(and circuitkit's netlists) give transistor sizes in microns")
        source = models.directory / "models_fet.spice"
        reduced = reduce_models(source.read_text(errors="replace"), sizes, source=str(source))
        fet_models = directory / f"models_fet_{sizes.digest()}.spice"
        write_atomic(fet_models, reduced.text)
        tc._write_corner_library(library, models.directory, fet_models,
                              note=f"* Bin-resolved FET models (reduction v{REDUCTION_VERSION}) for the sizes "
                                   f"{sizes.declaration()}\n")
        kept = {device: [dataclasses.asdict(b) for b in bins] for device, bins in reduced.kept.items()}
        write_atomic(record, json.dumps({"sizes": sizes.declaration(), "pdk": str(models.directory),
                                         "reduction": REDUCTION_VERSION, "kept": kept}, indent=1) + "\n")
    binned = BinnedLibrary(library, sizes, {device: tuple(ModelBin(**b) for b in bins) for device, bins in kept.items()})
    _BINNED[key] = binned
    return binned
