"""Multi-level write-verify (circuitkit.mlc) on the fitted real-device pulse model.

The pulse model needs the access transistor's I-V table (extracted from ngspice once and
cached), so these tests are marked `spice`."""

from __future__ import annotations

import argparse
import dataclasses
import math

import numpy as np
import pytest

from circuitkit import CircuitkitError
from circuitkit.ber_table import BerTable, BerTableError, Condition, scheme_alphabet
from circuitkit.device.pulse import PulseCondition, PulseModel, gap_grid
from circuitkit.mlc import LevelMap, ProgrammingEngine, dual_direction, write_verify
from circuitkit.mlc import analysis
from circuitkit.mlc import engine as engine_module
from circuitkit.mlc.campaign import MlcConfig, default_cards, run_mlc_campaign
from circuitkit.mlc.engine import PulseMenu
from circuitkit.mlc.measured import load_measured
from circuitkit.stats import binomial_interval

pytestmark = pytest.mark.spice


@pytest.fixture(scope="module")
def cards():
    return default_cards()


@pytest.fixture(scope="module")
def card_model(cards) -> PulseModel:
    return PulseModel.from_card(cards[0])


@pytest.fixture(scope="module")
def model(card_model) -> PulseModel:
    """What write-verify programs with: the card's pulses, the measured read noise."""
    return engine_module.with_measured_read_noise(card_model)[0]


def hrs_start(cards, n, seed):
    return cards[1].distribution("HRS").sample(np.random.default_rng(seed), n)


def test_the_engine_is_the_fitted_models_sampler(model):
    """Same generator, same gap grid: the engine's pulses equal PulseModel.sample_after
    bit for bit (rate scale, programming spread and read noise drawn the same way)."""
    rng = np.random.default_rng(5)
    r0 = np.exp(rng.uniform(np.log(5e3), np.log(3e5), 600))
    triples = np.array([[1.2, 1.5, 0.0], [2.5, 0.0, 2.0], [0.9, 2.0, 0.0]])
    which = rng.integers(0, 3, r0.size)
    width = np.array([1e-6, 2e-7, 5e-8])[which]
    expected = model.sample_after(r0, PulseCondition(*triples[which].T, width), np.random.default_rng(11))
    menu = PulseMenu.of(triples)
    engine = ProgrammingEngine(model, menu, grid=gap_grid(model.card, model.gap(r0)))
    got, charge = engine.apply(r0, menu.index(triples[which]), width, np.random.default_rng(11), read_noise=True)
    np.testing.assert_array_equal(got, expected)
    assert np.all(charge > 0)
    # with the rate spread split into a per-cell and a per-pulse part, for the cells' own offsets
    split = dataclasses.replace(model, sigma_ln_rate_pulse=(0.5, 2.0), rate_split_note="a test split")
    cell_z = split.draw_cell_z(r0.size, np.random.default_rng(12))
    expected = split.sample_after(r0, PulseCondition(*triples[which].T, width), np.random.default_rng(11),
                                  cell_z=cell_z)
    engine = ProgrammingEngine(split, menu, grid=gap_grid(model.card, model.gap(r0)))
    got, _ = engine.apply(r0, menu.index(triples[which]), width, np.random.default_rng(11), read_noise=True,
                          cell_z=cell_z)
    np.testing.assert_array_equal(got, expected)


