"""Errors where the hardware puts them: per-amplifier offsets from the rare-event fit
(corners.rare.conditional_error_probabilities), array mapping, column-correlated vs
independent injection at the same mean BER, per-layer conditions, the CLI."""

import csv
import json

import numpy as np
import pytest
from scipy import stats as scipy_stats

from circuitkit import cli
from circuitkit.ber_table import TransitionMatrix
from circuitkit.corners.rare import OffsetFit, conditional_error_probabilities, error_probabilities
from circuitkit.device.nonideality import DeviceNonideality
from circuitkit.inject.accuracy import placement_comparison
from circuitkit.inject.data import load_mnist5k
from circuitkit.inject.networks import load_network
from circuitkit.inject.placement import (
    ArrayGeometry,
    ColumnOffsetErrors,
    HardwareErrors,
    HardwareInjector,
    IndependentErrors,
    offset_models,
)

# A weak read: 4x resistance window, amplifier offsets wide against the state spread,
# so the mean BER is about 1e-2 and a few columns carry most of the errors.
SPREAD = DeviceNonideality.given(10e3, 0.1, 40e3, 0.3)


def offset_fit(x0=0.0, sigma=0.55):
    return OffsetFit(x0, sigma, np.diag([1e-4, 1e-4]), np.array([-0.2, 0.0, 0.2]), np.array([32.0] * 3),
                     np.array([2.0, 16.0, 30.0]), False)


@pytest.fixture(scope="module")
def mnist():
    data = load_mnist5k()
    return data.x_test[::2], data.y_test[::2]  # 500 images, 50 of each class


def test_conditional_error_probability_averages_to_the_campaign_ber():
    fit = offset_fit(x0=0.1, sigma=0.4)
    offsets = np.random.default_rng(0).normal(0.0, fit.sigma, 400_000)
    conditional = conditional_error_probabilities(fit, SPREAD, offsets)
    marginal = error_probabilities(fit, SPREAD)
    for stored in (+1, -1):
        values = conditional[stored]
        standard_error = values.std() / np.sqrt(values.size)
        assert abs(values.mean() - marginal[stored][0]) < 4 * standard_error, stored
    # A larger offset makes reading +1 harder and -1 easier, monotonically.
    grid = np.linspace(-1, 1, 9)
    p = conditional_error_probabilities(fit, SPREAD, grid)
    assert np.all(np.diff(p[+1]) > 0) and np.all(np.diff(p[-1]) < 0)
    # No device spread: an amplifier fails always or never.
    exact = DeviceNonideality.given(10e3, 0.0, 40e3, 0.0)
    step = conditional_error_probabilities(fit, exact, np.array([-2.0, 0.0, 2.0]))
    np.testing.assert_array_equal(step[+1], [0.0, 0.0, 1.0])


def test_offset_fit_round_trips_through_the_campaign_summary():
    fit = offset_fit()
    again = OffsetFit.from_dict(json.loads(json.dumps({"corner": "tt", **fit.to_dict()})))
    assert again.x0 == fit.x0 and again.sigma == fit.sigma and again.separated == fit.separated
    np.testing.assert_array_equal(again.covariance, fit.covariance)


def test_array_mapping_gives_each_column_block_one_amplifier():
    geometry = ArrayGeometry(rows=4, columns=2)
    amplifier = geometry.amplifier_of((10, 3)).reshape(10, 3)
    assert geometry.amplifiers((10, 3)) == 9 and geometry.arrays((10, 3)) == 3 * 2
    # Rows 0-3 of column j share one amplifier, rows 4-7 another, rows 8-9 a third.
    for j in range(3):
        assert len(set(amplifier[:4, j])) == 1 and len(set(amplifier[4:8, j])) == 1 and len(set(amplifier[8:, j])) == 1
        assert len({amplifier[0, j], amplifier[4, j], amplifier[8, j]}) == 3
    assert len(np.unique(amplifier)) == 9


def test_column_errors_cluster_on_amplifiers_with_the_models_mean_rate():
    network = load_network("bnn-fc-narrow")
    geometry = ArrayGeometry(rows=128, columns=128)
    model = ColumnOffsetErrors(offset_fit(), SPREAD, geometry)
    injector = HardwareInjector(network, HardwareErrors.uniform(network, model))
    trials = 60
    corrupted = injector.corrupted(trials, seed=1)
    errors = corrupted != network.flat_weights()
    # Mean rate: the model's (the campaign's) BER, within the trial-to-trial spread.
    rates = errors.mean(axis=1)
    assert abs(rates.mean() - model.mean_error_rate) < 4 * rates.std(ddof=1) / np.sqrt(trials)
    # Clustering: errors per amplifier are far more dispersed than independent errors at
    # the same rate (variance / binomial variance); the model predicts by how much:
    # (E[n p_o (1 - p_o)] + n^2 Var(p_o)) / (n p (1 - p)) for n weights per amplifier.
    first = network.weight_layers[0]
    amplifier = geometry.amplifier_of(first.matrix_shape)
    per_amplifier = np.stack([np.bincount(amplifier, weights=e[network.layer_slices()[0]]) for e in errors[:10]])
    size = np.bincount(amplifier)
    p = per_amplifier.sum() / (10 * size.sum())
    dispersion = per_amplifier.var() / np.mean(size * p * (1 - p))
    p_o = np.mean([conditional_error_probabilities(model.fit, SPREAD, np.random.default_rng(2).normal(
        0, model.fit.sigma, 200_000))[s] for s in (+1, -1)], axis=0)
    n = 128
    expected = (np.mean(n * p_o * (1 - p_o)) + n * n * p_o.var()) / (n * p_o.mean() * (1 - p_o.mean()))
    print(f"dispersion of errors per amplifier: {dispersion:.1f} (model {expected:.1f}; independent errors: 1)")
    assert expected / 2 < dispersion < expected * 2 and dispersion > 5
    independent = HardwareInjector(network, HardwareErrors.uniform(network, model.marginal())).corrupted(10, seed=1)
    independent_errors = independent != network.flat_weights()
    flat = np.stack([np.bincount(amplifier, weights=e[network.layer_slices()[0]]) for e in independent_errors])
    assert flat.var() / np.mean(size * p * (1 - p)) < 2


