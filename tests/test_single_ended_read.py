"""Single-ended 1T1R read: one cell on BL against a reference cell on BLb through the same
PCSA (`netlist.pcsa.SingleEndedReference`, `corners.reads.SingleEndedReadSimulator`), in
ngspice."""

from __future__ import annotations

import math

import pytest

from circuitkit import CircuitkitError
from circuitkit.corners.campaign import run_campaign
from circuitkit.corners.config import CampaignConfig
from circuitkit.corners.reads import PcsaReadSimulator, SingleEndedReadSimulator
from circuitkit.device.model import ModelCard
from circuitkit.device.nonideality import DeviceNonideality, ProgrammedStates, lognormal_state
from circuitkit.netlist.pcsa import PcsaReadBench, ReadUnit, SingleEndedReference, two_t_two_r_pcsa
from circuitkit.operating import Corner, OperatingPoint

LRS, HRS = 10e3, 100e3


@pytest.mark.spice
def test_a_1t1r_cell_reads_its_state_against_the_reference_at_nominal():
    """LRS and HRS cells read +1 and -1. Cells just either side of the reference (0.7x,
    1.4x) read the side they are on, whatever state they were meant to store: only a read
    against the reference (not against the 2T2R partner device) gives that."""
    card = ModelCard.default()
    reference = SingleEndedReference.between(LRS, HRS)
    below, above = 0.7 * reference.ohm, 1.4 * reference.ohm
    # name: (stored, cell ohm, value read)
    cells = {"lrs": (+1, LRS, +1), "hrs": (-1, HRS, -1), "below": (+1, below, +1), "above": (-1, above, -1),
             "plus_above": (+1, above, -1), "minus_below": (-1, below, +1)}
    units = [ReadUnit.with_resistances(name, weight, r, None, card) for name, (weight, r, _) in cells.items()]
    bench = PcsaReadBench(units, point=OperatingPoint(Corner.TT, 1.8, 27.0), mismatch=False, kind="1t1r-pcsa",
                          reference=reference, card=card)
    gap_reference = reference.instance(card)["gap_init"]
    assert all(gaps[1] == gap_reference for gaps in bench.initial_gaps().values())
    assert bench.header()["reference_ohm"] == pytest.approx(math.sqrt(LRS * HRS))
    reads = bench.simulate(name="single_ended")
    assert {name: reads[name].value for name in cells} == {name: value for name, (_, _, value) in cells.items()}
    assert all(math.isfinite(reads[name].delay_s) for name in cells)


def _campaign(tmp_path, name: str, reference: SingleEndedReference):
    states = ProgrammedStates(lognormal_state(LRS, 0.3), lognormal_state(HRS, 0.3))
    config = CampaignConfig(samples=48, batch_size=48, seed=5, device=DeviceNonideality(states))
    result = run_campaign(config, tmp_path / name, simulator=SingleEndedReadSimulator(reference=reference),
                          progress=False, log=lambda line: None)
    errors = sum(r.count for r in result.table.rows if r.stored != r.read)
    return errors, sum(r.count for r in result.table.rows), result


