"""2T2R + PCSA reads in ngspice (OSDI RRAM + sky130 FETs): binary at tt and the slowest
corners, read disturb over 1000 reads, ternary outcomes, XNOR truth table, Monte Carlo
benches."""

from __future__ import annotations

import math
import re

import pytest

from circuitkit.netlist import (
    TERNARY_POINT,
    TERNARY_TIMING,
    PcsaReadBench,
    ReadTiming,
    ReadUnit,
    ternary_pcsa,
    two_t_two_r_pcsa,
    xnor_pcsa,
)
from circuitkit.operating import OperatingPoint
from circuitkit.spice.runner import run_batch

pytestmark = pytest.mark.spice

TYPICAL = OperatingPoint("tt", 1.8, 27.0)
# The slowest supported conditions: ss at the lowest supply the reads are verified at
# (0.9 V, the ternary supply), hot and cold (near threshold, cold is the slower one).
SLOW_HOT = OperatingPoint("ss", 0.9, 125.0)
SLOW_COLD = OperatingPoint("ss", 0.9, -40.0)
WORST_DISTURB = OperatingPoint("ff", 1.98, 125.0)


def read_both_weights(point: OperatingPoint) -> dict:
    bench = PcsaReadBench([ReadUnit("plus", +1), ReadUnit("minus", -1)], point=point,
                          timing=ReadTiming.for_supply(point.vdd))
    return bench.measure(run_batch(bench.to_netlist()))


@pytest.fixture(scope="module")
def reads_by_condition() -> dict:
    return {supply: read_both_weights(supply) for supply in (TYPICAL, SLOW_HOT, SLOW_COLD)}


def test_binary_read_is_correct_with_plausible_delay_and_energy(reads_by_condition):
    for supply, reads in reads_by_condition.items():
        for read in reads.values():
            print(f"{supply.label():>18}  weight {read.expected:+d}: read {read.value:+d}  "
                  f"delay {read.delay_s * 1e12:7.1f} ps  energy {read.energy_j * 1e15:6.2f} fJ  "
                  f"margin {read.margin_v * 1e3:5.0f} mV")
            assert read.correct, f"{supply.label()}: weight {read.expected:+d} read as {read.value:+d}"
            assert 1e-12 < read.delay_s < 2e-9      # ps .. ns
            assert 1e-16 < read.energy_j < 1e-12    # sub-fJ .. pJ (a 2T2R + 7-transistor PCSA)
            assert read.margin_v > 0


def test_slow_corners_are_slower_and_lower_supply_costs_less_energy(reads_by_condition):
    typical = reads_by_condition[TYPICAL]["plus"]
    for slow in (SLOW_HOT, SLOW_COLD):
        read = reads_by_condition[slow]["plus"]
        assert read.delay_s > 3 * typical.delay_s, f"{slow.label()} is not slower than tt"
        # energy goes roughly with C V^2: a quarter at half the supply, never more than at 1.8 V
        assert read.energy_j < 0.5 * typical.energy_j
    assert reads_by_condition[SLOW_COLD]["plus"].delay_s > reads_by_condition[SLOW_HOT]["plus"].delay_s


