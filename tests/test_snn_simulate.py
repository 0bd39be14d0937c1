"""The SNN simulator: rate-code equivalence, charge conservation, a scalar reference,
device spread, stuck cells and cell flips, leakage, seeding."""

import dataclasses
import math

import numpy as np
import pytest

from circuitkit.ber_table import TransitionMatrix
from circuitkit.device.nonideality import StuckCells
from circuitkit.snn.cells import threshold_spread
from circuitkit.snn.simulate import (
    RateCoding,
    SnnError,
    build_chips,
    cell_states,
    encode,
    run_case,
    scalar_reference,
    simulate,
)
from circuitkit.snn.table import load_table
from circuitkit.snn.train import WeightError, load_snn_dataset, predict, train_snn_weights


@pytest.fixture(scope="module")
def digits():
    return load_snn_dataset("digits")


@pytest.fixture(scope="module")
def weights(digits):
    return train_snn_weights(digits).weights


@pytest.fixture(scope="module")
def table():
    return load_table()


def test_rate_code_equivalence_with_ideal_devices(digits, weights, table):
    # Ideal devices and many input spikes (256 per full pixel, the window stretched so the
    # input rate stays that of the default coding): the SNN's class is the quantized
    # network's on >= 97 % of the test images.
    coding = RateCoding("poisson", 256, RateCoding.window_s * 256 / RateCoding.max_spikes)
    run = run_case(weights, table, digits.x_test, chips=1, coding=coding)
    agreement = np.mean(run.predictions[0] == predict(digits.x_test, weights))
    assert agreement >= 0.97
    # At the reference's spike budget it is clearly lower: the budget, not the simulator.
    short = run_case(weights, table, digits.x_test, chips=1, coding=RateCoding())
    assert np.mean(short.predictions[0] == predict(digits.x_test, weights)) < agreement - 0.03


def test_subtract_reset_conserves_charge(digits, weights, table):
    # With a reset that removes exactly the threshold charge and no refractory limit, the
    # net spike count is the total charge in thresholds, rounded towards zero by less
    # than one: net * Q_th + V_final = Q with |V_final| < Q_th.
    neuron = dataclasses.replace(table.neuron, reset="subtract", refractory_s=0.0,
                                 charge_to_threshold_neg_c=table.neuron.charge_to_threshold_pos_c)
    subtracting = dataclasses.replace(table, neuron=neuron)
    coding = RateCoding("regular", 16)
    chips = build_chips(weights, subtracting, 1)
    run = simulate(chips, digits.x_test, coding, neuron)
    counts = np.floor(digits.x_test * coding.max_spikes + 0.5)
    charge = counts @ chips.charge_mean[0, :-1]
    in_thresholds = charge / neuron.charge_to_threshold_pos_c
    assert np.all(np.abs(run.net_counts[0] - in_thresholds) < 1 + 1e-9)
    assert np.mean(run.predictions[0] == predict(digits.x_test, weights)) >= 0.99


@pytest.mark.parametrize("reset", ["rest", "subtract"])
def test_vectorized_simulation_matches_a_scalar_loop(digits, weights, table, reset):
    # Device and threshold spread on, read noise off (so both see the same charges), a
    # refractory time long enough to bind often and a short window.
    neuron = dataclasses.replace(table.neuron, reset=reset, refractory_s=300e-9)
    synapse = dataclasses.replace(table.synapse, read_noise_rel=0.0)
    case = dataclasses.replace(table, neuron=neuron, synapse=synapse)
    coding = RateCoding("poisson", 10, 4e-6)
    x = digits.x_test[:25]
    chips = build_chips(weights, case, 2, seed=3, device=case.device())
    run = simulate(chips, x, coding, neuron, seed=3)
    for chip in range(2):
        positive, negative = scalar_reference(chips, x, coding, neuron, seed=3, chip=chip)
        np.testing.assert_array_equal(run.positive[chip], positive)
        np.testing.assert_array_equal(run.negative[chip], negative)
    assert run.positive.sum() > 100 and run.negative.sum() > 100


def test_accuracy_falls_as_the_hrs_lrs_ratio_shrinks(digits, weights, table):
    means, lows, highs = [], [], []
    for ratio in (table.synapse.on_off_ratio, 2.0, 1.5):
        run = run_case(weights, table.with_on_off_ratio(ratio), digits.x_test, chips=6, device=table.device())
        accuracy = run.accuracies(digits.y_test)
        half = 2.571 * accuracy.std(ddof=1) / math.sqrt(accuracy.size)  # Student t, 5 dof
        means.append(accuracy.mean())
        lows.append(accuracy.mean() - half)
        highs.append(accuracy.mean() + half)
    assert means[0] > means[1] > means[2]
    assert highs[1] < lows[0] and highs[2] < lows[1]


