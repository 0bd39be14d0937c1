"""The pulse model's rate spread split into a per-cell and a per-pulse part from a cycling log:
the log's reader, the maximum-likelihood split (recovers a known split, flags what a log
cannot identify), the card round trip, and a cell's own offset kept across its pulses."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math

import numpy as np
import pytest

from circuitkit import CircuitkitError
from circuitkit.device.pulse import PulseCondition, PulseModel, ReadNoise, fit_rate_split, gap_grid
from circuitkit.measurements import MeasurementError
from circuitkit.measurements.cycling import read_cycling
from circuitkit.mlc import ProgrammingEngine
from circuitkit.mlc.campaign import default_cards
from circuitkit.mlc.engine import PulseMenu
from circuitkit.resources import bundled_data

pytestmark = pytest.mark.spice  # the access transistor's table comes from ngspice (cached)

LOG = "rram-1t1r-130nm/endurance_log.csv.gz"
SET_SENSITIVE = (1.0, 2.0, 0.0, 1e-6)  # a SET whose outcome from HRS follows the rate scale over many e-folds
RESET_WEAK = (2.5, 0.0, 0.5, 1e-6)  # a RESET the card moves no cell with, at any rate (as the bundled log's RESET
# moves none of its 8.4 kohm cells)


def test_the_bundled_cycling_log_is_read_into_pulses_with_the_reads_around_them():
    record = read_cycling(bundled_data(LOG), read_voltage=0.2)
    # 2,724 cycles: every pulse but the first RESET (no read before it) has both reads
    assert int(record.is_set.sum()) == 2724 and int((~record.is_set).sum()) == 2723
    assert record.dropped == {"no_read_before": 1, "no_read_after": 0} and list(record.cells) == ["778"]
    ln_set = np.log(record.pulses.r_after[record.is_set])
    ln_reset = np.log(record.pulses.r_after[~record.is_set])
    assert np.exp(np.median(ln_set)) == pytest.approx(8431, rel=1e-3) and np.std(ln_set) == pytest.approx(0.0855, abs=1e-3)
    assert np.exp(np.median(ln_reset)) == pytest.approx(97270, rel=1e-3) and np.std(ln_reset) == pytest.approx(0.316, abs=1e-3)
    # each pulse starts from the read before it: a SET from the previous RESET's read
    pulses = record.pulses
    np.testing.assert_array_equal(pulses.r_before[1:][record.is_set[1:]], pulses.r_after[:-1][record.is_set[1:]])
    assert np.all(record.order == np.arange(len(record)))


@pytest.mark.parametrize("line, problem", [
    ("C4,1619201838.5,778,FORM,1.3,3,0,1e-6", "line 3.*unknown operation 'FORM'"),
    ("C4,1619201838.5,778,SET,1.3,x,0,1e-6", "line 3.*'x' is not a number \\(expected the V_BL\\)"),
    ("C4,1619201838.5,778,READ,-5,1,1,1", "line 3.*R = -5.0 ohm: expected > 0"),
    ("C4,1619201838.5,778,SET,1.3,3", "line 3.*a SET row needs V_WL, V_BL, V_SL, pulse width"),
])
def test_a_malformed_cycling_log_is_refused_naming_the_file_and_line(tmp_path, line, problem):
    path = tmp_path / "cycling.csv.gz"
    good = ["C4,1619201838.4,778,ENDURANCE,\"(2.5, 1.3)\",3,3,1e-06,50000", "C4,1619201838.45,778,READ,9000,1,1,1"]
    path.write_bytes(gzip.compress(("\n".join(good + [line]) + "\n").encode()))
    with pytest.raises(MeasurementError, match="cycling.csv.gz, " + problem):
        read_cycling(path)


@pytest.fixture(scope="module")
def card_model() -> PulseModel:
    """The bundled real pulse card, with the split (if any) removed: the sweeps' totals only."""
    return dataclasses.replace(PulseModel.from_card(default_cards()[0]), sigma_ln_rate_pulse=None, rate_split_note="")