def test_a_read_does_not_disturb_what_it_reads():
    """1000 consecutive reads in one transient at the highest supply and temperature."""
    reads = 1000
    timing = ReadTiming(t_precharge=0.5e-9, t_evaluate=1e-9, t_step=100e-12)
    measured = two_t_two_r_pcsa(+1, point=WORST_DISTURB, timing=timing, reads=reads).simulate()
    drift = {d.side: d for d in measured.drift}
    lrs, hrs = drift["bl"], drift["blb"]
    for d, state in ((lrs, "LRS"), (hrs, "HRS")):
        print(f"{state}: gap {d.gap_before_m * 1e9:.4f} -> {d.gap_after_m * 1e9:.4f} nm "
              f"({d.gap_change_m * 1e12:+.3f} pm), R {d.r_before_ohm:.0f} -> {d.r_after_ohm:.0f} ohm "
              f"({d.relative_resistance_change * 100:+.3f} %) after {reads} reads at {WORST_DISTURB.label()}")
    # The read current flows in the RESET direction through both devices: the HRS device
    # can only get more resistive (a read never SETs it: harmless, the margin grows), the
    # LRS device drifts towards HRS (the harmful direction) by well under 1 %.
    assert hrs.gap_change_m >= 0
    assert 0 <= lrs.relative_resistance_change < 0.01
    # The stored weight is intact: the HRS/LRS ratio has not shrunk by as much as a tenth.
    assert hrs.r_after_ohm / lrs.r_after_ohm > 0.9 * hrs.r_before_ohm / lrs.r_before_ohm
    first, last = measured["w"], measured.last["w"]
    assert first.correct and last.correct
    print(f"read 1: delay {first.delay_s * 1e12:.1f} ps, read {reads}: delay {last.delay_s * 1e12:.1f} ps")
    assert last.delay_s < 1.05 * first.delay_s  # a disturbed cell would sense slower


def test_ternary_read_distinguishes_plus_zero_minus_in_one_sense():
    units = [ReadUnit("p", +1), ReadUnit("z", 0), ReadUnit("n", -1),
             # HRS/HRS with the two devices 1.4x apart (HRS spread) still reads 0
             ReadUnit.with_resistances("zi", 0, 100e3 / 1.4, 100e3)]
    reads = PcsaReadBench(units, point=TERNARY_POINT, timing=TERNARY_TIMING, kind="ternary-pcsa").simulate()
    print(f"ternary read at {TERNARY_POINT.label()}, sampled {TERNARY_TIMING.t_sample * 1e9:.1f} ns "
          "after evaluation starts:")
    for read in reads.values():
        print(f"  {read.name:>2}: stored {read.expected:+d} -> (Q, Qb) = ({read.q_v:.3f}, {read.qb_v:.3f}) V "
              f"-> {read.value:+d}  (first node at VDD/2 after {read.delay_s * 1e9:.2f} ns)")
    assert {name: read.value for name, read in reads.items()} == {"p": +1, "z": 0, "n": -1, "zi": 0}
    # 0 means both outputs still high, well clear of the VDD/2 logic threshold
    assert min(reads["z"].q_v, reads["z"].qb_v) > 0.6 * TERNARY_POINT.vdd
    # the +-1 reads resolved before the sampling time; the imbalanced zero only after it
    assert reads["p"].delay_s < TERNARY_TIMING.t_sample < reads["zi"].delay_s
    assert math.isnan(reads["z"].delay_s)


def test_ternary_generator_reads_its_three_weights():
    reads = ternary_pcsa((+1, 0, -1, 0)).simulate()
    assert [read.value for read in reads.values()] == [+1, 0, -1, 0]


def test_xnor_truth_table():
    reads = xnor_pcsa().simulate()
    for name, read in sorted(reads.items()):
        bit, weight = int(name[1]), (+1 if name[2] == "p" else -1)
        q = int(read.value > 0)
        print(f"input {bit}, weight {weight:+d}: Q = {q} (XNOR = {int(bit == (weight > 0))})")
        assert q == int(bit == (weight > 0))


def test_monte_carlo_bench_draws_per_unit_and_is_reproducible():
    """Many units in one netlist, each with its own transistor mismatch and RRAM draws."""
    units = [ReadUnit(f"u{k}", +1, rram_bl={"i0_scale": "{agauss(1, 0.2, 1)}"}) for k in range(4)]
    bench = PcsaReadBench(units, point=OperatingPoint("tt", 1.2, 27.0), mismatch=True, seed=11)
    first, again = bench.simulate(), bench.simulate()
    delays = [first[u.name].delay_s for u in units]
    print("per-unit delays (ps):", ", ".join(f"{d * 1e12:.2f}" for d in delays))
    assert all(read.correct for read in first.values())
    assert len({round(d * 1e15) for d in delays}) == len(units)  # every unit got its own draws
    assert [again[u.name].delay_s for u in units] == delays        # same seed, same numbers


