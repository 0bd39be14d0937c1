"""Spiking system: a SPIRIT-style single-layer SNN on RRAM synapses and the IF neuron.

- `table`: the characterization table (what the circuit does, with its corner and toolchain).
- `characterize`: produce that table with ngspice from the IF neuron netlist.
- `train`: offline training of integer weights -4..+4 (tanh single layer, then quantized).
- `simulate`: event-driven, vectorized simulation of the SNN over a test set and many chips.
- `cli`: `circuitkit snn`.
"""