def synthetic_log(path, truth: PulseModel, cell_z: float, cycles: int, seed: int, read_noise: ReadNoise) -> None:
    """One cell cycled RESET / SET in the bundled log's format. The SETs (`SET_SENSITIVE`) are
    `truth`'s draws with the cell's own offset `cell_z` kept, read with `read_noise`; the
    RESET reads are lognormal HRS states (97 kohm, 0.3 in ln R), which the card's RESET at
    `RESET_WEAK` cannot produce (as the card's RESET cannot produce the bundled log's)."""
    rng = np.random.default_rng(seed)
    hrs = 97e3 * np.exp(0.3 * rng.standard_normal(cycles))
    condition = PulseCondition(*(np.full(cycles, v) for v in SET_SENSITIVE))
    state = truth.sample_after(hrs, condition, rng, read_noise=False, cell_z=np.full(cycles, cell_z))
    read = state * np.exp(read_noise.sigma_at(state) * rng.standard_normal(cycles))
    lines, t = [], 1.6e9
    for k in range(cycles):
        lines += [f"C1,{t + 4 * k},42,RESET,{','.join(map(str, RESET_WEAK))}", f"C1,{t + 4 * k + 1},42,READ,{float(hrs[k])!r},0,0,0",
                  f"C1,{t + 4 * k + 2},42,SET,{','.join(map(str, SET_SENSITIVE))}", f"C1,{t + 4 * k + 3},42,READ,{float(read[k])!r},0,0,0"]
    path.write_text("\n".join(lines) + "\n")


def test_the_cycling_fit_recovers_a_known_split_and_flags_what_the_log_cannot_identify(tmp_path, card_model):
    """A cell with a known own offset (ln rate_scale +1.0) and per-pulse spread (1.0) against
    the card's SET total: the fit's 95 % profile intervals hold the truth and are narrow; the
    log's RESETs, which the card cannot produce at that condition, are flagged undetermined
    and keep the whole spread per pulse. A card whose total is below the cell's per-pulse
    spread is flagged, not clipped."""
    noise = ReadNoise(0.0115, 1.13, 0.44)
    pulse, offset, landing = 1.0, 1.0, 0.05
    total = card_model.sigma_ln_rate[0]
    cell = math.sqrt(total ** 2 - pulse ** 2)
    truth = dataclasses.replace(card_model, sigma_ln_rate_pulse=(pulse, card_model.sigma_ln_rate[1]),
                                sigma_ln_program=(landing, 0.0), spread_scale=(1.0, 1.0), read_noise=noise)
    path = tmp_path / "cycled.csv"
    synthetic_log(path, truth, offset / cell, 200, 3, noise)
    record = read_cycling(path)
    split, report, flags = fit_rate_split(card_model, record, read_noise=noise, nodes=48, bisections=5)
    fitted = report["by_polarity"]["SET"]
    print(json.dumps({k: (v["estimate"], v["ci95"]) for k, v in fitted["parameters"].items()}))
    for key, true in (("cell_ln_rate_offset", offset), ("sigma_ln_rate_pulse", pulse), ("sigma_ln_program_pulse", landing)):
        low, high = fitted["parameters"][key]["ci95"]
        assert high is not None and (low or 0.0) <= true <= high, (key, low, high)
    low, high = fitted["parameters"]["cell_ln_rate_offset"]["ci95"]
    assert low is not None and high - low < 1.0  # the cell's own offset is pinned down
    # the per-pulse part is bounded far below the sweeps' total (7): a cell is not a new lottery every pulse
    high = fitted["parameters"]["sigma_ln_rate_pulse"]["ci95"][1]
    assert high < 2.0 and fitted["status"] == "fitted"
    assert split.sigma_ln_rate_pulse[0] == pytest.approx(fitted["used_sigma_ln_rate_pulse"])
    if fitted["parameters"]["sigma_ln_rate_pulse"]["ci95"][0] is None:  # only bounded: the bound is used, flagged
        assert fitted["used_sigma_ln_rate_pulse"] == pytest.approx(high)
    assert split.sigma_ln_rate_cell[0] == pytest.approx(math.sqrt(total ** 2 - split.sigma_ln_rate_pulse[0] ** 2))
    # the log's 10-90 % coverage with the fitted split: near 80 % (the truth's own law)
    coverage, c_low, c_high = fitted["coverage_10_90"]["split_model"]
    assert c_low <= 0.8 <= c_high + 0.02, fitted["coverage_10_90"]
    # RESET: not identified, all per pulse, flagged; the assumption is stated
    assert report["by_polarity"]["RESET"]["status"].startswith("not identified")
    assert split.sigma_ln_rate_pulse[1] == card_model.sigma_ln_rate[1] and split.sigma_ln_rate_cell[1] == 0
    assert {(f["what"], f["problem"]) for f in flags} - {("rate_split_set", "bound_only")} == {
        ("rate_split_reset", "undetermined")}
    assert "one cell's cycle-to-cycle spread" in split.rate_split_text() and "RESET not identified" in split.rate_split_text()
    # a card whose SET total (0.5) is below the cell's per-pulse spread: flagged, the cell part 0
    narrow = dataclasses.replace(card_model, sigma_ln_rate=(0.5, card_model.sigma_ln_rate[1]))
    over, _, flags = fit_rate_split(narrow, record, read_noise=noise, nodes=48, bisections=1)
    assert ("rate_split_set", "pulse_exceeds_total") in {(f["what"], f["problem"]) for f in flags}
    assert over.sigma_ln_rate_cell[0] == 0 and over.sigma_ln_rate_pulse[0] > 0.5


