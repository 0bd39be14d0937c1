"""The reference netlists committed in `netlists/`: one per generator, default parameters.

`tests/test_netlist_generators.py` regenerates them and fails on any byte of difference,
so a change to a generator (or to the RRAM model's defaults, which the `.model` card
spells out) always shows up in review as a diff of these files. After an intended change,
rewrite them with:

    .venv/bin/python -m circuitkit.netlist.reference
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from circuitkit.netlist import common as c
from circuitkit.netlist.arrays import array, weight_pattern
from circuitkit.netlist.neuron import if_neuron
from circuitkit.netlist.pcsa import ternary_pcsa, two_t_two_r_pcsa, xnor_pcsa
from circuitkit.toolchain import REPO_ROOT

REFERENCE_DIR = REPO_ROOT / "netlists"

REFERENCE_NETLISTS: dict[str, Callable[[], str]] = {
    "2t2r_pcsa.cir": lambda: two_t_two_r_pcsa(+1),
    "ternary_pcsa.cir": lambda: ternary_pcsa(),
    "xnor_pcsa.cir": lambda: xnor_pcsa(),
    "array_4x4.cir": lambda: array(weight_pattern(4, 4, "random", seed=1)),
    "if_neuron.cir": lambda: if_neuron(),
}


def write_reference_netlists(directory: Path | str = REFERENCE_DIR) -> list[Path]:
    """Write every reference netlist into `directory`; return their paths."""
    return [c.write(make(), Path(directory) / name) for name, make in REFERENCE_NETLISTS.items()]


if __name__ == "__main__":
    for path in write_reference_netlists(sys.argv[1] if len(sys.argv) > 1 else REFERENCE_DIR):
        print(path)