@pytest.mark.spice
def test_a_reference_at_the_lrs_median_makes_the_ber_rise(tmp_path):
    """Same cells (common random numbers), same PCSA with mismatch: at the geometric mean
    the sigma 0.3 states are ~5 sigma from it (no errors expected), at the LRS median half
    the LRS cells read as HRS. The Clopper-Pearson intervals separate."""
    from circuitkit.stats import binomial_interval

    good_errors, good_reads, good = _campaign(tmp_path, "geometric_mean", SingleEndedReference.between(LRS, HRS))
    bad_errors, bad_reads, _ = _campaign(tmp_path, "at_lrs", SingleEndedReference(LRS))
    good_ci, bad_ci = binomial_interval(good_errors, good_reads), binomial_interval(bad_errors, bad_reads)
    print(f"1T1R BER: reference at the geometric mean {good_ci}, at the LRS median {bad_ci}")
    assert good_reads == bad_reads == 96
    assert bad_ci.low > good_ci.high
    assert good.summary["read_timing_by_vdd"]["1.8"]["reference_ohm"] == pytest.approx(math.sqrt(LRS * HRS))
    # The reference keys the directory: resumed with the other level, the campaign is refused
    # (its reads were made against the old one); with the same level it resumes, running nothing.
    with pytest.raises(CircuitkitError, match=r"another read simulator \(read simulator was "
                                              r"'SingleEndedReadSimulator\(.*reference=SingleEndedReference\(ohm=31622"):
        _campaign(tmp_path, "geometric_mean", SingleEndedReference(LRS))
    again_errors, _, again = _campaign(tmp_path, "geometric_mean", SingleEndedReference.between(LRS, HRS))
    assert again.summary["jobs_run_this_time"] == 0 and again_errors == good_errors


@pytest.mark.parametrize("ohm", [0.0, -1e4, math.nan, math.inf, "ten"])
def test_a_bad_reference_is_named_before_any_simulation(ohm, tmp_path):
    with pytest.raises(CircuitkitError, match=r"SingleEndedReference: ohm=.*expected a finite number > 0"):
        SingleEndedReference(ohm)
    with pytest.raises(CircuitkitError, match="lrs_median_ohm"):
        SingleEndedReference.between(ohm, HRS)


def test_the_single_ended_read_is_refused_where_it_has_no_meaning(tmp_path):
    with pytest.raises(CircuitkitError, match="expected a SingleEndedReference"):
        SingleEndedReadSimulator()
    with pytest.raises(CircuitkitError, match="needs a reference"):
        PcsaReadBench((ReadUnit("w", +1),), kind="1t1r-pcsa")
    with pytest.raises(CircuitkitError, match="stores \\+1 or -1"):
        PcsaReadBench((ReadUnit("z", 0),), kind="1t1r-pcsa", reference=SingleEndedReference(30e3))
    # a ternary campaign is refused before any job runs
    simulator = SingleEndedReadSimulator(reference=SingleEndedReference(30e3))
    with pytest.raises(CircuitkitError, match="binary values only"):
        run_campaign(CampaignConfig(scheme="ternary", samples=4, batch_size=4), tmp_path, simulator=simulator,
                     progress=False, log=lambda line: None)
    assert not any((tmp_path / "samples").iterdir())


def test_every_setting_that_changes_the_reads_is_in_the_resume_key():
    """`read_simulator_key` keys a campaign directory: the reference level, the sampling time
    and the circuit (1T1R or 2T2R) each change it; the same settings give the same text."""
    from circuitkit.corners.campaign import read_simulator_key

    reference = SingleEndedReference.between(LRS, HRS)
    key = read_simulator_key(SingleEndedReadSimulator(reference=reference))
    assert key == read_simulator_key(SingleEndedReadSimulator(reference=SingleEndedReference.between(LRS, HRS)))
    others = {read_simulator_key(simulator) for simulator in (
        SingleEndedReadSimulator(reference=SingleEndedReference(LRS)),
        SingleEndedReadSimulator(reference=SingleEndedReference(math.nextafter(reference.ohm, math.inf))),
        SingleEndedReadSimulator(reference=reference, sample_after_s=60e-12),
        PcsaReadSimulator())}
    assert len(others) == 4 and key not in others
    with pytest.raises(CircuitkitError, match="expected a dataclass instance"):
        read_simulator_key(lambda *args, **kwargs: None)


def test_without_a_reference_the_2t2r_netlist_is_unchanged():
    """The reference is additive: no reference, no trace of it in the 2T2R netlist."""
    netlist = two_t_two_r_pcsa().to_netlist()
    assert "reference" not in netlist and "1t1r" not in netlist
    assert PcsaReadSimulator()._reference("binary") is None
