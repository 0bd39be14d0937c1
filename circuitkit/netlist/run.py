"""Netlist files: simulate and measure a netlist that only exists as text.

Inside a process a caller holds the `Bench` it built and measures with it. A file on disk
(`circuitkit netlist KIND -o FILE`, then `circuitkit simulate FILE`) has only its text, so
this module is the one place that reads a generated netlist back: the
`* circuitkit-bench:` header line for what to measure and, for drift, the RRAM
`.model` card. It must not be used on a netlist whose bench is at hand.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from circuitkit import CircuitkitError
from circuitkit.device.model import ModelCard
from circuitkit.netlist import arrays, crossbar, neuron, pcsa
from circuitkit.netlist.common import BENCH_TAG
from circuitkit.netlist.readout import PcsaReads, measure_reads
from circuitkit.spice.runner import SimResult, run_batch


def bench_info(netlist: str) -> dict[str, Any]:
    """The bench description a generator put in the netlist's header."""
    for line in netlist.splitlines()[:10]:
        if line.startswith(BENCH_TAG):
            try:
                info = json.loads(line[len(BENCH_TAG):])
            except json.JSONDecodeError as error:
                raise CircuitkitError(f"unreadable bench description line ({error}): {line[:120]}") from error
            if isinstance(info, dict) and "kind" in info:
                return info
    raise CircuitkitError(
        "this netlist has no '* circuitkit-bench:' line: it was not written by a circuitkit generator "
        "(write one with `circuitkit netlist KIND -o FILE`)"
    )


def card_from_netlist(netlist: str) -> ModelCard:
    """The RRAM model card written in a generated netlist's `.model rram rram_hfox` lines."""
    match = re.search(r"^\.model rram (\w+)\n((?:\+.*\n)*)", netlist, re.MULTILINE)
    if not match:
        raise CircuitkitError("the netlist has no '.model rram ...' card")
    values = dict(re.findall(r"(\w+)=(\S+)", match.group(2)))
    return ModelCard.from_values({k: float(v) for k, v in values.items()}, module=match.group(1))


def measure_netlist(netlist: str, result: SimResult
                    ) -> PcsaReads | arrays.ArrayRead | neuron.NeuronSpikes | crossbar.CrossbarRead:
    """What the bench a netlist file was written from measures, from its header."""
    info = bench_info(netlist)
    kind = info["kind"]
    if kind == arrays.ArrayReadBench.kind:
        return arrays.measure_array(result, info["weights"], info["vdd"], info["t_eval"])
    if kind == crossbar.CrossbarReadBench.kind:
        return crossbar.measure_crossbar(result, info["inputs"], info["cols"])
    if kind == neuron.NeuronBench.kind:
        return neuron.measure_spikes(result, info["vdd"], info["c_mem"], info["v_th"], info["t_refractory"])
    if kind not in pcsa.KINDS:
        raise CircuitkitError(f"unknown bench kind {kind!r} in the netlist's header")
    several = info["reads"] > 1
    return measure_reads(result, {unit["name"]: unit["expected"] for unit in info["units"]}, info["vdd"],
                         info["t_eval"], info["reads"],
                         {unit["name"]: (unit["gap_bl"], unit["gap_blb"]) for unit in info["units"]},
                         card_from_netlist(netlist) if several else None)


@dataclasses.dataclass(frozen=True)
class BenchOutcome:
    """A netlist file's header, its raw simulation result and what its bench measured."""

    info: dict[str, Any]
    result: SimResult
    measured: PcsaReads | arrays.ArrayRead | neuron.NeuronSpikes

    @property
    def kind(self) -> str:
        return self.info["kind"]


def simulate_file(netlist: str, *, workdir: Path | str | None = None, name: str = "bench") -> BenchOutcome:
    """Run `netlist` (text written by a circuitkit generator) in ngspice and measure it."""
    info = bench_info(netlist)  # fails before ngspice on a foreign netlist
    result = run_batch(netlist, workdir=workdir, name=name)
    return BenchOutcome(info, result, measure_netlist(netlist, result))


def _read_lines(reads) -> list[str]:
    lines = []
    for read in reads.values():
        verdict = "ok" if read.correct else "WRONG"
        lines.append(
            f"  {read.name:>8}: read {read.value:+d} (expected {read.expected:+d}, {verdict})  "
            f"Q={read.q_v:.3f} V Qb={read.qb_v:.3f} V  delay={read.delay_s * 1e12:.1f} ps  "
            f"margin={read.margin_v * 1e3:.0f} mV  energy={read.energy_j * 1e15:.2f} fJ"
        )
    return lines


def format_outcome(outcome: BenchOutcome) -> str:
    """Human-readable summary of the measured quantities."""
    info = outcome.info
    head = f"{outcome.kind}: {info['corner']}, {info['vdd']:g} V, {info['temp_c']:g} C"
    measured = outcome.measured
    if isinstance(measured, arrays.ArrayRead):
        lines = [head, f"  read/expected, delay, margin per cell; {measured.errors} error(s)", measured.table()]
    elif isinstance(measured, crossbar.CrossbarRead):
        lines = [head, "  column currents (uA) per input vector:"]
        lines += [f"  vector {v}: " + " ".join(f"{i * 1e6:.4f}" for i in row) for v, row in enumerate(measured.currents)]
    elif isinstance(measured, neuron.NeuronSpikes):
        m = measured
        lines = [
            head,
            f"  spikes: {len(m.positive_s)} positive, {len(m.negative_s)} negative; "
            f"mean synaptic current {m.current_a * 1e9:.2f} nA",
            f"  period {m.period_s * 1e9:.2f} ns (expected max(t_spike + C v_th / I, t_refractory) = "
            f"{m.expected_period_s * 1e9:.2f} ns); spike width {m.spike_width_s * 1e9:.2f} ns",
            f"  first spikes (ns): {', '.join(f'{t * 1e9:.1f}' for t in (*m.positive_s, *m.negative_s)[:6])}",
            f"  largest synaptic read voltage {m.read_voltage_v * 1e3:.1f} mV",
        ]
    elif measured.last:
        lines = [head, f"  first of {info['reads']} reads:", *_read_lines(measured.first),
                 "  last read:", *_read_lines(measured.last), "  RRAM drift over the reads:"]
        lines += [f"  {d.unit:>8} {d.side:>3}: gap {d.gap_before_m * 1e9:.4f} -> {d.gap_after_m * 1e9:.4f} nm, "
                  f"R {d.r_before_ohm:.5g} -> {d.r_after_ohm:.5g} ohm ({d.relative_resistance_change * 100:+.3g} %)"
                  for d in measured.drift]
    else:
        lines = [head, *_read_lines(measured.first)]
    return "\n".join(lines)
