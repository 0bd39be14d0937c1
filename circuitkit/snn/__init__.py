"""Spiking system: a SPIRIT-style single-layer SNN on RRAM synapses and the IF neuron.

- `table`: the characterization table (what the circuit does, with its corner and toolchain).
- `characterize`: produce that table with ngspice from the IF neuron netlist.
- `train`: offline training of integer weights -4..+4 (tanh single layer, then quantized).
- `cells`: the single-level 1T1R cell's error mechanism (stuck cells) and the neuron
  threshold spread, with their provenance.
- `simulate`: event-driven, vectorized simulation of the SNN over a test set and many chips.
- `evaluate`: the cases of the SPIRIT comparison, leakage sweep, energy, plots.
- `cli`: `circuitkit snn`.
"""
