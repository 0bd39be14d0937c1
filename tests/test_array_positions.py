"""Chip-size 2T2R arrays: the read margin by position (ngspice), the position-rate table and
the injection that uses it."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
from scipy import stats as scipy_stats

from circuitkit import CircuitkitError
from circuitkit.corners.positions import array_position_reads, array_position_rates, campaign_position_rates
from circuitkit.device.nonideality import DeviceNonideality
from circuitkit.inject.placement import ArrayGeometry, PositionErrors
from circuitkit.netlist import ArrayReadBench, WireParasitics, weight_pattern
from circuitkit.netlist.arrays import ArrayRead
from circuitkit.operating import OperatingPoint
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


@pytest.mark.spice
def test_reads_of_a_64_row_column_do_not_depend_on_their_order():
    """64 rows x 2 columns, ideal wires, default timing: the first and last row read in
    either order give the same margins (before the columns' own bit-line precharge the
    first read of a deck had 1.06 V and every later one 0.37 V, whichever row it read), and
    the precharge leaves the far end of the bit lines at its level when the word line rises."""
    ideal = WireParasitics(r_bitline=0.0, r_wordline=0.0)
    weights = weight_pattern(64, 2)
    forward, backward = (ArrayReadBench(weights, wires=ideal, read_rows=order).simulate(name="array_order")
                         for order in ((0, 63), (63, 0)))
    print("margins (mV) rows 0, 63:", np.round(forward.margin_v * 1e3, 1).tolist(), "reversed order:",
          np.round(backward.margin_v[::-1] * 1e3, 1).tolist(), "precharge left (mV)",
          np.round(forward.precharge_error_v * 1e3, 1).tolist())
    np.testing.assert_array_equal(forward.values, forward.expected)
    np.testing.assert_array_equal(backward.values, backward.expected)
    np.testing.assert_allclose(backward.margin_v[::-1], forward.margin_v, rtol=0.02)   # same row, other order
    np.testing.assert_allclose(forward.margin_v[1], forward.margin_v[0], rtol=0.05)   # ideal wires: rows alike
    assert np.all(forward.precharge_error_v < 0.02) and np.all(backward.precharge_error_v < 0.02)


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
                          SPREAD, "illustrative offset sigma 0.3 (a test's)")


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
    assert ".param r_bl_pitch=0.442857" in text
    # ngspice's reltol has one way in, the bench's `options`: one line, never a second one.
    assert text.count(".options reltol") == 1 and ".options reltol=100u" in text
    assert "reltol" not in {field.name for field in dataclasses.fields(ArrayReadBench)}
    deck = ArrayReadBench(weight_pattern(4, 4), options={"reltol": 1e-5, "method": "gear"}).to_netlist()
    assert deck.count(".options reltol") == 1 and ".options reltol=10u" in deck
    with pytest.raises(Exception, match="options reltol=2: expected a relative tolerance"):
        ArrayReadBench(weight_pattern(4, 4), options={"reltol": 2})
    assert "circuitkit-fet-sizes:" in text                                # bin-resolved library declared
    with pytest.raises(Exception, match="read_rows"):
        ArrayReadBench(weight_pattern(4, 4), read_rows=(0, 4))


# ------------------------------------------------------------ position tables from a campaign, and their injection

def _offset_campaign(directory, fits):
    summary = {"settings": {"device": {"states": {"lrs_median_ohm": 10e3, "lrs_sigma_ln": 0.1, "lrs_samples": None,
                                                  "hrs_median_ohm": 40e3, "hrs_sigma_ln": 0.3, "hrs_samples": None}}},
               "offset_fits": fits}
    directory.mkdir(parents=True)
    (directory / "campaign.json").write_text(json.dumps(summary))
    return directory


def _margins(rows=(0, 15), columns=4, far_loss=0.3):
    margin = np.array([[1.0] * columns, [1.0 - far_loss] * columns])
    make = lambda m: ArrayRead(np.ones((2, columns), int), np.ones((2, columns), int), np.full((2, columns), 1e-10),
                               m, np.zeros(2), np.array(rows))
    return make(margin), make(np.ones((2, columns)))


def test_position_rates_come_from_the_campaigns_offset_at_the_arrays_condition(tmp_path):
    """The table takes the offset fit the campaign measured at the array's condition (not
    another condition's, not an assumed one) and says so in its CSV."""
    fits = [{"corner": "tt", "vdd": vdd, "temp_c": 27.0, "scheme": "binary", **offset_fit(sigma=sigma).to_dict()}
            for vdd, sigma in ((1.2, 0.9), (1.8, 0.45))]
    campaign = _offset_campaign(tmp_path / "offset-run", fits)
    read, ideal = _margins()
    table = campaign_position_rates(read, ideal, (16, 4), campaign, OperatingPoint("tt", 1.8, 27.0))
    expected = position_rates(read.margin_v, ideal.margin_v, read.rows, (16, 4), offset_fit(sigma=0.45), SPREAD)
    np.testing.assert_allclose(table.p_plus, expected.p_plus, rtol=1e-12)
    np.testing.assert_allclose(table.p_minus, expected.p_minus, rtol=1e-12)
    assert "offset-run, tt vdd=1.8 V T=27 C binary" in table.offset and "sigma 0.45 " in table.offset
    assert "LRS median 10 kohm" in table.offset
    text = table.write_csv(tmp_path / "rates.csv").read_text()
    assert text.splitlines()[1] == f"# offset: {table.offset}" and "margin-equivalent log ratio" in text.splitlines()[0]
    assert PositionRates.read_csv(tmp_path / "rates.csv").offset == table.offset
    with pytest.raises(CircuitkitError, match=r"no offset fit at ss vdd=1.8 V T=27 C binary.*tt vdd=1.2 V"):
        campaign_position_rates(read, ideal, (16, 4), campaign, OperatingPoint("ss", 1.8, 27.0))
    with pytest.raises(CircuitkitError, match="no offset_fits"):
        campaign_position_rates(read, ideal, (16, 4), _offset_campaign(tmp_path / "mc-run", []),
                                OperatingPoint("tt", 1.8, 27.0))


