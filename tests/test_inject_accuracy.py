"""Accuracy under bit errors: tolerance curve, training with injection, ternary vs
binary errors, seeding by value, and the `circuitkit inject` command."""

import csv

import numpy as np
import pytest

from circuitkit import cli
from circuitkit.ber_table import BerTable, Condition, TransitionMatrix
from circuitkit.inject.accuracy import ACCURACY_COLUMNS, evaluate_table, sweep_table, trial_accuracies
from circuitkit.inject.data import load_digits
from circuitkit.inject.train import TrainingConfig, train

# Small perceptrons trained on the 8x8 digits in a second each: the statistics of these
# tests are about the injection, not about a particular network.
LEVELS = (0.25, 0.5, 0.75)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def bnn(digits):
    return train(digits, TrainingConfig(kind="bnn", architecture=("dense128",), input_thresholds=LEVELS, epochs=30,
                                        dataset="digits"))


@pytest.fixture(scope="module")
def tnn(digits):
    return train(digits, TrainingConfig(kind="tnn", architecture=("dense128",), input_thresholds=LEVELS, epochs=30,
                                        dataset="digits"))


def symmetric(ber: float, scheme: str = "binary") -> TransitionMatrix:
    table = BerTable.symmetric(ber, scheme)
    return table.transition_matrix(table.conditions()[0])


