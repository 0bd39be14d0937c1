"""The 2T2R + PCSA read simulators of a campaign: many independent reads in ONE netlist.

Each read unit has its own sense amplifier (with its own transistor mismatch from the
PDK's AGAUSS when mismatch is on), its own pair of RRAM devices programmed to the drawn
resistances, and its own supply source; ngspice solves them together, which costs far
less per sample than one simulation per read (see bench/bench_corners.py).

`PcsaReadSimulator` is what `circuitkit ber` and the flow hand to `run_campaign`
(`circuitkit.corners.batch.ReadSimulator`). It builds a `PcsaReadBench` and measures with
it; it does not plan, seed or count (that is the campaign). `SingleEndedReadSimulator` reads
1T1R cells against a fixed reference cell through the same PCSA.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from circuitkit.ber_table import Condition
from circuitkit.corners.batch import ReadBatch
from circuitkit.device.model import ModelCard
from circuitkit import CircuitkitError
from circuitkit.netlist.pcsa import TERNARY_TIMING, PcsaReadBench, ReadTiming, ReadUnit, SingleEndedReference
from circuitkit.operating import OperatingPoint

# A job that did not converge is retried once with these (tighter tolerances, Gear
# integration, which damps the ringing a fast latch can provoke).
TIGHTER_OPTIONS = {"reltol": 1e-4, "method": "gear", "itl4": 100}


def read_timing(scheme: str, vdd: float) -> ReadTiming:
    """Binary reads sample at the end of evaluation, with the margin taken at a time scaled
    to the supply (`ReadTiming.for_supply`); ternary reads at the fixed early time of the
    near-threshold scheme (see circuitkit.netlist.pcsa), whatever the supply."""
    return TERNARY_TIMING if scheme == "ternary" else ReadTiming.for_supply(vdd)


def read_bench(point: OperatingPoint, scheme: str, resistances: np.ndarray, spice_seed: int, *, stored: int = +1,
               card: ModelCard | None = None, tighter: bool = False, mismatch: bool = True,
               timing: ReadTiming | None = None, reference: SingleEndedReference | None = None) -> PcsaReadBench:
    """The bench of one job: len(resistances) read units, BL/BLb devices at the given ohms;
    with a `reference`, single-ended reads of the BL devices (the BLb column is not used)."""
    card = card or ModelCard.default()
    units = [ReadUnit.with_resistances(f"u{index}", stored, float(r_bl), None if reference else float(r_blb), card)
             for index, (r_bl, r_blb) in enumerate(resistances)]
    kind = "1t1r-pcsa" if reference else "ternary-pcsa" if scheme == "ternary" else "2t2r-pcsa"
    what = f"1T1R reads against a {reference.ohm:.4g} ohm reference cell" if reference else "2T2R + PCSA reads"
    return PcsaReadBench(
        units, point=point, mismatch=mismatch, timing=timing or read_timing(scheme, point.vdd), card=card, seed=spice_seed,
        options=TIGHTER_OPTIONS if tighter else None, kind=kind, reference=reference,
        waveforms=False,  # the campaign reads measures only
        title=f"Monte Carlo batch: {len(units)} {what}, stored {stored:+d}, {Condition.at(point, scheme).label()}",
    )


@dataclasses.dataclass(frozen=True)
class PcsaReadSimulator:
    """Reads through the 2T2R + PCSA of `circuitkit.netlist.pcsa`. A binary read that has
    not resolved at the sampling time returns 0 (`corners.outcomes.UNRESOLVED_READ`: its
    own outcome, an error for either stored value); a ternary read returns -1, 0 or +1 as
    sampled.

    `sample_after_s`: sample Q/Qb this long after evaluation begins instead of the
    scheme's own timing (a clock faster than the sense delay leaves reads unresolved)."""

    sample_after_s: float | None = None

    def _timing(self, scheme: str, vdd: float) -> ReadTiming:
        timing = read_timing(scheme, vdd)
        return timing if self.sample_after_s is None else dataclasses.replace(timing, t_sample=self.sample_after_s)

    def timing(self, scheme: str, vdd: float) -> Mapping[str, Any]:
        return dataclasses.asdict(self._timing(scheme, vdd))

    def _reference(self, scheme: str) -> SingleEndedReference | None:
        return None

    def __call__(self, point: OperatingPoint, scheme: str, resistances: np.ndarray, spice_seed: int, *,
                 stored: int = +1, card: ModelCard | None = None, tighter: bool = False,
                 mismatch: bool = True) -> ReadBatch:
        bench = read_bench(point, scheme, resistances, spice_seed, stored=stored, card=card, tighter=tighter,
                           mismatch=mismatch, timing=self._timing(scheme, point.vdd), reference=self._reference(scheme))
        reads = bench.simulate(name="mc_batch")
        ordered = [reads[f"u{index}"] for index in range(len(resistances))]
        values = np.array([read.value for read in ordered], dtype=np.int64)
        return ReadBatch(values, np.array([read.delay_s for read in ordered]),
                         np.array([read.margin_v for read in ordered]))


@dataclasses.dataclass(frozen=True)
class SingleEndedReadSimulator(PcsaReadSimulator):
    """Single-ended 1T1R reads: each drawn cell on BL against `reference` (a
    `SingleEndedReference`: a reference cell at a set level, e.g. `.between(lrs_median,
    hrs_median)`) on BLb, through the same PCSA with the same mismatch and timing as the
    2T2R reads. Of the campaign's (BL, BLb) draw for a stored value, the BL device is the
    cell in that value's state (`CELL_STATES`: +1 LRS, -1 HRS); the BLb draw is not used.

    For `mc` campaigns of the binary scheme: an offset campaign sweeps the ratio of a
    device pair, which a fixed reference does not have. The reference is refused (<= 0,
    not finite) when the simulator is made, before any simulation."""

    reference: SingleEndedReference | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.reference, SingleEndedReference):
            raise CircuitkitError(f"SingleEndedReadSimulator: reference={self.reference!r}: expected a "
                                  "SingleEndedReference (a reference cell level in ohm)")

    def _reference(self, scheme: str) -> SingleEndedReference:
        if scheme != "binary":
            raise CircuitkitError(f"SingleEndedReadSimulator: scheme {scheme!r}: a 1T1R cell against one reference "
                                  "reads binary values only")
        return self.reference

    def timing(self, scheme: str, vdd: float) -> Mapping[str, Any]:
        return {**super().timing(scheme, vdd), "reference_ohm": self._reference(scheme).ohm}