def test_device_spread_follows_the_table(weights, table):
    # All-zero weights: every synapse is 4 positive HRS cells minus 4 negative HRS cells.
    zero = np.zeros_like(weights)
    chips = build_chips(zero, table, 20, seed=1, device=table.device())
    syn = table.synapse
    variance = np.exp(syn.hrs_sigma_ln**2) - 1  # relative variance of a lognormal current
    median = 4 * (syn.hrs_current_a - syn.hrs_current_neg_a) * syn.t_read_s
    mean = median * math.exp(syn.hrs_sigma_ln**2 / 2)  # a lognormal's mean is above its median
    sigma = syn.t_read_s * math.sqrt(4 * variance) * math.hypot(syn.hrs_current_a, syn.hrs_current_neg_a) \
        * math.exp(syn.hrs_sigma_ln**2 / 2)
    charges = chips.charge_mean[:, :-1].ravel()  # 12 800 synapses
    assert abs(charges.mean() - mean) < 4 * sigma / math.sqrt(charges.size)
    assert charges.std() == pytest.approx(sigma, rel=0.05)
    ideal = build_chips(zero, table, 2)
    np.testing.assert_allclose(ideal.charge_mean[:, :-1], median, rtol=1e-12)
    assert np.all(ideal.charge_std == 0)
    # Thresholds spread by the table's relative sigma.
    spread = chips.threshold_pos / table.neuron.charge_to_threshold_pos_c
    assert spread.std() == pytest.approx(table.neuron.threshold_sigma_rel, rel=0.25)


def test_bit_errors_flip_cell_states(weights, table):
    # Every LRS cell reads as HRS: all synapses look like weight 0 whatever they store.
    all_off = TransitionMatrix((-1, 1), np.array([[1.0, 0.0], [1.0, 0.0]]))
    chips = build_chips(weights, table, 2, flips=all_off)
    zero = build_chips(np.zeros_like(weights), table, 1)
    np.testing.assert_allclose(chips.charge_mean, np.broadcast_to(zero.charge_mean, chips.charge_mean.shape))
    # A symmetric 10 % error rate changes about 10 % of cells, differently per chip.
    flip = TransitionMatrix((-1, 1), np.array([[0.9, 0.1], [0.1, 0.9]]))
    noisy = build_chips(weights, table, 2, seed=5, flips=flip)
    clean = build_chips(weights, table, 1)
    changed = ~np.isclose(noisy.charge_mean, clean.charge_mean, rtol=1e-9, atol=0.0)
    assert 0.3 < changed[:, :-1].mean() < 0.8  # a synapse changes when any of its 8 cells does
    assert not np.array_equal(noisy.charge_mean[0], noisy.charge_mean[1])
    with pytest.raises(SnnError, match="binary transition matrix"):
        build_chips(weights, table, 1, flips=TransitionMatrix((-1, 0, 1), np.eye(3)))


def test_stuck_cells_take_the_other_states_current(weights, table):
    # Every cell programmed to HRS stuck in LRS: each synapse has all 4 + 4 cells in LRS,
    # so the net charge is what an all-LRS pattern gives, whatever the weight (a table
    # without device spread and read noise, nominal neurons: only the stuck cells act).
    flat = dataclasses.replace(table, synapse=dataclasses.replace(table.synapse, lrs_sigma_ln=0.0, hrs_sigma_ln=0.0,
                                                                  read_noise_rel=0.0))
    stuck_device = dataclasses.replace(flat.device(), stuck=StuckCells(1.0, 0.0))
    all_lrs = build_chips(weights, flat, 2, device=stuck_device, mismatch=False)
    syn = table.synapse
    expected = 4 * (syn.lrs_current_a - syn.lrs_current_neg_a) * syn.t_read_s
    np.testing.assert_allclose(all_lrs.charge_mean[:, :-1], expected, rtol=1e-12)
    # At a realistic rate: about that fraction of the HRS cells flips, never an LRS cell,
    # and differently on each chip.
    states = cell_states(weights)
    rate = 0.01
    stuck = StuckCells(rate, 0.0)
    from circuitkit.inject.sampler import ErrorInjector
    from circuitkit.seeding import child_seed

    flipped = [ErrorInjector(states, (-1, 1), stuck.transition().matrix).corrupted(1, child_seed(3, 4), first_trial=c)[0]
               for c in range(2)]
    for chip in flipped:
        assert np.all(chip[states > 0] > 0)
        share = np.mean(chip[states < 0] > 0)
        assert abs(share - rate) < 4 * np.sqrt(rate * (1 - rate) / np.sum(states < 0))
    assert not np.array_equal(flipped[0], flipped[1])
    chips = build_chips(weights, flat, 2, seed=3, device=dataclasses.replace(flat.device(), stuck=stuck),
                        mismatch=False)
    clean = build_chips(weights, table, 1)
    assert not np.allclose(chips.charge_mean, clean.charge_mean, rtol=1e-9, atol=0.0)
    # The chips hold exactly the stuck-cell draws above: the same charges as those states read ideally.
    for chip, states_of_chip in enumerate(flipped):
        positive = (states_of_chip[:, :, 0] > 0).sum(axis=-1)
        negative = (states_of_chip[:, :, 1] > 0).sum(axis=-1)
        syn = flat.synapse
        expected = (positive * syn.lrs_current_a + (4 - positive) * syn.hrs_current_a
                    - negative * syn.lrs_current_neg_a - (4 - negative) * syn.hrs_current_neg_a) * syn.t_read_s
        np.testing.assert_allclose(chips.charge_mean[chip, :-1], expected, rtol=1e-9)


