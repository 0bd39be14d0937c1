"""The reference netlists committed in `netlists/`: one per generator, default parameters.

`tests/test_netlist_generators.py` regenerates them and fails on any byte of difference,
so a change to a generator (or to the RRAM model's defaults, which the `.model` card
spells out) always shows up in review as a diff of these files. After an intended change,
rewrite them from the repository's root with:

    .venv/bin/python -m circuitkit.netlist.reference netlists
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from circuitkit.netlist.arrays import ArrayReadBench, weight_pattern
from circuitkit.netlist.bench import Bench
from circuitkit.netlist.neuron import if_neuron
from circuitkit.netlist.pcsa import ternary_pcsa, two_t_two_r_pcsa, xnor_pcsa

REFERENCE_NETLISTS: dict[str, Callable[[], Bench]] = {
    "2t2r_pcsa.cir": lambda: two_t_two_r_pcsa(+1),
    "ternary_pcsa.cir": lambda: ternary_pcsa(),
    "xnor_pcsa.cir": lambda: xnor_pcsa(),
    "array_4x4.cir": lambda: ArrayReadBench(weight_pattern(4, 4, "random", seed=1)),
    "if_neuron.cir": lambda: if_neuron(),
}


def write_reference_netlists(directory: Path | str) -> list[Path]:
    """Write every reference netlist into `directory`; return their paths."""
    return [make().write(Path(directory) / name) for name, make in REFERENCE_NETLISTS.items()]


if __name__ == "__main__":
    for path in write_reference_netlists(sys.argv[1] if len(sys.argv) > 1 else "netlists"):
        print(path)
