"""Turn a circuit netlist into something ngspice can run: OSDI models and PDK paths wired in.

Netlists stay free of machine paths: they name Verilog-A models by module
(`.model rram rram_hfox ...`) and the PDK by its corner library
(`.lib circuitkit_sky130_fet.lib tt`, or a bin-resolved copy for the transistor sizes the
netlist declares: `* circuitkit-fet-sizes: ...` then `.lib circuitkit_sky130_fet_<digest>.lib
tt`). `prepare_deck` compiles the Verilog-A modules the netlist uses, makes sure the
bin-resolved library exists (`circuitkit.spice.binning.binned_library`), and returns the
ngspice start-up commands (`.spiceinit`) that load the models and put the library
directories on ngspice's `sourcepath`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from circuitkit import CircuitkitError
from circuitkit import toolchain as tc
from circuitkit.spice.binning import (FET_SIZES_TAG, LIBRARY_PREFIX, BinnedLibrary, FetSizes, binned_library,
                                      binned_library_name)

_MODEL_LINE = re.compile(r"^\s*\.model\s+\S+\s+([A-Za-z_][\w]*)", re.IGNORECASE | re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Deck:
    """A netlist plus the ngspice commands that must run before it is parsed, and the
    ngspice binary the toolchain resolved (and records) for running it."""

    netlist: str
    init_commands: tuple[str, ...]
    osdi_files: tuple[Path, ...]
    ngspice: Path = Path("ngspice")
    fet_library: BinnedLibrary | None = None  # the bin-resolved library the netlist loads, if any

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


_BINNED_LIB_LINE = re.compile(rf"^\s*\.lib\s+\"?({LIBRARY_PREFIX}\w+\.lib)\"?\s", re.IGNORECASE | re.MULTILINE)
_SIZES_LINE = re.compile(rf"^{re.escape(FET_SIZES_TAG)}(.*)$", re.MULTILINE)


def binned_library_used(netlist: str) -> BinnedLibrary | None:
    """The bin-resolved library a netlist loads (made if missing), from the sizes it declares;
    None when it loads the full library. A `.lib` line that does not match the declared
    sizes (an edited netlist) is an error, not a run with the wrong bins."""
    names = set(_BINNED_LIB_LINE.findall(netlist))
    if not names:
        return None
    declared = _SIZES_LINE.findall(netlist)
    if len(declared) != 1:
        raise CircuitkitError(f"the netlist loads the bin-resolved library {', '.join(sorted(names))} but declares "
                              f"{len(declared)} transistor size lines ('{FET_SIZES_TAG.strip()}'): expected one")
    sizes = FetSizes.parse(declared[0])
    expected = binned_library_name(sizes)
    if names != {expected}:
        raise CircuitkitError(f"the netlist loads {', '.join(sorted(names))}, but the transistor sizes it declares "
                              f"({sizes.declaration()}) make {expected}: regenerate the netlist")
    return binned_library(sizes)


def prepare_deck(netlist: str) -> Deck:
    """Compile the Verilog-A models `netlist` uses and build its start-up commands."""
    toolchain = tc.toolchain()
    osdi_files = tuple(tc.compile_va(tc.verilog_a_model(module)) for module in verilog_a_modules_used(netlist))
    binned = binned_library_used(netlist)
    library_dirs = [toolchain.sky130.library_dir] + ([binned.library.parent] if binned else [])
    commands = [
        # The sky130 models use HSPICE-style expressions.
        "set ngbehavior=hsa",
        # ngspice is built with OpenMP: by default it loads the BSIM4 devices on several
        # threads, whose futex hand-offs cost ~3x the whole run for the small circuits we
        # simulate (and fight the process pool for cores). One thread per ngspice process.
        "set num_threads=1",
        f"set sourcepath=( {' '.join(str(d) for d in library_dirs)} )",
        # `osdi` (not `pre_osdi`, which only exists inside .control blocks) loads a model
        # before the netlist is parsed when it runs from .spiceinit.
        *(f"osdi {path}" for path in osdi_files),
    ]
    return Deck(netlist=netlist, init_commands=tuple(commands), osdi_files=osdi_files, ngspice=toolchain.ngspice,
                fet_library=binned)
