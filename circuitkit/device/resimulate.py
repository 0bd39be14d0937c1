"""Re-run a measurement's stimulus in ngspice with a model card: the simulator's verdict on a fit.

The Python integration (`device.simulate`) is only a fast stand-in during fitting; these
functions apply the same stimuli to the compiled rram_hfox.va in ngspice (OSDI):

- `ngspice_sweep`: the measured (time, voltage) points as one PWL source;
- `ngspice_pulses`: one device and one PWL pulse per table row, in chunks run in parallel;
- `ngspice_read`: one device per cell, read at DC (the model pins its state to gap_init
  at DC), with gap_init given as numbers or as expressions such as
  `{2e-10 + agauss(0, 1.2e-11, 1)}` drawn by ngspice itself (`setseed`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from circuitkit.device.model import ModelCard
from circuitkit.device.simulate import DEFAULT_EDGE_FRACTION, SweepSimulation, pulse_waveform
from circuitkit.spice.deck import prepare_deck
from circuitkit.spice.runner import run_batch

MODEL_NAME = "rram_fit"
_NM = 1e-9


def _number(value: float) -> str:
    return f"{float(value):.12g}"


def pwl_source(name: str, node: str, time: Sequence[float], voltage: Sequence[float], per_line: int = 8) -> str:
    """`V<name> node 0 PWL(...)` with `+` continuation lines (ngspice has a line-length limit)."""
    pairs = [f"{_number(t)} {_number(v)}" for t, v in zip(time, voltage)]
    lines = [f"V{name} {node} 0 PWL("]
    lines += ["+ " + " ".join(pairs[k : k + per_line]) for k in range(0, len(pairs), per_line)]
    lines.append("+ )")
    return "\n".join(lines)


def sweep_netlist(card: ModelCard, time: np.ndarray, voltage: np.ndarray, gap_init: float, temp_c: float = 27.0,
                  **instance: float | str) -> str:
    steps = np.diff(time)
    return "\n".join([
        "* circuitkit fit: the measured sweep applied to the fitted rram_hfox card",
        f".temp {_number(temp_c)}",
        card.model_line(MODEL_NAME),
        pwl_source("1", "te", time, voltage),
        f"N1 te 0 {MODEL_NAME} {card.instance_parameters(where='device N1', gap_init=gap_init, **instance)}",
        f".tran {_number(float(np.median(steps)))} {_number(time[-1])} {_number(time[0])}",
        ".end",
    ]) + "\n"


def ngspice_sweep(card: ModelCard, time: np.ndarray, voltage: np.ndarray, gap_init: float, *,
                  temp_c: float = 27.0, timeout: float = 600.0, **instance: float | str) -> SweepSimulation:
    """Current and gap from ngspice at the given time points (PWL corners are ngspice breakpoints).
    `instance` adds instance parameters (e.g. c2c_set=0.3) to the device line."""
    time = np.asarray(time, dtype=float)
    voltage = np.asarray(voltage, dtype=float)
    result = run_batch(sweep_netlist(card, time, voltage, gap_init, temp_c, **instance), name="sweep",
                       timeout=timeout)
    current = np.interp(time, result["time"], -result["i(v1)"])
    gap = gap_init + np.interp(time, result["time"], result["v(n1#dgap)"]) * _NM
    return SweepSimulation(time, voltage, current, gap)


def pulses_netlist(card: ModelCard, amplitude, width, gap_before, temp_c: float = 27.0,
                   edge_fraction: float = DEFAULT_EDGE_FRACTION, instance: Sequence[Mapping[str, float]] | None = None
                   ) -> str:
    lines = ["* circuitkit fit: one device per pulse-table row, each with its own pulse",
             f".temp {_number(temp_c)}", card.model_line(MODEL_NAME)]
    end = 0.0
    for k, (a, w, g) in enumerate(zip(amplitude, width, gap_before)):
        t, v = pulse_waveform(a, w, edge_fraction)
        end = max(end, t[-1])
        extra = instance[k] if instance is not None else {}
        lines.append(pwl_source(f"p{k}", f"p{k}", t, v))
        lines.append(f"N{k} p{k} 0 {MODEL_NAME} {card.instance_parameters(where=f'device N{k}', **(card.instance_for_gap(g) | extra))}")
    lines += [f".tran {_number(end / 200)} {_number(end * 1.001)}", ".end"]
    return "\n".join(lines) + "\n"


def ngspice_pulses(card: ModelCard, amplitude: np.ndarray, width: np.ndarray, gap_before: np.ndarray, *,
                   temp_c: float = 27.0, edge_fraction: float = DEFAULT_EDGE_FRACTION, chunk: int = 50,
                   workers: int | None = None, timeout: float = 600.0,
                   instance: Sequence[Mapping[str, float]] | None = None,
                   workdir: Path | str | None = None) -> np.ndarray:
    """Gap (m) after each row's pulse, simulated by ngspice (rows in chunks, chunks in parallel).
    `instance[k]` adds instance parameters (e.g. c2c draws) to row k's device."""
    amplitude, width, gap_before = (np.asarray(x, dtype=float) for x in np.broadcast_arrays(amplitude, width, gap_before))
    starts = range(0, len(amplitude), chunk)
    netlists = [pulses_netlist(card, amplitude[s : s + chunk], width[s : s + chunk], gap_before[s : s + chunk],
                               temp_c, edge_fraction, instance[s : s + chunk] if instance is not None else None)
                for s in starts]
    deck = prepare_deck(netlists[0])  # compile once, before any thread needs the .osdi

    def run(start_and_netlist):
        start, netlist = start_and_netlist
        where = None if workdir is None else Path(workdir)
        result = run_batch(netlist, deck=deck, name=f"pulses_{start // chunk:04d}", timeout=timeout, workdir=where)
        n = min(chunk, len(amplitude) - start)
        return [result[f"v(n{k}#dgap)"][-1] for k in range(n)]

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        moved = [value for part in pool.map(run, zip(starts, netlists)) for value in part]
    return gap_before + np.asarray(moved) * _NM