def test_pulse_charge_equals_ngspice_1t1r_transients(model):
    """The charge (hence energy) of SET, RESET and non-switching pulses, from the engine's
    integral along the gap trajectory, against ngspice 1T1R transients (compiled .va and
    the sky130 access transistor), current through the pulsed line integrated over time.
    The rate scale is held at 1 (no random part) so both follow the same trajectory."""
    from circuitkit.device.resimulate import one_t_one_r_netlist
    from circuitkit.spice.runner import run_batch

    fixed = dataclasses.replace(model, sigma_ln_rate=(1e-9, 1e-9), sigma_ln_program=(0.0, 0.0))
    triples = np.array([[1.2, 1.5, 0.0], [1.6, 1.5, 0.0], [0.8, 1.5, 0.0], [3.0, 0.0, 2.0], [2.5, 0.0, 2.5]])
    r0 = np.array([90e3, 90e3, 90e3, 8e3, 8e3])
    width = np.array([1e-6, 2e-7, 1e-6, 1e-6, 1e-6])
    menu = PulseMenu.of(triples)
    after, charge = ProgrammingEngine(fixed, menu).apply(r0, menu.index(triples), width, np.random.default_rng(0))
    gaps = model.gap(r0)
    result = run_batch(one_t_one_r_netlist(model.card, model.transistor, *triples.T, width, gaps))
    for k in range(r0.size):
        line = "bl" if triples[k, 1] > 0 else "sl"
        spice_charge = abs(np.trapezoid(result[f"i(v{line}{k})"], result["time"]))
        spice_after = model.resistance(gaps[k] + result[f"v(n{k}#dgap)"][-1] * 1e-9)
        assert charge[k] == pytest.approx(spice_charge, rel=0.02), k
        assert after[k] == pytest.approx(spice_after, rel=0.03), k
    assert charge[2] < 0.1 * charge[0]  # a pulse that does not switch the cell moves little charge


def test_pulse_charge_quadrature_converges(model, monkeypatch):
    """48 nodes along the gap path against 2,000: the charge per pulse within 5 %, the
    total within 0.5 % (the integrand spans many decades where the cell switches)."""
    rng = np.random.default_rng(7)
    r0 = np.exp(rng.uniform(np.log(5e3), np.log(3e5), 800))
    triples = np.array([[1.2, 1.5, 0.0], [2.5, 0.0, 2.0]])
    which = rng.integers(0, 2, r0.size)
    menu = PulseMenu.of(triples)
    engine = ProgrammingEngine(model, menu)
    charges = {}
    for nodes in (engine_module.CHARGE_NODES, 2000):
        monkeypatch.setattr(engine_module, "CHARGE_NODES", nodes)
        charges[nodes] = engine.apply(r0, menu.index(triples[which]), 1e-6, np.random.default_rng(3))[1]
    coarse, fine = charges.values()
    assert np.max(np.abs(coarse / fine - 1)) < 0.05
    assert abs(coarse.sum() / fine.sum() - 1) < 0.005


def test_write_verify_reaches_a_level_one_pulse_misses_and_stops_at_its_budget(model, cards):
    levels = LevelMap(32)
    target = np.full(400, 12)  # 48-52 uS: far from the HRS start, inside the SET staircase's reach
    r0 = hrs_start(cards, target.size, 1)
    one = dual_direction(max_pulses=1)
    many = dual_direction(max_pulses=300)
    engine = ProgrammingEngine.for_scheme(model, many)
    single = write_verify(engine, one, levels, target, r0, np.random.default_rng(2))
    full = write_verify(engine, many, levels, target, r0, np.random.default_rng(2))
    assert single.pulses.max() == 1 and full.pulses.max() <= 300
    hit_one = binomial_interval(int(single.success.sum()), target.size)
    hit_many = binomial_interval(int(full.success.sum()), target.size)
    assert hit_one.high < 0.1 and hit_many.low > 0.6, (hit_one, hit_many)
    # the cells that got there needed more than one pulse, and every failure spent its budget or gave up
    assert np.median(full.pulses[full.success]) > 1
    # a tight budget is never exceeded and leaves cells unverified
    tight = write_verify(engine, dual_direction(max_pulses=5), levels, target, r0, np.random.default_rng(2))
    assert tight.pulses.max() <= 5 and tight.success.mean() < full.success.mean()
    assert np.all(tight.pulses[~tight.success] == 5)


