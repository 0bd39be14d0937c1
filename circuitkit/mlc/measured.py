"""The real 32-level programming runs bundled with circuitkit, read as (target level, read
conductance) per cell.

`characterization/rram-1t1r-130nm/` (MIT licence, see its README): `read_mlc_good.tsv.gz`
and `newwrite.tsv.gz` hold one read per cell (address, resistance in ohm at 0.2 V), read
15-30 minutes after dual-direction write-verify to 32 bands of 4 uS between 0 and
128 uS; the target level of a cell is ((address - first address) / 2) mod 32 (every
second address). `read_mlc_bad.tsv.gz` used both bit lines (level = (address - first
address) mod 32) and its second bit line relaxes strongly: it is readable here for
completeness and never the default comparison.

The reads include 15-30 minutes of relaxation after programming: a simulated population
compares like for like when its later read is relaxed by a fitted relaxation model for
`READ_AFTER_S` (`circuitkit mlc --drift-card`, and the flow's mlc stage when the flow fitted
one); without it the comparison puts a just-programmed population (one fresh read) beside a
relaxed one, and says so.
"""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.mlc.levels import LevelMap
from circuitkit.resources import bundled_data

DATASET = "rram-1t1r-130nm"
# file -> address stride between consecutive levels
MLC_FILES = {"read_mlc_good": 2, "newwrite": 2, "read_mlc_bad": 1}
DEFAULT_FILES = ("read_mlc_good", "newwrite")
LEVELS = 32
READ_VOLTAGE = 0.2
READ_AFTER_S = 22.5 * 60  # the middle of the runs' 15-30 min between programming and read


@dataclasses.dataclass(frozen=True)
class MeasuredLevels:
    """Cells of a real multi-level run: target level and read conductance (S)."""

    name: str
    target: np.ndarray
    conductance: np.ndarray
    source: str

    @property
    def levels(self) -> LevelMap:
        return LevelMap(LEVELS)

    def __len__(self) -> int:
        return int(self.target.size)


def read_mlc_file(path: Path | str, stride: int, name: str | None = None) -> MeasuredLevels:
    """A two-column (address, resistance) file of a 32-level run; level from the address."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as handle:
            data = np.loadtxt(handle, ndmin=2)
    except (OSError, ValueError) as error:
        raise CircuitkitError(f"{path}: cannot read a multi-level programming file (address, resistance per "
                              f"line): {error}") from None
    if data.shape[1] < 2:
        raise CircuitkitError(f"{path}: expected 2 columns (address, resistance), found {data.shape[1]}")
    address, resistance = data[:, 0], data[:, 1]
    bad = ~np.isfinite(resistance) | (resistance <= 0)
    if np.any(bad):
        raise CircuitkitError(f"{path}, line {int(np.flatnonzero(bad)[0]) + 1}: resistance must be a positive "
                              "number (ohm)")
    step = (address - address[0]) / stride
    if np.any(step != np.round(step)):
        raise CircuitkitError(f"{path}: addresses are not spaced by {stride} from the first one: the level rule "
                              f"((address - first) / {stride}) mod {LEVELS} does not apply")
    target = np.mod(step.astype(np.int64), LEVELS)
    return MeasuredLevels(name or path.name, target, 1.0 / resistance, str(path))


def load_measured(name: str) -> MeasuredLevels:
    """One of the bundled runs by name (`read_mlc_good`, `newwrite`, `read_mlc_bad`)."""
    if name not in MLC_FILES:
        raise CircuitkitError(f"unknown bundled multi-level run {name!r}; expected one of {', '.join(MLC_FILES)}")
    return read_mlc_file(bundled_data(DATASET) / f"{name}.tsv.gz", MLC_FILES[name], name)


def citation() -> str:
    return ("real 32-level dual-direction write-verify of a 130 nm 1T1R HfOx array, read 15-30 min after "
            "programming (public NI-based RRAM test data, 2021, MIT licence; bundled in "
            "characterization/rram-1t1r-130nm)")