def test_inject_position_table_puts_errors_where_the_table_says(tmp_path, monkeypatch):
    """`circuitkit inject --position-table`: the table read from its CSV drives the
    injection into a real network; errors per array row of the first layer (2352 x 16 on
    16 x 8 tiles) over 400 trials follow the table (chi-square), far rows above near ones;
    the command writes both placements at the same mean rate and the table's offset."""
    from circuitkit import cli
    from circuitkit.inject.networks import load_network
    from circuitkit.inject.placement import HardwareErrors, HardwareInjector

    path = synthetic_table(0.0, 0.6).write_csv(tmp_path / "rates.csv")
    table = PositionRates.read_csv(path)
    network = load_network("bnn-fc-narrow")
    errors = HardwareErrors.uniform(network, PositionErrors(table))
    trials = 400
    corrupted = HardwareInjector(network, errors).corrupted(trials, seed=3)
    first = network.layer_slices()[0]
    clean = network.flat_weights()[first]
    wrong = (corrupted[:, first] != clean).reshape(trials, 2352, 16).sum(axis=(0, 2))
    per_row = np.bincount(np.arange(2352) % 16, weights=wrong, minlength=16)
    cell_plus, cell_minus = table.cell_rates()                 # the table's 16 x 8 cells, rows interpolated
    tile_row, tile_column = np.arange(2352)[:, None] % 16, np.arange(16)[None, :] % 8
    rates = np.where(clean.reshape(2352, 16) > 0, cell_plus[tile_row, tile_column], cell_minus[tile_row, tile_column])
    expected = np.bincount(np.arange(2352) % 16, weights=rates.sum(axis=1), minlength=16) * trials
    print("errors per tile row", per_row.astype(int), "expected", np.round(expected).astype(int))
    assert scipy_stats.chisquare(per_row, expected * per_row.sum() / expected.sum()).pvalue > 1e-3
    assert per_row[-4:].sum() > 1.5 * per_row[:4].sum()
    monkeypatch.setattr(cli, "STAGE_MODULES", ("circuitkit.inject.cli",))
    out = tmp_path / "out"
    assert cli.main(["inject", "--position-table", str(path), "--network", "bnn-fc-narrow", "--trials", "4",
                     "-o", str(out)]) == 0
    with (out / "position_placement.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["placement"] for r in rows] == ["independent", "position"]
    assert float(rows[0]["mean_ber"]) == pytest.approx(table.mean_error_rate)
    assert rows[1]["offset"] == table.offset and "illustrative" in rows[1]["offset"]


@pytest.mark.parametrize("edit, message", [
    (lambda lines: ["# some other table"] + lines[1:], "not a position-rate table"),
    (lambda lines: lines[:2] + [lines[2].replace(",p_minus_high", "")] + [l.rsplit(",", 1)[0] for l in lines[3:]],
     "missing column"),
    (lambda lines: [l for l in lines if not l.startswith("15,")], "must include the first and last row"),
    (lambda lines: lines[:3] + [lines[3].replace(lines[3].split(",")[5], "1.5", 1)] + lines[4:],
     "p_plus = 1.5 at row 0, column 0: expected a probability"),
    (lambda lines: [l for l in lines if not l.startswith("0,3,")], "no margin_v for row 0, column 3"),
])
def test_a_bad_position_table_is_named_with_what_is_wrong(tmp_path, monkeypatch, capsys, edit, message):
    from circuitkit import cli
    lines = synthetic_table(0.0, 0.6).write_csv(tmp_path / "rates.csv").read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(edit(lines)) + "\n")
    monkeypatch.setattr(cli, "STAGE_MODULES", ("circuitkit.inject.cli",))
    assert cli.main(["inject", "--position-table", str(bad), "--network", "bnn-fc-narrow", "-o", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert str(bad) in error and message in error