def test_a_cells_own_rate_offset_lets_write_verify_reach_a_level_a_per_pulse_lottery_misses(model, cards):
    """The real card splits its SET rate spread (sigma ln 7) into the cell's own offset and a
    per-pulse part bounded by the cycling log (<= 0.24); its RESET spread stays per pulse (the
    log cannot identify it). Level 12 of 32 from HRS, dual-direction, 300 pulses: with each
    cell keeping its offset, far more cells verify, with far fewer pulses, than when all of the
    spread is redrawn every pulse (disjoint 95 % intervals); the state left is truly in band
    for more than half of them."""
    assert model.has_cell_part and model.sigma_ln_rate_per_pulse[0] < 0.1 * model.sigma_ln_rate[0]
    assert "one cell's cycle-to-cycle spread" in model.rate_split_text()
    levels = LevelMap(32)
    target = np.full(400, 12)
    r0 = hrs_start(cards, target.size, 1)
    scheme = dual_direction(max_pulses=300)
    outcome = {}
    for name, law in (("split", model), ("all per pulse", dataclasses.replace(model, sigma_ln_rate_pulse=None))):
        result = write_verify(ProgrammingEngine.for_scheme(law, scheme), scheme, levels, target, r0,
                              np.random.default_rng(2))
        low, high = levels.band(target)
        truly = (1 / result.r_final >= low) & (1 / result.r_final <= high)
        outcome[name] = (binomial_interval(int(result.success.sum()), target.size),
                         binomial_interval(int(truly.sum()), target.size), float(np.median(result.pulses)))
        print(name, outcome[name])
    (split, split_true, split_pulses), (lottery, lottery_true, lottery_pulses) = outcome.values()
    assert split.low > lottery.high and split_true.low > lottery_true.high and split_true.estimate > 0.5
    assert split_pulses < 0.5 * lottery_pulses


def test_cells_that_miss_verify_are_those_far_from_the_median_offset_and_a_fixed_word_line_needs_the_lottery(
        model, cards):
    """With each cell keeping its own SET rate offset (sigma ln 7), the cells that miss a
    32-level dual-direction verify are the fast and the slow ones (|z| large), and a fixed
    word line per level (erase, then the same SET pulse again and again) loses the per-pulse
    lottery that let it through: it verifies far fewer cells than with all of the spread
    redrawn per pulse, and far fewer than ISPP's rising ladder (disjoint 95 % intervals)."""
    from circuitkit.mlc import fixed_word_line, ispp

    levels = LevelMap(32)
    target = np.arange(1024) % 32
    r0 = hrs_start(cards, target.size, 5)
    scheme = dual_direction()
    rng = np.random.default_rng(6)
    cell_z = model.draw_cell_z(target.size, rng)
    result = write_verify(ProgrammingEngine.for_scheme(model, scheme), scheme, levels, target, r0, rng, cell_z=cell_z)
    missed = ~result.success
    print(f"missed {missed.sum()}, median |z| missed {np.median(np.abs(cell_z[missed])):.2f}, "
          f"verified {np.median(np.abs(cell_z[~missed])):.2f}")
    assert missed.sum() > 30, missed.sum()
    assert np.median(np.abs(cell_z[missed])) > 1.0 > np.median(np.abs(cell_z[~missed])), (
        np.median(np.abs(cell_z[missed])), np.median(np.abs(cell_z[~missed])))
    lottery = dataclasses.replace(model, sigma_ln_rate_pulse=None)
    verified = {}
    for name, law, scheme in (("fixed, split", model, fixed_word_line(model, levels)),
                              ("fixed, all per pulse", lottery, fixed_word_line(lottery, levels)),
                              ("ispp, split", model, ispp())):
        outcome = write_verify(ProgrammingEngine.for_scheme(law, scheme), scheme, levels, target[:512], r0[:512],
                               np.random.default_rng(7))
        verified[name] = binomial_interval(int(outcome.success.sum()), 512)
    print(verified)
    fixed = verified["fixed, split"]
    assert fixed.high < verified["fixed, all per pulse"].low and fixed.high < verified["ispp, split"].low, verified