def test_column_correlated_errors_hurt_more_than_independent_ones_at_the_same_ber(mnist):
    x, y = mnist
    network = load_network("bnn-fc")
    model = ColumnOffsetErrors(offset_fit(), SPREAD, ArrayGeometry(128, 128))
    assert model.marginal().mean_error_rate == pytest.approx(model.mean_error_rate, rel=1e-12)
    comparison = placement_comparison(network, x, y, model, trials=20, seed=3)
    d, low, high = comparison.difference
    print(f"mean BER {comparison.mean_ber:.3g}: independent {comparison.independent.mean:.4f} "
          f"[{comparison.independent.low:.4f}, {comparison.independent.high:.4f}], column {comparison.column.mean:.4f} "
          f"[{comparison.column.low:.4f}, {comparison.column.high:.4f}], difference {d * 100:+.2f} points "
          f"(95 % CI {low * 100:+.2f} .. {high * 100:+.2f})")
    assert 5e-3 < comparison.mean_ber < 3e-2
    assert comparison.column.high < comparison.independent.low  # strictly, with intervals
    assert high < 0


def test_per_layer_models_corrupt_only_their_own_layer():
    network = load_network("bnn-fc-narrow")
    clean = TransitionMatrix((-1, 1), np.eye(2))
    noisy = TransitionMatrix((-1, 1), np.array([[0.9, 0.1], [0.1, 0.9]]))
    errors = HardwareErrors.per_layer(network, [IndependentErrors(clean), IndependentErrors(noisy)])
    corrupted = HardwareInjector(network, errors).corrupted(4, seed=0)
    first, second = network.layer_slices()
    assert np.array_equal(corrupted[:, first], np.broadcast_to(network.flat_weights()[first], corrupted[:, first].shape))
    changed = np.mean(corrupted[:, second] != network.flat_weights()[second])
    assert scipy_stats.binomtest(int(changed * corrupted[:, second].size), corrupted[:, second].size, 0.1).pvalue > 1e-3
    assert errors.mean_error_rate(network) == pytest.approx(0.1 * network.weights[1].size / network.n_weights)
    with pytest.raises(Exception, match="give one per layer"):
        HardwareErrors.per_layer(network, [IndependentErrors(clean)])
    with pytest.raises(Exception, match="binary 2T2R read of a bnn"):
        HardwareInjector(load_network("tnn-fc"), HardwareErrors.uniform(load_network("tnn-fc"),
                                                                        ColumnOffsetErrors(offset_fit(), SPREAD)))


def _campaign(tmp_path, fits):
    summary = {"settings": {"spread": {"lrs_median_ohm": 10e3, "lrs_sigma_ln": 0.1, "lrs_samples": None,
                                       "hrs_median_ohm": 40e3, "hrs_sigma_ln": 0.3, "hrs_samples": None}},
               "offset_fits": fits}
    directory = tmp_path / "campaign"
    directory.mkdir(parents=True)
    (directory / "campaign.json").write_text(json.dumps(summary))
    return directory


def test_offset_campaign_command_compares_the_placements(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "STAGE_MODULES", ("circuitkit.inject.cli",))
    fits = [{"corner": corner, "vdd": 1.2, "temp_c": 27.0, "scheme": "binary", **offset_fit(sigma=sigma).to_dict()}
            for corner, sigma in (("ss", 0.55), ("tt", 0.2))]
    directory = _campaign(tmp_path, fits)
    models = offset_models(directory / "campaign.json")
    assert [m.label for m in models.values()] == ["ss vdd=1.2 V T=27 C binary", "tt vdd=1.2 V T=27 C binary"]
    out = tmp_path / "out"
    assert cli.main(["inject", "--offset-campaign", str(directory), "--network", "bnn-fc-narrow", "--trials", "4",
                     "--dataset", "digits", "-o", str(out)]) == 2  # 8x8 digits do not fit a 28x28 network
    assert "do not fit the network" in capsys.readouterr().err
    assert cli.main(["inject", "--offset-campaign", str(directory), "--network", "bnn-fc-narrow", "--trials", "4",
                     "-o", str(out)]) == 0
    with (out / "placement.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["corner"], r["placement"]) for r in rows] == [("ss", "independent"), ("ss", "column"),
                                                              ("tt", "independent"), ("tt", "column")]
    assert float(rows[0]["mean_ber"]) > float(rows[2]["mean_ber"])
    empty = _campaign(tmp_path / "empty", [])
    assert cli.main(["inject", "--offset-campaign", str(empty), "-o", str(out)]) == 2
    assert "no offset_fits; run the campaign with `circuitkit ber --method offset`" in capsys.readouterr().err
