"""Tolerance curves and knees: the estimator, its bootstrap interval, the bundled
networks' knees, and `circuitkit inject --tolerance`."""

import csv
import math

import numpy as np
import pytest

from circuitkit import cli
from circuitkit.inject.data import load_mnist5k
from circuitkit.inject.networks import PRETRAINED, load_network
from circuitkit.inject.tolerance import ToleranceConfig, bootstrap_knees, knee_of, tolerance_curve


@pytest.fixture(scope="module")
def mnist():
    return load_mnist5k()


def test_knee_is_interpolated_on_the_log_ber_grid():
    bers = np.array([1e-4, 1e-3, 1e-2, 1e-1])
    losses = np.array([0.0, 0.004, 0.024, 0.3])
    # 1 point lies 30 % of the way from 0.004 to 0.024: 10 ** (-3 + 0.3).
    ber, bound = knee_of(bers, losses, 0.01)
    assert bound == "" and ber == pytest.approx(10 ** -2.7)
    assert knee_of(bers, losses, 0.5) == (1e-1, "above")
    assert knee_of(bers, np.array([0.02, 0.1, 0.2, 0.3]), 0.01) == (1e-4, "below")
    # The first crossing counts: a later dip below the loss does not move the knee.
    assert knee_of(bers, np.array([0.0, 0.02, 0.005, 0.3]), 0.01)[0] < 1e-3


def test_bootstrap_interval_covers_a_known_knee():
    # Synthetic outcomes with a known accuracy curve: clean 0.95, the loss rising as
    # 0.2 * sqrt(ber / 0.1) (1 point at ber = 2.5e-4 exactly). 1,000 images, 100 trials.
    rng = np.random.default_rng(0)
    bers = np.geomspace(1e-5, 1e-1, 17)
    truth = 0.1 * (0.01 / 0.2) ** 2
    n, trials = 1000, 100
    clean = rng.random(n) < 0.95
    correct = np.empty((bers.size, trials, n), dtype=bool)
    for g, ber in enumerate(bers):
        loss = 0.2 * math.sqrt(ber / 0.1)
        # Each trial misclassifies a random share of the clean-correct images.
        flip = rng.random((trials, n)) < loss / 0.95
        correct[g] = clean & ~flip
    knee, = bootstrap_knees(bers, clean, correct, [0.01], 400, seed=1)
    print(f"knee {knee.ber:.3g} [{knee.low:.3g}, {knee.high:.3g}], true {truth:.3g}")
    assert knee.bound == "" and knee.low < truth < knee.high
    assert knee.high / knee.low < 5  # a usable interval, not the whole grid


def test_narrow_network_knee_lies_left_of_the_wide_ones(mnist):
    # The 5-point knee of the 16-wide perceptron against the 256-wide one (same input
    # code, same training): disjoint 95 % intervals. (Their 1-point knees are too close
    # to separate with 30 trials: see the README's knee table.)
    config = ToleranceConfig(ber_start=3e-3, ber_stop=0.1, points_per_decade=4, trials=30, bootstrap=400,
                             losses=(0.05,))
    knees = {}
    for name in ("bnn-fc-narrow", "bnn-fc"):
        curve = tolerance_curve(name, load_network(name), mnist.x_test, mnist.y_test, config)
        knees[name], = curve.knees
        print(f"{name}: 5-point knee {knees[name].text()}")
    narrow, wide = knees["bnn-fc-narrow"], knees["bnn-fc"]
    assert narrow.bound == wide.bound == ""
    assert narrow.high < wide.low


@pytest.mark.slow
def test_every_bundled_network_has_knees_with_intervals(mnist):
    # A coarse grid and a third of the test images keep this to about half a minute;
    # `circuitkit inject --tolerance --networks ...` gives the full figures.
    x, y = mnist.x_test[::3], mnist.y_test[::3]
    config = ToleranceConfig(ber_start=1e-3, ber_stop=0.2, points_per_decade=3, trials=16, bootstrap=200)
    for name in PRETRAINED:
        curve = tolerance_curve(name, load_network(name), x, y, config)
        one, five = curve.knees
        print(f"{name}: clean {curve.clean_accuracy:.3f}, knees -1 pt {one.text()}, -5 pt {five.text()}")
        assert (one.loss, five.loss) == (0.01, 0.05)
        for knee in (one, five):
            assert knee.bound in ("", "below", "above")
            if knee.bound == "":
                assert knee.low <= knee.ber <= knee.high and knee.low < knee.high
        assert five.bound == "" and five.ber >= one.ber


def test_tolerance_command_writes_curves_knees_and_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "STAGE_MODULES", ("circuitkit.inject.cli",))
    out = tmp_path / "tol"
    assert cli.main(["inject", "--tolerance", "--networks", "bnn-fc-narrow", "--ber-range", "1e-3:0.1",
                     "--points-per-decade", "2", "--trials", "4", "--bootstrap", "50", "-o", str(out)]) == 0
    with (out / "knees.csv").open() as handle:
        knees = list(csv.DictReader(handle))
    assert [(k["network"], float(k["loss_points"])) for k in knees] == [("bnn-fc-narrow", 1.0), ("bnn-fc-narrow", 5.0)]
    with (out / "tolerance_bnn-fc-narrow.csv").open() as handle:
        curve = list(csv.DictReader(handle))
    assert [float(r["ber"]) for r in curve] == pytest.approx([1e-3, 10 ** -2.5, 1e-2, 10 ** -1.5, 0.1], rel=1e-11)
    assert (out / "tolerance.png").stat().st_size > 10_000
    assert "knees (mnist5k, 1000 test images" in capsys.readouterr().out