def band_and_tight(model, cards):
    """8 levels of 16 uS, 2,100 cells from HRS, verified anywhere in the band or within
    +-4 uS of the target: per verify, the misreads of a later read (all cells and the
    verified ones), the median distance of the state left from its target, mean pulses."""
    levels = LevelMap(8)
    target = np.tile(np.arange(1, 8), 300)
    r0 = hrs_start(cards, target.size, 3)
    scheme = dual_direction()
    engine = ProgrammingEngine.for_scheme(model, scheme)
    outcome = {}
    for name, tolerance in (("band", None), ("tight", 4e-6)):
        rng = np.random.default_rng(4)
        result = write_verify(engine, scheme, levels, target, r0, rng, tolerance=tolerance)
        later = 1.0 / result.later_read(engine, rng)
        inside = analysis.confusion_counts(levels, target, later).trace()
        ok = result.success
        inside_ok = analysis.confusion_counts(levels, target[ok], later[ok]).trace()
        spread = np.median(np.abs(1.0 / result.r_final - levels.targets[target]))
        outcome[name] = {"all": binomial_interval(int(target.size - inside), target.size),
                         "verified": binomial_interval(int(ok.sum() - inside_ok), int(ok.sum())),
                         "spread": spread, "pulses": result.pulses.mean()}
    return outcome["band"], outcome["tight"]


@pytest.fixture(scope="module")
def verify_outcomes(model, cards):
    return band_and_tight(model, cards)


def test_verify_reads_carry_the_measured_read_noise_and_a_tight_verify_narrows_what_it_verified(
        model, card_model, cards, verify_outcomes):
    """The reads are the bundled read series' (0.0125 in ln R per read at 10.75 kohm),
    not the pulse card's read term (~10x that there); with them, among the cells a verify
    accepted, later reads leave their level far less often after a +-4 uS verify than
    after a band verify (disjoint 95 % intervals, by more than 10x). With the card's read
    term the tight verify buys nothing there (the verify and later reads' noise, +-10-20
    uS, swamps both acceptances)."""
    measured = engine_module.measured_read_noise()
    assert measured["reads"] == 10000 and measured["read_noise_sigma_ln"] == pytest.approx(0.0125, abs=5e-4)
    at = np.array([measured["median_ohm"]])
    assert model.read_noise.sigma_at(at)[0] == pytest.approx(measured["read_noise_sigma_ln"], rel=1e-9)
    assert card_model.read_noise.sigma_at(at)[0] > 5 * measured["read_noise_sigma_ln"]
    band, tight = verify_outcomes
    assert tight["verified"].high < band["verified"].low, (band, tight)
    assert tight["verified"].estimate < 0.1 * band["verified"].estimate, (band, tight)
    card_band, card_tight = band_and_tight(card_model, cards)
    assert card_tight["verified"].low > 0.1 * card_band["verified"].estimate, (card_band, card_tight)


def test_the_confusion_matrix_narrows_as_the_verify_tolerance_tightens(verify_outcomes):
    """8 levels of 16 uS: accepting anywhere in the band vs within +-4 uS of the target:
    later reads leave their level less often, strictly (disjoint 95 % intervals), and the
    states left lie closer to their targets. (Much tighter stops helping: the verify reads'
    own noise, a few uS here, sets the floor, and more cells run out of budget.)"""
    band, tight = verify_outcomes
    assert tight["all"].high < band["all"].low, (band["all"], tight["all"])
    assert tight["spread"] < 0.9 * band["spread"]  # 17 % closer with the refitted card, whose verify reads are noisier (sigma to 0.6)
    assert tight["pulses"] > band["pulses"]  # tighter verify costs pulses


def test_mlc_confusion_tables_use_the_ber_table_schema(tmp_path):
    assert scheme_alphabet("mlc32") == tuple(range(32)) and scheme_alphabet("mlc1") is None
    assert scheme_alphabet("mlc032") is None and scheme_alphabet("quaternary") is None
    levels = LevelMap(4)
    rng = np.random.default_rng(0)
    target = np.repeat(np.arange(4), 50)
    read = levels.targets[target] + rng.normal(0, 0.4 * levels.spacing, target.size)
    condition = Condition("mlc-test", 0.0, 27.0, levels.scheme)
    table = analysis.confusion_table(levels, target, read, condition)
    path = table.write(tmp_path / "t.csv")
    again = BerTable.read(path)
    assert again == table and again.transition_matrix(condition).alphabet == (0, 1, 2, 3)
    text = path.read_text().replace(",mlc4,", ",mlc65,", 1)
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(BerTableError, match="unknown scheme 'mlc65'"):
        BerTable.read(tmp_path / "bad.csv")


