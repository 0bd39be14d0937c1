"""Multi-level 1T1R cells: closed-loop write-verify to N conductance levels with the fitted
stochastic pulse model, Monte Carlo over cells (checkpointed), level-confusion tables,
programming energy, and the comparison with the real 32-level programming data.

    from circuitkit.mlc import LevelMap, dual_direction, ProgrammingEngine, write_verify
    levels = LevelMap(32)                                  # 0 .. 128 uS in 4 uS bands
    engine = ProgrammingEngine.for_scheme(model, scheme)   # model: device.pulse.PulseModel
    result = write_verify(engine, scheme, levels, targets, r_start, rng)

Layers: `levels` (the level bands), `engine` (the pulse model's outcome and charge for a
menu of pulse conditions), `schemes` (ISPP, dual-direction, fixed word line per level),
`writeverify` (the vectorized closed loop), `campaign` (Monte Carlo over cells, one file
per finished batch, resumable), `measured` (the bundled real 32-level data), `analysis`
(confusion counts, distinguishable levels). This stage knows no circuit netlist and no
network: the crossbar (`circuitkit.crossbar`) and the learning stage use it.
"""

from circuitkit.mlc.engine import ProgrammingEngine
from circuitkit.mlc.levels import LevelMap
from circuitkit.mlc.schemes import (
    DualDirection,
    FixedWordLine,
    Ispp,
    PulseLadder,
    PulseStep,
    dual_direction,
    fixed_word_line,
    ispp,
    scheme_by_name,
)
from circuitkit.mlc.writeverify import ProgrammingResult, write_verify

__all__ = [
    "DualDirection", "FixedWordLine", "Ispp", "LevelMap", "ProgrammingEngine", "ProgrammingResult", "PulseLadder",
    "PulseStep", "dual_direction", "fixed_word_line", "ispp", "scheme_by_name", "write_verify",
]
