"""Turn a circuit netlist into something ngspice can run: OSDI models and PDK paths wired in.

Netlists stay free of machine paths: they name Verilog-A models by module
(`.model rram rram_hfox ...`) and the PDK by its corner library
(`.lib circuitkit_sky130_fet.lib tt`). `prepare_deck` compiles the Verilog-A modules the
netlist uses and returns the ngspice start-up commands (`.spiceinit`) that load them and
put the PDK directory on ngspice's `sourcepath`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from circuitkit import toolchain as tc

_MODEL_LINE = re.compile(r"^\s*\.model\s+\S+\s+([A-Za-z_][\w]*)", re.IGNORECASE | re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Deck:
    """A netlist plus the ngspice commands that must run before it is parsed, and the
    ngspice binary the toolchain resolved (and records) for running it."""

    netlist: str
    init_commands: tuple[str, ...]
    osdi_files: tuple[Path, ...]
    ngspice: Path = Path("ngspice")

    def spiceinit(self) -> str:
        return "\n".join(self.init_commands) + "\n"


def verilog_a_modules_used(netlist: str) -> list[str]:
    """Modules among circuitkit's Verilog-A models that `.model` lines refer to."""
    available = {path.stem.lower() for path in tc.verilog_a_models()}
    used = []
    for module in _MODEL_LINE.findall(netlist):
        if module.lower() in available and module.lower() not in used:
            used.append(module.lower())
    return used


def prepare_deck(netlist: str) -> Deck:
    """Compile the Verilog-A models `netlist` uses and build its start-up commands."""
    toolchain = tc.toolchain()
    osdi_files = tuple(tc.compile_va(tc.verilog_a_model(module)) for module in verilog_a_modules_used(netlist))
    commands = [
        # The sky130 models use HSPICE-style expressions.
        "set ngbehavior=hsa",
        # ngspice is built with OpenMP: by default it loads the BSIM4 devices on several
        # threads, whose futex hand-offs cost ~3x the whole run for the small circuits we
        # simulate (and fight the process pool for cores). One thread per ngspice process.
        "set num_threads=1",
        f"set sourcepath=( {toolchain.sky130.library_dir} )",
        # `osdi` (not `pre_osdi`, which only exists inside .control blocks) loads a model
        # before the netlist is parsed when it runs from .spiceinit.
        *(f"osdi {path}" for path in osdi_files),
    ]
    return Deck(netlist=netlist, init_commands=tuple(commands), osdi_files=osdi_files, ngspice=toolchain.ngspice)
