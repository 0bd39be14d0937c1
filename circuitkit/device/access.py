"""The 1T1R access transistor as a fast surrogate of its sky130 I-V, extracted from ngspice.

A pulse on a 1T1R cell drives the series of the RRAM and its access transistor: the word
line sets the transistor's gate and so the compliance current; the cell voltage is what
the transistor leaves (`device.pulse` solves I_rram(V_cell, gap) = I_fet(...)). Fitting
needs that I-V millions of times, so it is tabulated once from the PDK's own BSIM4 model
in ngspice and interpolated:

- the drain current Id(Vgs, Vds, Vsb) with the bulk at 0 V (SET: source on the grounded
  source line, Vsb = 0; RESET: the source is the node between transistor and cell,
  Vsb = the cell voltage: the body effect is in the table);
- stored as h = ln(Id / Vds), which is smooth in all three voltages (linear in Vgs below
  threshold, finite as Vds -> 0), interpolated trilinearly: Id = Vds exp(h);
- grid: Vgs -0.5..3.6 V (50 mV), Vds 0.02..3.6 V (20 mV; below 20 mV the channel
  conductance Id/Vds is held), Vsb 0..3 V (0.1 V);
- extracted with the bin-resolved copy of the PDK's library (`circuitkit.spice.binning`)
  that keeps only the model bins the transistor's size can select: the same currents
  (the bin ngspice picks is among those kept), without copying ~50 unused cards;
- cached under the toolchain cache (`<cache>/access/<key>.npz`) keyed by the device, its
  W/L, the corner, the temperature, the grid and the toolchain fingerprint's ngspice and
  PDK entries (the binary's and the model files' hashes, and the bin reduction's version).
  `tests/test_access.py` proves table and ngspice agree.

The default device is the thick-oxide `sky130_fd_pr__nfet_g5v0d10v5` (the array's word line
goes to 3.4 V and its bit line to 3 V, beyond the 1.8 V core devices' rating), W = 1 um,
L = 0.5 um (the device's minimum length; the width is a settable choice, not a property
the data reveal: `--fet-width`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import math
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError
from circuitkit import toolchain as tc
from circuitkit.files import write_atomic
from circuitkit.operating import Corner
from circuitkit.spice.binning import FET_SIZES_TAG, FetSizes, binned_library_name

DEFAULT_DEVICE = "sky130_fd_pr__nfet_g5v0d10v5"
DEFAULT_W_UM = 1.0
DEFAULT_L_UM = 0.5
# Drawn sizes each device allows (um), from the PDK's model bins.
SIZE_LIMITS = {DEFAULT_DEVICE: ((0.42, 1000.0), (0.5, 20.0)), "sky130_fd_pr__nfet_01v8": ((0.42, 100.0), (0.15, 100.0))}
VGS = (-0.5, 3.6, 0.05)  # start, stop, step (V)
VDS = (0.02, 3.6, 0.02)
VSB = (0.0, 3.0, 0.1)
GRID_VERSION = 1


@dataclasses.dataclass(frozen=True)
class AccessTransistor:
    """Which transistor, how large, at which corner and temperature."""

    device: str = DEFAULT_DEVICE
    w_um: float = DEFAULT_W_UM
    l_um: float = DEFAULT_L_UM
    corner: str = "tt"
    temp_c: float = 27.0

    def __post_init__(self):
        Corner.parse(self.corner)
        limits = SIZE_LIMITS.get(self.device)
        if limits is None:
            raise CircuitkitError(f"unknown access transistor {self.device!r}; known: {', '.join(SIZE_LIMITS)}")
        (w_low, w_high), (l_low, l_high) = limits
        if not (w_low <= self.w_um <= w_high and l_low <= self.l_um <= l_high):
            raise CircuitkitError(f"{self.device}: W = {self.w_um} um, L = {self.l_um} um is outside the model's "
                                  f"range (W {w_low}-{w_high} um, L {l_low}-{l_high} um)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data) -> "AccessTransistor":
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})

    def describe(self) -> str:
        return f"{self.device} W/L = {self.w_um:g}/{self.l_um:g} um, {self.corner}, {self.temp_c:g} C"


def _axis(spec: tuple[float, float, float]) -> np.ndarray:
    start, stop, step = spec
    return start + step * np.arange(int(round((stop - start) / step)) + 1)


@dataclasses.dataclass(frozen=True)
class FetTable:
    """Tabulated drain current of one access transistor (bulk at 0 V)."""

    transistor: AccessTransistor
    log_conductance: np.ndarray  # h = ln(Id/Vds) [ln(A/V)] on (vsb, vgs, vds)
    key: str

    def drain_current(self, v_gate, v_drain, v_source) -> np.ndarray:
        """Current (A) into the drain and out of the source, terminal voltages to ground;
        drain and source swap roles when v_drain < v_source (the current is then negative)."""
        vg, vd, vs = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (v_gate, v_drain, v_source)))
        forward = vd >= vs
        low = np.where(forward, vs, vd)
        high = np.where(forward, vd, vs)
        vds = high - low
        current = vds * np.exp(self._h(np.maximum(low, 0.0), vg - low, vds))
        return np.where(forward, current, -current)

    def _h(self, vsb, vgs, vds):
        grids = (VSB, VGS, VDS)
        index, weight = [], []
        for value, (start, stop, step) in zip((vsb, vgs, vds), grids):
            count = int(round((stop - start) / step)) + 1
            position = np.clip((value - start) / step, 0.0, count - 1.0)
            base = np.minimum(np.floor(position).astype(np.intp), count - 2)
            index.append(base)
            weight.append(position - base)
        (i, j, k), (a, b, c) = index, weight
        t = self.log_conductance
        result = 0.0
        for di, wi in ((0, 1 - a), (1, a)):
            for dj, wj in ((0, 1 - b), (1, b)):
                for dk, wk in ((0, 1 - c), (1, c)):
                    result = result + wi * wj * wk * t[i + di, j + dj, k + dk]
        return result


def fet_sizes(transistor: AccessTransistor) -> FetSizes:
    """The one transistor size the extraction uses: its bin-resolved library keeps only the
    model bins that size can select (`circuitkit.spice.binning`)."""
    return FetSizes.of([(transistor.device, transistor.w_um, transistor.l_um)])


def library_lines(transistor: AccessTransistor) -> list[str]:
    """The size declaration and the `.lib` line of the transistor's bin-resolved library."""
    sizes = fet_sizes(transistor)
    return [FET_SIZES_TAG + sizes.declaration(), f".lib {binned_library_name(sizes)} {transistor.corner}"]