def test_pair_error_is_the_bayes_error_of_two_normals():
    rng = np.random.default_rng(1)
    for separation in (1.0, 2.0, 3.0):
        error = analysis.pair_error(rng.normal(0, 1, 20000), rng.normal(separation, 1, 20000))[0]
        expected = 0.5 * math.erfc(separation / 2 / math.sqrt(2))
        assert abs(error - expected) < 0.01, (separation, error, expected)


def test_measured_runs_have_32_levels_of_32_cells_and_some_distinguishable_levels():
    for name in ("read_mlc_good", "newwrite"):
        run = load_measured(name)
        assert len(run) == 1024 and np.all(np.bincount(run.target) == 32)
        medians = [np.median(run.conductance[run.target == k]) for k in range(32)]
        assert np.corrcoef(np.arange(32), medians)[0, 1] > 0.99 and 120e-6 < medians[-1] < 130e-6
        distinct = analysis.distinguishable_levels(run.target, run.conductance, 32)
        assert 4 <= distinct.count < 32 and distinct.adjacent_distinguishable < 31
    with pytest.raises(CircuitkitError, match="unknown bundled"):
        load_measured("nope")


def test_campaign_resumes_to_the_same_outputs_and_refuses_other_settings(tmp_path, cards):
    config = MlcConfig(levels=8, cells_per_level=24, batch_size=64, max_pulses=60)
    whole = run_mlc_campaign(config, tmp_path / "a", pulse_card=cards[0], start_card=cards[1], log=None)
    assert len(whole.result) == 192 and config.batches == 3
    interrupted = tmp_path / "b"
    run_mlc_campaign(config, interrupted, pulse_card=cards[0], start_card=cards[1], log=None)
    (interrupted / "samples" / "batch_0001.npz").unlink()  # as if killed before that batch was written
    resumed = run_mlc_campaign(config, interrupted, pulse_card=cards[0], start_card=cards[1], log=None)
    assert resumed.summary["batches_run_now"] == 1
    assert (interrupted / "ber_table.csv").read_text() == (tmp_path / "a" / "ber_table.csv").read_text()
    assert (interrupted / "levels.csv").read_text() == (tmp_path / "a" / "levels.csv").read_text()
    with pytest.raises(CircuitkitError, match="another config"):
        run_mlc_campaign(dataclasses.replace(config, max_pulses=61), interrupted, pulse_card=cards[0],
                         start_card=cards[1], log=None)
    assert "off" in whole.summary["drift"]
    # the rate spread's split is part of the key: a card with another split does not resume
    model = PulseModel.from_card(cards[0])
    other = dataclasses.replace(model, sigma_ln_rate_pulse=tuple(0.5 * s for s in model.sigma_ln_rate_per_pulse),
                                rate_split_note="another split")
    with pytest.raises(CircuitkitError, match="another pulse_card, rate_split"):
        run_mlc_campaign(config, interrupted, pulse_card=cards[0].with_values(pulse_model=other.to_dict()),
                         start_card=cards[1], log=None)
    assert whole.summary["rate_split"] == model.rate_split_text()