def read_netlist(card: ModelCard, gap_init: Sequence[float | str], v_read: float, temp_c: float = 27.0,
                 seed: int | None = None, raw_name: str = "read.raw") -> str:
    """One device per cell at DC. A drawn gap (an expression) is the parameter of a small
    subcircuit, evaluated once per device, so the device's bounds can follow it where it
    falls beyond the card's: a device-to-device draw is a device whose saturation gap lies
    there (`ModelCard.instance_for_gap`); a draw below gap 0 is held at 0."""
    lines = ["* circuitkit fit: one device per cell, read at DC", f".temp {_number(temp_c)}",
             card.model_line(MODEL_NAME), f".param vread={_number(v_read)}"]
    if any(isinstance(gap, str) for gap in gap_init):
        gmin, gmax = _number(card.value("gmin")), _number(card.value("gmax"))
        drawn = {"gap_init": "{gap}", "gmin": f"{{min({gmin}, gap)}}", "gmax": f"{{max({gmax}, gap)}}"}
        lines += [".subckt drawn_rram te be gap=0",
                  f"N1 te be {MODEL_NAME} {card.instance_parameters(**drawn)}", ".ends drawn_rram"]
    for k, gap in enumerate(gap_init):
        lines.append(f"Vr{k} r{k} 0 vread")
        if isinstance(gap, str):
            lines.append(f"XN{k} r{k} 0 drawn_rram gap={{max({gap.strip('{}')}, 0)}}")
        else:
            state = card.instance_for_gap(gap, f"device N{k}")
            lines.append(f"N{k} r{k} 0 {MODEL_NAME} {card.instance_parameters(where=f'device N{k}', **state)}")
    if seed is not None:  # redraw agauss() under a known seed
        lines += [".control", f"setseed {int(seed)}", "reset", "op", "set filetype=binary", f"write {raw_name}", ".endc"]
    else:
        lines.append(".op")
    lines.append(".end")
    return "\n".join(lines) + "\n"


def ngspice_read(card: ModelCard, gap_init: Sequence[float | str], *, v_read: float = 0.1, temp_c: float = 27.0,
                 seed: int | None = None, timeout: float = 600.0, chunk: int = 500,
                 workdir: Path | str | None = None) -> np.ndarray:
    """Read resistance (ohm) of one device per entry of `gap_init` (numbers in m, or expressions),
    `chunk` devices per ngspice run (tens of thousands in one deck crash ngspice). Chunk k
    draws its agauss() values under seed + k. With `workdir` every deck stays on disk there."""
    values = list(gap_init)
    resistance = []
    for k, start in enumerate(range(0, len(values), chunk)):
        part = values[start : start + chunk]
        name = f"read_{k:03d}"
        netlist = read_netlist(card, part, v_read, temp_c, None if seed is None else seed + k, f"{name}.raw")
        where = None if workdir is None else Path(workdir)
        result = run_batch(netlist, name=name, timeout=timeout, workdir=where)
        current = -np.array([result[f"i(vr{j})"][0] for j in range(len(part))])
        resistance.append(v_read / current)
    return np.concatenate(resistance) if resistance else np.empty(0)