def test_the_split_rides_on_the_card_and_an_old_card_keeps_all_per_pulse(card_model):
    split = dataclasses.replace(card_model, sigma_ln_rate_pulse=(0.3, 2.0), rate_split_note="from a test")
    again = PulseModel.from_card(card_model.card.with_values(pulse_model=split.to_dict()))
    assert again.sigma_ln_rate_pulse == (0.3, 2.0) and again.rate_split_note == "from a test"
    entry = split.to_dict()["random_parameters"]["rate_scale"]
    assert entry["sigma_ln_cell"]["set"] == pytest.approx(math.sqrt(card_model.sigma_ln_rate[0] ** 2 - 0.09))
    old = PulseModel.from_card(card_model.card.with_values(pulse_model=card_model.to_dict()))
    assert old.sigma_ln_rate_pulse is None and not old.has_cell_part
    assert old.rate_split_text().endswith("all per pulse (no cycling data)")
    assert old.draw_cell_z(5, np.random.default_rng(0)) is None  # nothing drawn: the stream is today's


def test_cell_offsets_are_drawn_when_not_given_and_checked_when_given(card_model):
    """write_verify and program_and_verify take the cells' offsets through one verb: drawn
    (as `draw_cell_z`, same stream) when not given, kept when given one per cell, and a
    wrong count named with its caller."""
    split = dataclasses.replace(card_model, sigma_ln_rate_pulse=(0.3, 0.5))
    drawn = split.draw_or_check_cell_z(6, np.random.default_rng(4), None, "write_verify")
    np.testing.assert_array_equal(drawn, split.draw_cell_z(6, np.random.default_rng(4)))
    given = np.arange(6.0)
    assert split.draw_or_check_cell_z(6, np.random.default_rng(4), given, "write_verify") is given
    with pytest.raises(CircuitkitError, match=r"program_and_verify: \(5,\) cell offsets for 6 cells"):
        split.draw_or_check_cell_z(6, np.random.default_rng(4), given[:5], "program_and_verify")


def test_a_cells_own_offset_persists_across_its_pulses_in_the_engine(card_model):
    """All of the rate spread per cell (pulse part 0, no landing spread): the same pulse from
    the same start gives each cell the same outcome every time, whatever the per-pulse draws;
    different cells differ. With the card's all-per-pulse law the repeats differ."""
    cell_only = dataclasses.replace(card_model, sigma_ln_rate_pulse=(0.0, 0.0), sigma_ln_program=(0.0, 0.0))
    menu = PulseMenu.of([SET_SENSITIVE[:3]])
    rows = np.zeros(200, dtype=int)
    r0 = np.full(200, 97e3)
    engine = ProgrammingEngine(cell_only, menu, grid=gap_grid(cell_only.card, cell_only.gap(r0)))  # sample_after's grid
    cell_z = cell_only.draw_cell_z(200, np.random.default_rng(1))
    first, second = (engine.apply(r0, rows, SET_SENSITIVE[3], np.random.default_rng(seed), cell_z=cell_z)[0]
                     for seed in (2, 3))
    np.testing.assert_array_equal(first, second)
    assert np.std(np.log(first)) > 0.5  # the cells differ: the card's SET total, per cell
    per_pulse = ProgrammingEngine(dataclasses.replace(card_model, sigma_ln_program=(0.0, 0.0)), menu)
    a, b = (per_pulse.apply(r0, rows, SET_SENSITIVE[3], np.random.default_rng(seed))[0] for seed in (2, 3))
    assert np.mean(a != b) > 0.9
    # and the sampler draws the same law: sample_after with the cells' offsets equals the engine
    expected = cell_only.sample_after(r0, PulseCondition(*(np.full(200, v) for v in SET_SENSITIVE)),
                                      np.random.default_rng(2), read_noise=False,
                                      cell_z=cell_z)
    np.testing.assert_array_equal(first, expected)
