"""The conductance levels of a multi-level cell: N equal bands of read conductance.

The real 32-level run bundled with circuitkit (`characterization/rram-1t1r-130nm/`,
`read_mlc_good`, `newwrite`) split 0 .. 128 uS into 32 bands 4 uS wide and programmed
each cell until its read conductance fell inside its band; `LevelMap(32)` is that map.
`LevelMap(8)` keeps the same range in 8 bands 16 uS wide. A read conductance belongs to
the band it falls in (the nearest target); values outside the range belong to the end
levels.

Conductances are in siemens, read at the pulse model's read voltage (0.2 V for the
bundled data).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.ber_table import MLC_LEVELS, mlc_scheme

MEASURED_RANGE_S = (0.0, 128e-6)  # the bundled 32-level run's range


@dataclasses.dataclass(frozen=True)
class LevelMap:
    """`levels` equal bands of read conductance between `g_low` and `g_high` (S)."""

    levels: int
    g_low: float = MEASURED_RANGE_S[0]
    g_high: float = MEASURED_RANGE_S[1]

    def __post_init__(self) -> None:
        if isinstance(self.levels, bool) or not isinstance(self.levels, (int, np.integer)) or not (
                MLC_LEVELS[0] <= self.levels <= MLC_LEVELS[1]):
            raise CircuitkitError(f"LevelMap: levels={self.levels!r}: expected an integer from {MLC_LEVELS[0]} "
                                  f"to {MLC_LEVELS[1]}")
        if not (np.isfinite(self.g_low) and np.isfinite(self.g_high) and 0 <= self.g_low < self.g_high):
            raise CircuitkitError(f"LevelMap: conductance range {self.g_low!r} .. {self.g_high!r} S: expected "
                                  "0 <= g_low < g_high")
        object.__setattr__(self, "levels", int(self.levels))

    @property
    def scheme(self) -> str:
        """The bit-error-table scheme of this cell's confusion tables (`mlc32`)."""
        return mlc_scheme(self.levels)

    @property
    def spacing(self) -> float:
        return (self.g_high - self.g_low) / self.levels

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.g_low, self.g_high, self.levels + 1)

    @property
    def targets(self) -> np.ndarray:
        """Band centres (S)."""
        edges = self.edges
        return 0.5 * (edges[:-1] + edges[1:])

    def band(self, level, tolerance: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) conductance a verify accepts for `level`: its band, or target +-
        `tolerance` (S) when given (a tighter verify)."""
        level = np.asarray(level)
        if tolerance is None:
            edges = self.edges
            return edges[level], edges[level + 1]
        if not tolerance > 0:
            raise CircuitkitError(f"verify tolerance must be > 0 S, got {tolerance!r}")
        target = self.targets[level]
        return target - tolerance, target + tolerance

    def classify(self, conductance) -> np.ndarray:
        """The level each read conductance falls in (ends absorb what lies outside)."""
        g = np.asarray(conductance, dtype=float)
        return np.clip(np.floor((g - self.g_low) / self.spacing), 0, self.levels - 1).astype(int)

    def to_dict(self) -> dict:
        return {"levels": self.levels, "g_low_s": self.g_low, "g_high_s": self.g_high,
                "band_width_s": self.spacing}