SAFER_EDGE_FRACTION = 1e-2


def one_t_one_r_netlist(card: ModelCard, transistor, v_wl, v_bl, v_sl, width, gap_before, temp_c: float = 27.0,
                        edge_fraction: float = DEFAULT_EDGE_FRACTION, safer: bool = False) -> str:
    """One 1T1R cell per row: bit line - RRAM (te -> be) - node x - access transistor (drain x,
    source on the source line, bulk 0), word line held, the pulsed line(s) as PWL pulses."""
    lines = ["* circuitkit fit: 1T1R pulses with the fitted card and the sky130 access transistor",
             f".lib circuitkit_sky130_fet.lib {transistor.corner}", f".temp {_number(temp_c)}",
             card.model_line(MODEL_NAME)]
    if safer:  # gear, looser tolerances and edges of 1 % of the width: a steep card (large gamma0) hitting
        # an LRS cell with 3 V in 20 ps stops on "timestep too small" at the edge; the edge's extra switching
        # is small against the plateau's (the comparison with the plateau-only Python model allows for it)
        lines.append(".options method=gear reltol=1e-3 itl4=100")
        edge_fraction = max(edge_fraction, SAFER_EDGE_FRACTION)
    end = 0.0
    for k, (wl, bl, sl, w, g) in enumerate(zip(v_wl, v_bl, v_sl, width, gap_before)):
        end = max(end, w * (1 + 2 * edge_fraction))
        lines.append(f"Vwl{k} wl{k} 0 {_number(wl)}")
        for name, value in (("bl", bl), ("sl", sl)):
            if value == 0:
                lines.append(f"V{name}{k} {name}{k} 0 0")
            else:
                t, v = pulse_waveform(value, w, edge_fraction)
                lines.append(pwl_source(f"{name}{k}", f"{name}{k}", t, v))
        lines.append(f"N{k} bl{k} x{k} {MODEL_NAME} {card.instance_parameters(where=f'device N{k}', **card.instance_for_gap(g))}")
        lines.append(f"XM{k} x{k} wl{k} sl{k} 0 {transistor.device} w={transistor.w_um:g} l={transistor.l_um:g}")
    lines += [f".tran {_number(end / 400)} {_number(end)}", ".end"]
    return "\n".join(lines) + "\n"


def ngspice_1t1r_pulses(card: ModelCard, transistor, v_wl, v_bl, v_sl, width, gap_before, *, temp_c: float = 27.0,
                        chunk: int = 20, workers: int | None = None, timeout: float = 600.0,
                        workdir: Path | str | None = None, safer: bool = False) -> np.ndarray:
    """Gap (m) after each row's 1T1R pulse, simulated by ngspice with the real transistor
    model (rows sorted by width into chunks, chunks run in parallel)."""
    arrays = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (v_wl, v_bl, v_sl, width, gap_before)))
    order = np.argsort(arrays[3], kind="stable")
    v_wl, v_bl, v_sl, width, gap_before = (a[order] for a in arrays)
    starts = list(range(0, len(width), chunk))
    netlists = [one_t_one_r_netlist(card, transistor, v_wl[s:s + chunk], v_bl[s:s + chunk], v_sl[s:s + chunk],
                                    width[s:s + chunk], gap_before[s:s + chunk], temp_c, safer=safer)
                for s in starts]
    deck = prepare_deck(netlists[0])

    def run(item):
        index, netlist = item
        where = None if workdir is None else Path(workdir)
        result = run_batch(netlist, deck=deck, name=f"one_t_one_r_{index:04d}", timeout=timeout, workdir=where)
        n = min(chunk, len(width) - starts[index])
        return [result[f"v(n{k}#dgap)"][-1] for k in range(n)]

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        moved = np.asarray([v for part in pool.map(run, enumerate(netlists)) for v in part])
    gap_after = np.empty_like(gap_before)
    gap_after[order] = gap_before + moved * _NM
    return gap_after
