"""Chip-size 2T2R arrays: the read margin by position (ngspice), the position-rate table and
the injection that uses it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from circuitkit.corners.positions import array_position_reads, array_position_rates
from circuitkit.device.nonideality import DeviceNonideality
from circuitkit.inject.placement import ArrayGeometry, PositionErrors
from circuitkit.netlist import ArrayReadBench, WireParasitics, weight_pattern
from circuitkit.position_rates import PositionRates, position_rates
from circuitkit.sense_offset import OffsetFit

SPREAD = DeviceNonideality.given(10e3, 0.1, 40e3, 0.3)
# Bit lines well above metal 1's 0.89 ohm per pitch, so 31 rows of bit line cost visible
# margin (a 50 ohm/pitch word line as well stops ngspice's transient: timestep too small).
HEAVY_WIRES = WireParasitics(r_bitline=50.0, r_wordline=1.0)


def offset_fit(x0=0.0, sigma=0.55):
    return OffsetFit(x0, sigma, np.diag([1e-4, 1e-4]), np.array([-0.2, 0.0, 0.2]), np.array([32.0] * 3),
                     np.array([4.0, 16.0, 28.0]), False)


@pytest.fixture(scope="module")
def reads_32x32():
    return array_position_reads(32, 32, HEAVY_WIRES, read_rows=(0, 15, 31))


@pytest.mark.spice
def test_read_margin_falls_with_the_distance_from_the_drivers(reads_32x32):
    """Rows further from the PCSAs (more bit/source line in series) lose margin, every
    column strictly; with ideal wires (the same deck, zero resistance) the rows are level."""
    read, ideal = reads_32x32
    print("rows", read.rows, "margin (mV), column mean: wires", np.round(read.margin_v.mean(axis=1) * 1e3, 1),
          "ideal", np.round(ideal.margin_v.mean(axis=1) * 1e3, 1))
    np.testing.assert_array_equal(read.values, read.expected)
    assert np.all(np.diff(read.margin_v, axis=0) < 0)          # every column, row 0 > 15 > 31
    drop = read.margin_v[0] - read.margin_v[-1]
    ideal_spread = ideal.margin_v.max(axis=0) - ideal.margin_v.min(axis=0)
    assert np.all(ideal_spread < 0.25 * drop)                  # flat without wire resistance
    assert np.all(np.nanmean(read.delay_s, axis=1)[-1] > np.nanmean(ideal.delay_s, axis=1)[-1])


@pytest.mark.spice
def test_position_rates_rise_towards_the_far_rows(reads_32x32, tmp_path):
    read, ideal = reads_32x32
    table = array_position_rates(read, ideal, (32, 32), offset_fit(), SPREAD)
    p_plus = table.p_plus[..., 0]
    assert np.all(np.diff(p_plus, axis=0) > 0)
    assert np.all(table.p_plus[..., 1] <= p_plus) and np.all(p_plus <= table.p_plus[..., 2])
    again = PositionRates.read_csv(table.write_csv(tmp_path / "rates.csv"))
    np.testing.assert_allclose(again.p_plus, table.p_plus, rtol=1e-5)
    assert again.rows.tolist() == [0, 15, 31]


def test_xnor_array_netlist_swaps_by_input():
    bench = ArrayReadBench(weight_pattern(4, 4, "rows"), read_rows=(0, 3), inputs=(+1, -1))
    np.testing.assert_array_equal(bench.expected(), [[1] * 4, [1] * 4])  # row 3 stores -1, input -1
    text = bench.to_netlist()
    assert "xnor_swap" in text and text.count("Xsw_c") == 4
    assert "Xc_r1_c0 bl_c0_r1 blb_c0_r1 0 " in text                      # an unread row's gate at 0 V


def synthetic_table(near: float, far: float, rows: int = 16, columns: int = 8) -> PositionRates:
    """A table whose margin falls from row 0 to the last row."""
    margin = np.linspace(1.0, 1.0 - far, 2)[:, None] * np.ones((2, columns)) - near
    return position_rates(margin, np.ones((2, columns)), (0, rows - 1), (rows, columns), offset_fit(sigma=0.3),
                          SPREAD)


def test_position_injection_puts_more_errors_where_the_table_says():
    """Statistical: 40,000 trials of a 16 x 8 binary layer; errors per row follow the
    table (rows interpolated), far rows more than near ones, checked with a chi-square test
    against the table and a one-sided binomial comparison."""
    from circuitkit.inject.placement import _PositionSampler
    table = synthetic_table(0.0, 0.5)
    model = PositionErrors(table)
    weights = np.where(np.random.default_rng(1).random(16 * 8) < 0.5, 1, -1)
    p_plus, p_minus = model.weight_rates((16, 8))
    sampler = _PositionSampler(weights, p_plus, p_minus)
    rng = np.random.default_rng(2)
    counts = np.zeros(16 * 8)
    trials = 40_000
    for _ in range(trials):
        wrong, values = sampler.trial_errors(rng)
        assert np.all(values == -weights[wrong])
        counts[wrong] += 1
    per_row = counts.reshape(16, 8).sum(axis=1)
    expected = np.where(weights > 0, p_plus, p_minus).reshape(16, 8).sum(axis=1) * trials
    print("errors per row", per_row.astype(int), "expected", np.round(expected).astype(int))
    assert scipy_stats.chisquare(per_row, expected * per_row.sum() / expected.sum()).pvalue > 1e-3
    near, far = per_row[:4].sum(), per_row[-4:].sum()
    assert scipy_stats.binomtest(int(far), int(near + far), 0.5, alternative="greater").pvalue < 1e-6
    assert model.marginal().transition.error_rate == pytest.approx(model.mean_error_rate, rel=1e-9)
    assert ArrayGeometry(16, 8) == model.geometry


def test_array_command_writes_a_chip_size_deck(tmp_path):
    from circuitkit import cli
    path = tmp_path / "array.cir"
    assert cli.main(["netlist", "array", "--rows", "128", "--cols", "64", "--read-rows", "0,64,127",
                     "--wire-width-um", "0.28", "--reltol", "1e-4", "-o", str(path)]) == 0
    text = path.read_text()
    assert text.count("\nXc_r") == 128 * 64 and text.count("\nXsa_c") == 64
    assert ".param r_bl_pitch=0.442857" in text and ".options reltol=0.0001" in text
    assert "circuitkit-fet-sizes:" in text                                # bin-resolved library declared
    with pytest.raises(Exception, match="read_rows"):
        ArrayReadBench(weight_pattern(4, 4), read_rows=(0, 4))