def _nominal_read_delays(point: OperatingPoint, t_evaluate: float) -> dict:
    # The timing reference cell (10 k / 100 k) that `nominal_delay_s` reads, not the device default.
    from circuitkit.netlist.pcsa import TIMING_REFERENCE_STATES

    bench = PcsaReadBench([ReadUnit("p", +1), ReadUnit("n", -1)], point=point, timing=ReadTiming(t_evaluate=t_evaluate),
                          states=TIMING_REFERENCE_STATES)
    return {name: read.delay_s for name, read in bench.simulate().items()}


def test_binary_read_timing_follows_a_fresh_simulation_with_this_toolchain(tmp_path, monkeypatch):
    """ReadTiming.for_supply steers every binary campaign: its sensing delay is simulated
    at the very supply, with the toolchain in use (not copied or interpolated), and
    measured again when the toolchain changes."""
    from circuitkit import toolchain
    from circuitkit.netlist import pcsa

    toolchain.toolchain()                      # resolved with the real cache, then measure into a fresh one
    monkeypatch.setenv("CIRCUITKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(pcsa, "_NOMINAL_DELAYS", {}, raising=False)
    vdd = 0.85
    fresh = max(_nominal_read_delays(OperatingPoint("tt", vdd, 27.0), 8e-9).values())
    timing = ReadTiming.for_supply(vdd)
    print(f"{vdd} V: fresh nominal delay {fresh * 1e12:.1f} ps, margin taken at {timing.t_margin * 1e12:.1f} ps")
    assert timing.t_margin == pytest.approx(1.5 * fresh, rel=1e-3)
    assert timing.t_evaluate == pytest.approx(max(2e-9, 6 * fresh), rel=1e-3)
    measured = list((tmp_path / "measured").glob("pcsa_nominal_delay-*.json"))
    assert len(measured) == 1
    real = toolchain.Toolchain.fingerprint
    monkeypatch.setattr(toolchain.Toolchain, "fingerprint", lambda self: {**real(self), "pdk": "another PDK"})
    ReadTiming.for_supply(vdd)
    assert len(list((tmp_path / "measured").glob("pcsa_nominal_delay-*.json"))) == 2


_TERNARY_ROW = re.compile(r"^\s+(\d\.\d) V\s+(tt|ss|ff)\s+([\d.]+) ns\s+([\d.]+) ns\s+([\d.]+) ns$", re.MULTILINE)


def test_the_ternary_sampling_time_still_sits_inside_the_measured_window():
    """TERNARY_TIMING's 1.0 ns is chosen from the delays tabulated in circuitkit.netlist.pcsa's
    docstring: they must still be what ngspice gives, and 1.0 ns must still fall between
    the LRS/HRS and the 1.4x-imbalanced HRS/HRS resolution at ff, tt and ss."""
    from circuitkit.netlist import pcsa

    rows = _TERNARY_ROW.findall(pcsa.__doc__)
    assert len(rows) == 4
    for vdd, corner, lrs_hrs, hrs_14, hrs_2 in rows:
        units = [ReadUnit("p", +1), ReadUnit.with_resistances("z14", 0, 100e3 / 1.4, 100e3),
                 ReadUnit.with_resistances("z2", 0, 100e3 / 2, 100e3)]
        bench = PcsaReadBench(units, point=OperatingPoint(corner, float(vdd), 27.0), timing=TERNARY_TIMING,
                              kind="ternary-pcsa")
        delays = {name: read.delay_s for name, read in bench.simulate().items()}
        print(f"{vdd} V {corner}: " + ", ".join(f"{name} {delay * 1e9:.3f} ns" for name, delay in delays.items()))
        for name, documented in (("p", lrs_hrs), ("z14", hrs_14), ("z2", hrs_2)):
            assert delays[name] == pytest.approx(float(documented) * 1e-9, rel=0.03), (vdd, corner, name)
        if float(vdd) == TERNARY_POINT.vdd:
            assert delays["p"] < TERNARY_TIMING.t_sample < delays["z14"]
