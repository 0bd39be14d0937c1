"""Simulate a generated netlist and measure it according to the kind of bench it is."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from circuitkit.netlist import arrays, common, neuron, pcsa
from circuitkit.spice.runner import SimResult, run_batch


@dataclasses.dataclass(frozen=True)
class BenchOutcome:
    """A bench's kind, its raw simulation result and what its measurement function made of it."""

    kind: str
    result: SimResult
    measured: Any


def measure(netlist: str, result: SimResult) -> Any:
    """The measurement function of the bench's kind applied to `result`."""
    info = common.bench_info(netlist)
    if info["kind"] == "array":
        return arrays.measure_array_reads(netlist, result)
    if info["kind"] == "if-neuron":
        return neuron.measure_neuron(netlist, result)
    reads = pcsa.measure_pcsa_reads(netlist, result)
    if info["reads"] > 1:
        return {"first": reads, "last": pcsa.measure_pcsa_reads(netlist, result, last=True),
                "drift": pcsa.measure_rram_drift(netlist, result)}
    return reads


def simulate(netlist: str, *, workdir: Path | str | None = None, name: str = "bench") -> BenchOutcome:
    """Run `netlist` (written by a circuitkit generator) in ngspice and measure it."""
    kind = common.bench_info(netlist)["kind"]  # fails before ngspice on a foreign netlist
    result = run_batch(netlist, workdir=workdir, name=name)
    return BenchOutcome(kind, result, measure(netlist, result))


def _read_lines(reads: dict[str, pcsa.PcsaRead]) -> list[str]:
    lines = []
    for read in reads.values():
        verdict = "ok" if read.correct else "WRONG"
        lines.append(
            f"  {read.name:>8}: read {read.value:+d} (expected {read.expected:+d}, {verdict})  "
            f"Q={read.q_v:.3f} V Qb={read.qb_v:.3f} V  delay={read.delay_s * 1e12:.1f} ps  "
            f"margin={read.margin_v * 1e3:.0f} mV  energy={read.energy_j * 1e15:.2f} fJ"
        )
    return lines


def format_outcome(netlist: str, outcome: BenchOutcome) -> str:
    """Human-readable summary of the measured quantities."""
    info = common.bench_info(netlist)
    head = f"{outcome.kind}: {info['corner']}, {info['vdd']:g} V, {info['temp_c']:g} C"
    measured = outcome.measured
    if outcome.kind == "array":
        lines = [head, f"  read/expected, delay, margin per cell; {measured.errors} error(s)", measured.table()]
    elif outcome.kind == "if-neuron":
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
    elif isinstance(measured, dict) and "drift" in measured:
        lines = [head, f"  first of {info['reads']} reads:", *_read_lines(measured["first"]),
                 "  last read:", *_read_lines(measured["last"]), "  RRAM drift over the reads:"]
        lines += [f"  {d.unit:>8} {d.side:>3}: gap {d.gap_before_m * 1e9:.4f} -> {d.gap_after_m * 1e9:.4f} nm, "
                  f"R {d.r_before_ohm:.5g} -> {d.r_after_ohm:.5g} ohm ({d.relative_resistance_change * 100:+.3g} %)"
                  for d in measured["drift"]]
    else:
        lines = [head, *_read_lines(measured)]
    return "\n".join(lines)
