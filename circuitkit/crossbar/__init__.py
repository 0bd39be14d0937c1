"""Analog crossbars: matrix-vector products on multi-level RRAM conductances.

    network = CrossbarNetwork(conductance, card, wires)     # the resistive network, vectorized
    network.currents(inputs)                                 # nonlinear solve (equals ngspice)
    layer = AnalogLinear.program(weights, config, programmer, rng)   # a network layer on tiles
    layer(x, rng)                                            # bit-serial inputs, read noise, ADC

`solver` (the network: wires, cells, the chord-method solve and the linearised transfer
matrix), `layer` (weights to differential conductance pairs programmed by write-verify,
tiles, read noise, drift hook, ADC). The circuit itself, for ngspice, is
`circuitkit.netlist.crossbar.CrossbarReadBench`.
"""

from circuitkit.crossbar.solver import CrossbarNetwork

__all__ = ["CrossbarNetwork"]
