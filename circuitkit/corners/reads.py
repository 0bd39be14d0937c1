"""One campaign job in ngspice: many independent 2T2R + PCSA reads in ONE netlist.

Each read unit has its own sense amplifier (with its own transistor mismatch from the
PDK's AGAUSS when mismatch is on), its own pair of RRAM devices programmed to the drawn
resistances, and its own supply source; ngspice solves them together, which costs far
less per sample than one simulation per read (see bench/bench_corners.py).
"""

from __future__ import annotations

import numpy as np

from circuitkit.ber_table import Condition
from circuitkit.corners.campaign import ReadBatch
from circuitkit.device.model import ModelCard
from circuitkit.netlist.common import SupplyCondition
from circuitkit.netlist.pcsa import TERNARY_TIMING, ReadTiming, ReadUnit, measure_pcsa_reads, pcsa_bench
from circuitkit.spice.runner import run_batch

# A job that did not converge is retried once with these (tighter tolerances, Gear
# integration, which damps the ringing a fast latch can provoke).
TIGHTER_OPTIONS = {"reltol": 1e-4, "method": "gear", "itl4": 100}


def read_timing(scheme: str, vdd: float) -> ReadTiming:
    """Binary reads sample at the end of evaluation, with the margin taken at a time scaled
    to the supply (`ReadTiming.for_supply`); ternary reads at the fixed early time of the
    near-threshold scheme (see circuitkit.netlist.pcsa), whatever the supply."""
    return TERNARY_TIMING if scheme == "ternary" else ReadTiming.for_supply(vdd)


def read_netlist(condition: Condition, resistances: np.ndarray, spice_seed: int, *, stored: int = +1,
                 card: ModelCard | None = None, tighter: bool = False, mismatch: bool = True) -> str:
    """The netlist of one job: len(resistances) read units, BL/BLb devices at the given ohms."""
    card = card or ModelCard.default()
    units = [ReadUnit.with_resistances(f"u{index}", stored, float(r_bl), float(r_blb), card)
             for index, (r_bl, r_blb) in enumerate(resistances)]
    supply = SupplyCondition(condition.corner, condition.vdd, condition.temp_c, mismatch=mismatch)
    return pcsa_bench(
        units, supply=supply, timing=read_timing(condition.scheme, condition.vdd), card=card, seed=spice_seed,
        options=TIGHTER_OPTIONS if tighter else None,
        kind="ternary-pcsa" if condition.scheme == "ternary" else "2t2r-pcsa",
        title=f"Monte Carlo batch: {len(units)} 2T2R + PCSA reads, stored {stored:+d}, {condition.label()}",
    )


def simulate_reads(condition: Condition, resistances: np.ndarray, spice_seed: int, *, stored: int = +1,
                   card: ModelCard | None = None, tighter: bool = False, mismatch: bool = True) -> ReadBatch:
    """Simulate the reads of one job. A binary read that has not resolved by the end of
    evaluation counts as an error (it reads as the opposite of what is stored); a ternary
    read returns -1, 0 or +1 as sampled."""
    netlist = read_netlist(condition, resistances, spice_seed, stored=stored, card=card, tighter=tighter,
                           mismatch=mismatch)
    reads = measure_pcsa_reads(netlist, run_batch(netlist, name="mc_batch"))
    ordered = [reads[f"u{index}"] for index in range(len(resistances))]
    values = np.array([read.value for read in ordered], dtype=np.int64)
    if condition.scheme == "binary":
        values = np.where(values == 0, -stored, values)
    return ReadBatch(values, np.array([read.delay_s for read in ordered]), np.array([read.margin_v for read in ordered]))
