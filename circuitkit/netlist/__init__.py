"""Netlist stage: typed benches (2T2R synapses with binary / ternary / XNOR precharge sense
amplifiers, arrays of them, an integrate-and-fire neuron) that write readable ngspice
netlist text and measure their own simulation results.

    from circuitkit.netlist import two_t_two_r_pcsa
    from circuitkit.operating import OperatingPoint
    bench = two_t_two_r_pcsa(+1, point=OperatingPoint("ss", 0.9, 125.0))
    reads = bench.measure(run_batch(bench.to_netlist()))    # or bench.simulate()

Monte Carlo: `PcsaReadBench([ReadUnit(...), ...], mismatch=True, seed=...)` puts many
read units in one netlist. This stage knows circuits, not statistics: campaigns live in
`circuitkit.corners`.
"""

from circuitkit.netlist.arrays import ArrayRead, ArrayReadBench, WireParasitics, weight_pattern
from circuitkit.netlist.bench import Bench
from circuitkit.netlist.common import RramStates
from circuitkit.netlist.neuron import NeuronBench, NeuronParams, NeuronSizing, NeuronSpikes, if_neuron
from circuitkit.netlist.pcsa import (
    TERNARY_POINT,
    TERNARY_TIMING,
    PcsaReadBench,
    PcsaSizing,
    ReadTiming,
    ReadUnit,
    ternary_pcsa,
    two_t_two_r_pcsa,
    xnor_pcsa,
)
from circuitkit.netlist.readout import PcsaRead, PcsaReads, RramDrift

__all__ = [
    "ArrayRead", "ArrayReadBench", "Bench", "NeuronBench", "NeuronParams", "NeuronSizing", "NeuronSpikes",
    "PcsaRead", "PcsaReadBench", "PcsaReads", "PcsaSizing", "ReadTiming", "ReadUnit", "RramDrift", "RramStates",
    "TERNARY_POINT", "TERNARY_TIMING", "WireParasitics", "if_neuron", "ternary_pcsa", "two_t_two_r_pcsa",
    "weight_pattern", "xnor_pcsa",
]