def test_tolerance_curve_is_flat_to_1e_4_and_degraded_at_1e_1(bnn, digits):
    clean = bnn.accuracy(digits.x_test, digits.y_test)
    results = evaluate_table(bnn, digits.x_test, digits.y_test, sweep_table(1e-6, 1e-1, 6, "binary"), trials=100, seed=0)
    curve = {r.ber: r.accuracy for r in results}
    print("tolerance curve (BNN, digits):", {f"{b:g}": round(a.mean, 4) for b, a in curve.items()}, f"clean {clean:.4f}")
    assert sorted(curve) == [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    for ber in (1e-6, 1e-5, 1e-4):
        assert abs(curve[ber].mean - clean) <= 0.01, f"BER {ber:g}"
    assert clean - curve[1e-1].mean >= 0.05
    assert curve[1e-1].high < clean  # the whole interval sits below the clean accuracy
    assert all(a.samples == 100 for a in curve.values())


def test_training_with_error_injection_helps_at_5e_2(digits):
    # A narrow network trained with and without injected errors (5 %), four seeds each,
    # so that the interval covers the training randomness (one lucky initialisation moves
    # a network by a point or two), not only the injection trials: Welch's 95 % interval
    # of the difference of the seed means must lie above zero.
    from scipy import stats as scipy_stats

    accuracies = {}
    for train_ber in (0.0, 0.05):
        accuracies[train_ber] = [
            trial_accuracies(train(digits, TrainingConfig(architecture=("dense64",), input_thresholds=LEVELS,
                                                          train_ber=train_ber, seed=seed, dataset="digits")),
                             digits.x_test, digits.y_test, symmetric(0.05), 50, seed=9).mean()
            for seed in range(4)]
    test = scipy_stats.ttest_ind(accuracies[0.05], accuracies[0.0], equal_var=False)
    low, high = test.confidence_interval(0.95)
    margin = np.mean(accuracies[0.05]) - np.mean(accuracies[0.0])
    print(f"accuracy at BER 5e-2 over 4 seeds: plain {np.round(accuracies[0.0], 4)}, error-aware "
          f"{np.round(accuracies[0.05], 4)}: +{margin * 100:.2f} points (95 % CI {low * 100:.2f} .. {high * 100:.2f})")
    assert low > 0


def test_ternary_errors_hurt_a_tnn_less_than_binary_flips_hurt_a_bnn(bnn, tnn, digits):
    # Same total error rate p (mean misread probability per weight): the ternary table
    # only moves 0 <-> +-1, the binary one flips signs.
    p, trials = 0.1, 100
    ternary = TransitionMatrix((-1, 0, 1), np.array([[1 - p, p, 0], [p / 2, 1 - p, p / 2], [0, p, 1 - p]]))
    assert ternary.error_rate == pytest.approx(symmetric(p).error_rate)
    bnn_drop = bnn.accuracy(digits.x_test, digits.y_test) - trial_accuracies(bnn, digits.x_test, digits.y_test, symmetric(p), trials, 1).mean()
    tnn_drop = tnn.accuracy(digits.x_test, digits.y_test) - trial_accuracies(tnn, digits.x_test, digits.y_test, ternary, trials, 1).mean()
    print(f"at error rate {p}: BNN with sign flips loses {bnn_drop * 100:.2f} points, TNN with 0<->+-1 errors {tnn_drop * 100:.2f}")
    assert [w.shape for w in bnn.weights] == [w.shape for w in tnn.weights]
    assert tnn_drop < bnn_drop / 2


def test_accuracies_do_not_depend_on_the_memory_budget(bnn, digits):
    matrix = symmetric(0.05)
    roomy = trial_accuracies(bnn, digits.x_test, digits.y_test, matrix, 7, seed=3)
    tight = trial_accuracies(bnn, digits.x_test, digits.y_test, matrix, 7, seed=3, max_bytes=1)
    np.testing.assert_array_equal(roomy, tight)
    assert roomy.std() > 0


def test_ci_high_bound_injects_more_errors(bnn, digits):
    condition = Condition("tt", 1.2, 27.0, "binary")
    table = BerTable.from_counts({condition: np.array([[990, 10], [20, 980]])})
    estimate, = evaluate_table(bnn, digits.x_test, digits.y_test, table, trials=5)
    pessimistic, = evaluate_table(bnn, digits.x_test, digits.y_test, table, trials=5, bound="ci_high")
    assert estimate.ber == pytest.approx(0.015)
    assert pessimistic.ber > estimate.ber and pessimistic.bound == "ci_high"


def test_a_conditions_result_does_not_depend_on_its_row_in_the_table(bnn, digits):
    # Seeds derive from the condition's values: reordering the table, or adding other
    # conditions, leaves each condition's trials unchanged.
    a, b, c = (Condition(corner, 1.2, 27.0, "binary") for corner in ("tt", "ss", "ff"))
    counts = {a: np.array([[990, 10], [20, 980]]), b: np.array([[950, 50], [40, 960]]), c: np.array([[999, 1], [2, 998]])}
    forward = BerTable.from_counts(counts)
    backward = BerTable.from_counts({k: counts[k] for k in (c, b, a)})
    alone = BerTable.from_counts({b: counts[b]})
    by_forward = {r.condition: r.accuracy for r in evaluate_table(bnn, digits.x_test, digits.y_test, forward, trials=6)}
    by_backward = {r.condition: r.accuracy for r in evaluate_table(bnn, digits.x_test, digits.y_test, backward, trials=6)}
    only_b, = evaluate_table(bnn, digits.x_test, digits.y_test, alone, trials=6)
    assert by_forward == by_backward and only_b.accuracy == by_forward[b]
    assert by_forward[a] != by_forward[b]  # different conditions do draw differently


@pytest.fixture
def run_cli(monkeypatch):
    """`circuitkit ...` restricted to this stage, so other stages' work in progress
    cannot break these tests (that inject is registered is tested separately)."""
    monkeypatch.setattr(cli, "STAGE_MODULES", ("circuitkit.inject.cli",))
    return cli.main


def test_inject_is_a_registered_stage():
    assert "circuitkit.inject.cli" in cli.STAGE_MODULES


def test_cli_ber_table_writes_csv_and_plot(run_cli, tmp_path, capsys):
    table = BerTable.from_counts({
        Condition("tt", 1.2, 27.0, "binary"): np.array([[999, 1], [2, 998]]),
        Condition("ss", 0.9, 85.0, "binary"): np.array([[90, 10], [5, 95]]),
        Condition("ss", 0.9, 85.0, "ternary"): np.array([[95, 5, 0], [5, 90, 5], [0, 5, 95]]),
    })
    path = table.write(tmp_path / "ber.csv")
    assert run_cli(["inject", "--ber-table", str(path), "--trials", "5", "--seed", "1", "-o", str(tmp_path / "out")]) == 0
    with (tmp_path / "out" / "accuracy.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == ACCURACY_COLUMNS
    assert [(r["corner"], r["scheme"]) for r in rows] == [("tt", "binary"), ("ss", "binary"), ("ss", "ternary")]
    assert float(rows[1]["ber"]) == pytest.approx(0.075) and rows[1]["trials"] == "5"
    assert float(rows[0]["accuracy_mean"]) > float(rows[1]["accuracy_mean"])
    assert float(rows[1]["ci_low"]) <= float(rows[1]["accuracy_mean"]) <= float(rows[1]["ci_high"])
    assert (tmp_path / "out" / "accuracy_vs_ber.png").stat().st_size > 1000
    assert "accuracy without errors" in capsys.readouterr().out


def test_cli_sweep_and_scheme_filter(run_cli, tmp_path):
    out = tmp_path / "sweep"
    assert run_cli(["inject", "--sweep-ber", "1e-4:1e-1", "--sweep-points", "4", "--network", "tnn-fc", "--trials", "3",
                    "-o", str(out)]) == 0
    with (out / "accuracy.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["ber"]) for r in rows] == [1e-4, 1e-3, 1e-2, 1e-1]
    assert {r["scheme"] for r in rows} == {"ternary"}
    assert len(BerTable.read(out / "ber_table.csv").conditions()) == 4


def test_cli_reports_bad_input_without_traceback(run_cli, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("corner,vdd,temp_c,scheme,stored,read,samples,count,probability,ci_low,ci_high,method\n"
                   "tt,1.2,27,binary,-1,-1,0,0,0.9,0.9,0.9,synthetic\n"
                   "tt,1.2,27,binary,-1,1,0,0,0.05,0.05,0.05,synthetic\n"
                   "tt,1.2,27,binary,1,-1,0,0,0.0,0.0,0.0,synthetic\n"
                   "tt,1.2,27,binary,1,1,0,0,1.0,1.0,1.0,synthetic\n")
    assert run_cli(["inject", "--ber-table", str(bad), "-o", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err
    assert "probabilities sum to 0.95" in error and str(bad) in error and "Traceback" not in error

    ternary_only = BerTable.symmetric(0.01, "binary").write(tmp_path / "binary.csv")
    assert run_cli(["inject", "--ber-table", str(ternary_only), "--network", "tnn", "-o", str(tmp_path / "o")]) == 2
    assert "not in the table's alphabet (-1, 1): 0" in capsys.readouterr().err

    assert run_cli(["inject", "--ber-table", str(ternary_only), "--scheme", "ternary", "-o", str(tmp_path / "o")]) == 2
    assert "no condition with scheme 'ternary'" in capsys.readouterr().err

    with pytest.raises(SystemExit):
        run_cli(["inject", "--sweep-ber", "1e-3", "-o", str(tmp_path / "o")])
    assert "expected START:STOP" in capsys.readouterr().err