def test_stuck_cell_defaults_and_threshold_spread_carry_their_evidence(table):
    stuck = StuckCells.dataset_default()
    assert stuck.is_default and (stuck.stuck_lrs, stuck.stuck_hrs) == (1 / 2724, 0.0)
    low, high = stuck.intervals()["stuck_hrs"]
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 2724))  # zero failures in 2,724: the rule of three
    upper = stuck.upper_bounds()
    assert upper.stuck_lrs > stuck.stuck_lrs and upper.stuck_hrs == high and not upper.is_default
    with pytest.raises(Exception, match="stuck_lrs must be a probability"):
        StuckCells(1.5, 0.0)
    spread = threshold_spread(table)
    assert spread.samples == table.provenance["fits"]["mc_samples"] and spread.enough
    assert spread.low < table.neuron.threshold_sigma_rel < spread.high


def test_cell_states_encode_the_weights():
    states = cell_states(np.array([[4, -3, 0, 1]]))
    assert states.shape == (1, 4, 2, 4)
    lrs = (states > 0).sum(axis=-1)  # (1, 4, 2): LRS cells per polarity
    np.testing.assert_array_equal(lrs[0], [[4, 0], [0, 3], [0, 0], [1, 0]])
    with pytest.raises(WeightError, match="outside -4..\\+4"):
        cell_states(np.array([[5, 0]]))


def test_chips_and_runs_are_reproducible_and_independent_of_grouping(digits, weights, table):
    x = digits.x_test[:60]
    spread = table.device()
    five = simulate(build_chips(weights, table, 5, seed=9, device=spread), x, RateCoding(), table.neuron, seed=9)
    again = simulate(build_chips(weights, table, 5, seed=9, device=spread), x, RateCoding(), table.neuron,
                     seed=9, max_bytes=1)  # one chip per group
    np.testing.assert_array_equal(five.net_counts, again.net_counts)
    np.testing.assert_array_equal(five.predictions, again.predictions)
    later = build_chips(weights, table, 2, seed=9, device=spread, first_chip=3)
    run = simulate(later, x, RateCoding(), table.neuron, seed=9, first_chip=3)
    np.testing.assert_array_equal(run.net_counts, five.net_counts[3:])
    other = simulate(build_chips(weights, table, 5, seed=10, device=spread), x, RateCoding(), table.neuron,
                     seed=10)
    assert not np.array_equal(other.net_counts, five.net_counts)


def test_encoding_counts_and_order():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(200, 30))
    poisson = encode(x, RateCoding("poisson", 5, 1e-6), np.random.default_rng(1))
    assert poisson.counts.sum() == pytest.approx(x.sum() * 5, rel=0.02)
    regular = encode(x, RateCoding("regular", 5, 1e-6), np.random.default_rng(1))
    np.testing.assert_array_equal(regular.counts, np.floor(x * 5 + 0.5).sum(axis=1))
    for spikes in (poisson, regular):
        assert np.all(np.diff(spikes.times, axis=1) >= 0)
        width = spikes.pixels.shape[1]
        real = np.arange(width)[None, :] < spikes.counts[:, None]
        assert np.all(spikes.pixels[~real] == 30) and np.all(spikes.times[~real] == 1e-6)
        assert np.all((spikes.times[real] >= 0) & (spikes.times[real] < 1e-6))
        # Each real event of image i is one of its pixels' spikes: per-pixel counts add up.
        per_pixel = np.zeros_like(x, dtype=int)
        np.add.at(per_pixel, (np.nonzero(real)[0], spikes.pixels[real]), 1)
        assert per_pixel.sum() == spikes.counts.sum()
    # Regular spikes of one pixel are evenly spaced over the window.
    one = encode(np.array([[0.8]]), RateCoding("regular", 5, 1e-6), np.random.default_rng(0))
    np.testing.assert_allclose(one.times[0], (np.arange(4) + 0.5) / 4 * 1e-6)


def test_bad_inputs_get_clear_errors(weights, table):
    chips = build_chips(weights, table, 1)
    with pytest.raises(SnnError, match=r"expected \(N >= 1, 64\)"):
        simulate(chips, np.zeros((3, 144)), RateCoding(), table.neuron)
    with pytest.raises(SnnError, match="expected \\(N >= 1, 64\\)"):
        simulate(chips, np.zeros((0, 64)), RateCoding(), table.neuron)
    with pytest.raises(SnnError, match=r"\[0, 1\]"):
        simulate(chips, np.full((2, 64), 2.0), RateCoding(), table.neuron)
    with pytest.raises(SnnError, match="coding"):
        RateCoding("burst")
    with pytest.raises(SnnError, match="chips must be >= 1"):
        build_chips(weights, table, 0)