def table_key(transistor: AccessTransistor) -> str:
    # The toolchain fingerprint names the ngspice binary and the PDK files with the version
    # of the bin reduction the extraction's library went through.
    fingerprint = tc.toolchain().fingerprint()
    parts = [transistor.device, f"{transistor.w_um:.6g}", f"{transistor.l_um:.6g}", transistor.corner,
             f"{transistor.temp_c:.6g}", str((VGS, VDS, VSB, GRID_VERSION)), fingerprint["ngspice"],
             fingerprint["pdk"], binned_library_name(fet_sizes(transistor))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def extraction_netlist(transistor: AccessTransistor) -> str:
    """ngspice deck sweeping Vds and Vgs for every Vsb of the grid (one plot per Vsb)."""
    lines = [f"* circuitkit: I-V table of the access transistor {transistor.describe()}",
             *library_lines(transistor), f".temp {transistor.temp_c:g}",
             "Vbody b 0 0", "Vsrc s b 0", "Vgate g s 0", "Vdrain d s 0",
             f"XM1 d g s b {transistor.device} w={transistor.w_um:g} l={transistor.l_um:g}",
             ".control", "set filetype=binary", "set appendwrite"]
    for vsb in _axis(VSB):
        lines += [f"alter vsrc dc = {vsb:.6g}",
                  f"dc vdrain {VDS[0]:g} {VDS[1]:g} {VDS[2]:g} vgate {VGS[0]:g} {VGS[1]:g} {VGS[2]:g}",
                  "write access.raw"]
    lines += ["quit", ".endc", ".end"]
    return "\n".join(lines) + "\n"


def extract_table(transistor: AccessTransistor) -> np.ndarray:
    """h = ln(Id/Vds) on the grid, from ngspice (about 15 s)."""
    import tempfile

    from circuitkit.spice.rawfile import read_raw
    from circuitkit.spice.runner import run_batch

    with tempfile.TemporaryDirectory(prefix="circuitkit-access-") as tmp:
        run_batch(extraction_netlist(transistor), workdir=tmp, name="access", timeout=900)
        plots = read_raw(Path(tmp) / "access.raw")
    vgs, vds, vsb = _axis(VGS), _axis(VDS), _axis(VSB)
    if len(plots) != len(vsb):
        raise CircuitkitError(f"access-transistor extraction: expected {len(vsb)} DC sweeps from ngspice, got "
                              f"{len(plots)}")
    table = np.empty((len(vsb), len(vgs), len(vds)))
    for k, plot in enumerate(plots):
        current = -np.asarray(plot.vectors["i(vdrain)"], dtype=float)  # into the drain
        if current.size != len(vgs) * len(vds):
            raise CircuitkitError(f"access-transistor extraction: sweep {k} has {current.size} points, expected "
                                  f"{len(vgs) * len(vds)}")
        grid = current.reshape(len(vgs), len(vds))  # outer sweep (vgate) slowest
        table[k] = np.log(np.maximum(grid, 1e-18) / vds)
    return table


@functools.cache
def fet_table(transistor: AccessTransistor = AccessTransistor()) -> FetTable:
    """The surrogate of `transistor`: from the cache, or extracted with ngspice and cached."""
    key = table_key(transistor)
    path = tc.cache_dir() / "access" / f"{key}.npz"
    if path.exists():
        try:
            with np.load(path) as stored:
                table = stored["log_conductance"]
            if table.shape == (len(_axis(VSB)), len(_axis(VGS)), len(_axis(VDS))):
                return FetTable(transistor, table, key)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is extracted again
    table = extract_table(transistor)
    buffer = io.BytesIO()
    np.savez(buffer, log_conductance=table, transistor=str(transistor.to_dict()))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, buffer.getvalue())
    return FetTable(transistor, table, key)


def ngspice_drain_current(transistor: AccessTransistor, v_gate, v_drain, v_source) -> np.ndarray:
    """The same currents from ngspice directly (one transistor per point, one DC operating
    point): the reference the surrogate is tested against."""
    from circuitkit.spice.runner import run_batch

    vg, vd, vs = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (v_gate, v_drain, v_source))
    lines = [f"* circuitkit: access transistor at given terminal voltages", *library_lines(transistor),
             f".temp {transistor.temp_c:g}"]
    for k, (g, d, s) in enumerate(zip(vg, vd, vs)):
        lines += [f"Vg{k} g{k} 0 {g:.9g}", f"Vd{k} d{k} 0 {d:.9g}", f"Vs{k} s{k} 0 {s:.9g}",
                  f"XM{k} d{k} g{k} s{k} 0 {transistor.device} w={transistor.w_um:g} l={transistor.l_um:g}"]
    lines += [".op", ".end"]
    result = run_batch("\n".join(lines) + "\n", name="access_check")
    return -np.array([float(np.asarray(result[f"i(vd{k})"]).ravel()[0]) for k in range(len(vg))])
