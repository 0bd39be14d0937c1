"""The contract between a campaign and the circuit it samples: `ReadSimulator` (what a
campaign job calls) and `ReadBatch` (what it gets back).

The campaign (`circuitkit.corners.campaign`) plans jobs, draws cells, seeds, checkpoints
and counts; it does not know what circuit reads the cells. Its caller hands it a
`ReadSimulator` (the 2T2R + PCSA one is `circuitkit.corners.reads.PcsaReadSimulator`),
so the orchestrator never imports a netlist generator and a new read circuit (another
sense amplifier, a multi-level cell) plugs in without touching it.

This module defines types only; it must not import a stage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from circuitkit.operating import OperatingPoint


@dataclasses.dataclass(frozen=True)
class ReadBatch:
    """Outcome of the `count` reads of a job: per read, the value read, the sense delay (s)
    and the sense margin (V); NaN delay/margin where the latch did not resolve."""

    read: np.ndarray
    delay_s: np.ndarray
    margin_v: np.ndarray


class ReadSimulator(Protocol):
    """Simulates the reads of one campaign job. A dataclass instance whose fields are the
    settings that change its reads (a reference level, a sampling time): they key the
    campaign directory (`corners.campaign.read_simulator_key`), so a campaign resumed with
    other settings is refused rather than fed reads made with the old ones. Instances travel
    to worker processes, so they must pickle (a frozen dataclass at module level does)."""

    def timing(self, scheme: str, vdd: float) -> Mapping[str, Any]:
        """How a read of `scheme` at `vdd` is timed: recorded in campaign.json. Called
        once per supply in the campaign's own process before any job runs, so that what
        it measures (and caches) is not measured again by every worker."""

    def __call__(self, point: OperatingPoint, scheme: str, resistances: np.ndarray, spice_seed: int, *,
                 stored: int, card: Any, tighter: bool, mismatch: bool) -> ReadBatch:
        """The reads of len(resistances) cells storing `stored`, whose (BL, BLb) devices
        read the given resistances (ohm), at `point`; `tighter`: the retry of a job that
        did not converge. Raises `SimulationError` when the simulation fails."""