def test_campaign_cells_are_the_same_with_1_or_2_workers_and_after_resume(tmp_path, cards):
    """Each batch draws from the stream `circuitkit.seeding` names by the seed and the
    batch: two worker processes (batches finishing in any order), and a resume of them,
    give the cells of one process, array for array."""
    from circuitkit.seeding import value_seed

    config = MlcConfig(levels=8, cells_per_level=24, batch_size=48, max_pulses=40)
    serial = run_mlc_campaign(config, tmp_path / "one", pulse_card=cards[0], start_card=cards[1], log=None)
    parallel = tmp_path / "two"
    run_mlc_campaign(config, parallel, pulse_card=cards[0], start_card=cards[1], log=None, workers=2)
    (parallel / "samples" / "batch_0002.npz").unlink()    # as if killed before that batch was written
    resumed = run_mlc_campaign(config, parallel, pulse_card=cards[0], start_card=cards[1], log=None, workers=2)
    assert resumed.summary["batches_run_now"] == 1 and config.batches == 4
    for batch in range(config.batches):
        with np.load(tmp_path / "one" / "samples" / f"batch_{batch:04d}.npz") as one, \
                np.load(parallel / "samples" / f"batch_{batch:04d}.npz") as two:
            assert sorted(one.files) == sorted(two.files)
            for key in one.files:
                np.testing.assert_array_equal(one[key], two[key], err_msg=f"batch {batch}: {key}")
    assert (parallel / "ber_table.csv").read_text() == (tmp_path / "one" / "ber_table.csv").read_text()
    np.testing.assert_array_equal(resumed.later_read_ohm, serial.later_read_ohm)
    stream = np.random.Generator(np.random.PCG64(value_seed(config.seed, "mlc batch", 1)))
    with np.load(tmp_path / "one" / "samples" / "batch_0001.npz") as one:
        np.testing.assert_array_equal(one["r_start"], cards[1].distribution("HRS").sample(stream, 48))
    with pytest.raises(CircuitkitError, match="workers=0"):
        run_mlc_campaign(config, tmp_path / "three", pulse_card=cards[0], start_card=cards[1], log=None, workers=0)


def test_mlc_command_compares_with_the_real_runs(tmp_path):
    from circuitkit.cli import main

    assert main(["mlc", "--cells-per-level", "8", "--max-pulses", "50", "-o", str(tmp_path)]) == 0
    for name in ("ber_table.csv", "levels.csv", "summary.json", "comparison.json", "measured_ber_table.csv",
                 "mlc_levels.png", "mlc_confusion.png"):
        assert (tmp_path / name).exists(), name
    measured = BerTable.read(tmp_path / "measured_ber_table.csv")
    assert {c.corner for c in measured.conditions()} == {"measured-read_mlc_good", "measured-newwrite"}


def test_a_relaxation_model_relaxes_the_later_reads_and_is_part_of_the_campaign(tmp_path, cards):
    """`--drift-card`: the later read (what the comparison with the runs read 15-30 min after
    programming uses) relaxes each cell by the card's fitted relaxation model; the same cells
    read fresh keep their verify spread. The drift is in the campaign's key: a directory of
    fresh reads refuses a relaxed campaign, and a card without a relaxation model is named."""
    from circuitkit.device.relaxation import RelaxationModel
    from circuitkit.mlc.cli import add_parser

    config = MlcConfig(levels=8, cells_per_level=24, batch_size=64, max_pulses=60)
    widening = RelaxationModel(activation_energy_ev=0.6, time_exponent=0.2, s0=-0.3)   # spread ~0.6 in ln R after 22.5 min
    fresh = run_mlc_campaign(config, tmp_path / "fresh", pulse_card=cards[0], start_card=cards[1], log=None)
    relaxed = run_mlc_campaign(config, tmp_path / "relaxed", pulse_card=cards[0], start_card=cards[1], log=None,
                               drift=widening, drift_t_s=1350.0)
    np.testing.assert_array_equal(fresh.result.level, relaxed.result.level)   # the same cells, programmed alike
    spread = [np.std(np.log(c.later_read_ohm / c.result.r_final)) for c in (fresh, relaxed)]
    assert spread[1] > 2 * spread[0]
    assert "read 1350 s after programming" in relaxed.summary["drift"] and fresh.summary["drift"].startswith("off")
    with pytest.raises(CircuitkitError, match="another drift"):
        run_mlc_campaign(config, tmp_path / "fresh", pulse_card=cards[0], start_card=cards[1], log=None,
                         drift=widening, drift_t_s=1350.0)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    card_path = tmp_path / "no_relaxation.json"
    cards[1].save(card_path)
    args = parser.parse_args(["mlc", "--drift-card", str(card_path), "--no-compare", "-o", str(tmp_path / "cli")])
    with pytest.raises(CircuitkitError, match="no_relaxation.json: the card holds no relaxation model"):
        args.handler(args)
