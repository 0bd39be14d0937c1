"""Netlist generators: 2T2R synapses with binary / ternary / XNOR precharge sense amplifiers,
arrays of them, and an integrate-and-fire neuron. Each generator is a plain function with
typed parameters that returns readable ngspice netlist text; each bench kind has a
measurement function that turns a `SimResult` into typed results.

    from circuitkit.netlist import two_t_two_r_pcsa, measure_pcsa_reads
    from circuitkit.spice.runner import run_batch
    text = two_t_two_r_pcsa(+1)
    reads = measure_pcsa_reads(text, run_batch(text))

Monte Carlo: `pcsa_bench([ReadUnit(...), ...])` puts many read units in one netlist.
"""

from circuitkit.netlist.arrays import ArrayRead, WireParasitics, array, measure_array_reads, weight_pattern
from circuitkit.netlist.common import RramStates, SupplyCondition, bench_info, write
from circuitkit.netlist.neuron import NeuronParams, NeuronSizing, NeuronSpikes, if_neuron, measure_neuron
from circuitkit.netlist.pcsa import (
    TERNARY_SUPPLY,
    TERNARY_TIMING,
    PcsaRead,
    PcsaSizing,
    ReadTiming,
    ReadUnit,
    RramDrift,
    measure_pcsa_reads,
    measure_rram_drift,
    pcsa_bench,
    ternary_pcsa,
    two_t_two_r_pcsa,
    xnor_pcsa,
)
from circuitkit.netlist.run import BenchOutcome, simulate

__all__ = [
    "ArrayRead", "BenchOutcome", "NeuronParams", "NeuronSizing", "NeuronSpikes", "PcsaRead", "PcsaSizing",
    "ReadTiming", "ReadUnit", "RramDrift", "RramStates", "SupplyCondition", "TERNARY_SUPPLY", "TERNARY_TIMING",
    "WireParasitics", "array", "bench_info", "if_neuron", "measure_array_reads", "measure_neuron",
    "measure_pcsa_reads", "measure_rram_drift", "pcsa_bench", "simulate", "ternary_pcsa", "weight_pattern",
    "two_t_two_r_pcsa", "write", "xnor_pcsa",
]
