"""Bit-error table CSV: round trip, construction from counts, validation errors."""

import csv
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuitkit.ber_table import BER_TABLE_COLUMNS, BerRow, BerTable, BerTableError, Condition

TT = Condition("tt", 1.2, 27.0, "binary")
SS = Condition("ss", 0.9, 85.0, "ternary")


@pytest.fixture
def table() -> BerTable:
    return BerTable.from_counts({
        TT: np.array([[990, 10], [3, 997]]),
        SS: np.array([[100, 0, 0], [5, 90, 5], [0, 1, 99]]),
    })


def test_from_counts_fills_probability_and_clopper_pearson(table):
    rows = {(r.corner, r.stored, r.read): r for r in table}
    row = rows[("tt", -1, 1)]
    assert (row.samples, row.count, row.probability, row.method) == (1000, 10, 0.01, "mc")
    assert row.ci_low < 0.01 < row.ci_high
    assert rows[("ss", -1, 0)].ci_low == 0.0 and rows[("ss", -1, -1)].ci_high == 1.0
    assert table.conditions() == (TT, SS)


def test_write_read_round_trips_exactly(table, tmp_path):
    path = table.write(tmp_path / "ber.csv")
    again = BerTable.read(path)
    assert again == table
    again.write(tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_text() == path.read_text()
    assert path.read_text().splitlines()[0] == ",".join(BER_TABLE_COLUMNS)


@settings(max_examples=30, deadline=None)
@given(
    counts=st.lists(st.integers(0, 10**9), min_size=4, max_size=4).filter(lambda c: c[0] + c[1] > 0 and c[2] + c[3] > 0),
    vdd=st.floats(0.1, 5.0, allow_nan=False),
    temp=st.floats(-55.0, 150.0, allow_nan=False),
)
def test_round_trip_any_counts_and_floats(counts, vdd, temp, tmp_path_factory):
    table = BerTable.from_counts({Condition("c,with comma", vdd, temp, "binary"): np.array(counts).reshape(2, 2)})
    path = table.write(tmp_path_factory.mktemp("rt") / "t.csv")
    assert BerTable.read(path) == table


def test_transition_matrix_estimate_and_pessimistic(table):
    alphabet, matrix = table.transition_matrix(TT)
    assert alphabet == (-1, 1)
    np.testing.assert_array_equal(matrix, [[0.99, 0.01], [0.003, 0.997]])
    _, pessimistic = table.transition_matrix(TT, bound="ci_high")
    np.testing.assert_allclose(pessimistic.sum(axis=1), 1.0)
    assert np.all(pessimistic[[0, 1], [1, 0]] > matrix[[0, 1], [1, 0]])
    assert table.transition_matrix(SS).error_rate == pytest.approx((0 + 0.1 + 0.01) / 3)


def test_symmetric_table_has_exact_error_rate():
    for scheme in ("binary", "ternary"):
        t = BerTable.symmetric(1e-6, scheme)
        assert t.transition_matrix(t.conditions()[0]).error_rate == 1e-6


def _write_rows(path, rows, header=BER_TABLE_COLUMNS):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _binary_rows(p_minus=(0.99, 0.01), p_plus=(0.02, 0.98), stored=(-1, 1), read=(-1, 1)):
    rows = []
    for s, probabilities in zip(stored, (p_minus, p_plus)):
        for r, p in zip(read, probabilities):
            rows.append(["tt", 1.2, 27, "binary", s, r, 0, 0, p, p, p, "synthetic"])
    return rows


def test_valid_handwritten_table_reads(tmp_path):
    table = BerTable.read(_write_rows(tmp_path / "ok.csv", _binary_rows()))
    assert table.transition_matrix(table.conditions()[0]).matrix[1, 0] == 0.02


@pytest.mark.parametrize(
    "rows, header, message",
    [
        (_binary_rows(p_minus=(0.9, 0.05)), BER_TABLE_COLUMNS, "line 2 and the other rows of tt vdd=1.2 V T=27 C binary, stored -1: probabilities sum to 0.95"),
        (_binary_rows(stored=(-1, 2)), BER_TABLE_COLUMNS, "line 4 (tt vdd=1.2 V T=27 C binary, stored 2, read -1), column stored: value 2 is not a binary state"),
        (_binary_rows(read=(-1, 0)), BER_TABLE_COLUMNS, "column read: value 0 is not a binary state"),
        ([r[:3] + ["quaternary"] + r[4:] for r in _binary_rows()], BER_TABLE_COLUMNS, "column scheme: unknown scheme 'quaternary'"),
        (_binary_rows()[:3], BER_TABLE_COLUMNS, "stored 1 has no row for read value(s) [1]"),
        (_binary_rows() + _binary_rows()[:1], BER_TABLE_COLUMNS, "line 6 (tt vdd=1.2 V T=27 C binary, stored -1, read -1): duplicate of"),
        ([r[:-1] for r in _binary_rows()], BER_TABLE_COLUMNS[:-1], "missing column(s) method"),
        ([r[:2] + ["x"] + r[3:] for r in _binary_rows()], BER_TABLE_COLUMNS, "line 2, column temp_c: expected float, got 'x'"),
        ([r[:8] + [1.5, 0.0, 1.5] + r[11:] for r in _binary_rows()], BER_TABLE_COLUMNS, "expected 0 <= ci_low <= probability <= ci_high <= 1"),
    ],
    ids=["sum-not-1", "unknown-stored", "unknown-read", "unknown-scheme", "missing-read", "duplicate", "missing-column", "bad-number", "probability>1"],
)
def test_bad_tables_name_file_row_and_column(tmp_path, rows, header, message):
    path = _write_rows(tmp_path / "bad.csv", rows, header)
    with pytest.raises(BerTableError) as error:
        BerTable.read(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)


def test_counts_must_sum_to_samples(tmp_path):
    rows = [["tt", 1.2, 27, "binary", s, r, 100, c, c / 100, 0, 1, "mc"]
            for s, r, c in [(-1, -1, 99), (-1, 1, 2), (1, -1, 0), (1, 1, 100)]]
    rows[1][8] = 0.01
    with pytest.raises(BerTableError, match="counts sum to 101, expected samples = 100"):
        BerTable.read(_write_rows(tmp_path / "bad.csv", rows))


def test_from_counts_rejects_bad_shapes_and_empty_rows():
    with pytest.raises(BerTableError, match="expected an integer 3x3 matrix"):
        BerTable.from_counts({SS: np.zeros((2, 2), dtype=int)})
    with pytest.raises(BerTableError, match=r"no samples for stored value\(s\) \[1\]"):
        BerTable.from_counts({TT: np.array([[5, 5], [0, 0]])})
    with pytest.raises(BerTableError, match="unknown scheme"):
        BerTable.from_counts({Condition("tt", 1.0, 27.0, "quinary"): np.ones((2, 2), dtype=int)})


def test_ci_high_bound_needs_enough_samples():
    few = BerTable.from_counts({SS: np.array([[3, 0, 0], [0, 3, 0], [0, 0, 3]])})
    assert few.transition_matrix(SS).error_rate == 0.0  # the estimate is fine
    with pytest.raises(BerTableError, match="too few samples"):
        few.transition_matrix(SS, bound="ci_high")


def test_unknown_condition_and_missing_file(table, tmp_path):
    with pytest.raises(BerTableError, match="no condition ff"):
        table.transition_matrix(Condition("ff", 1.2, 27.0, "binary"))
    with pytest.raises(BerTableError, match="cannot read bit-error table"):
        BerTable.read(tmp_path / "missing.csv")


def test_rounded_probabilities_within_tolerance_are_renormalised(tmp_path):
    third = 0.3333333  # a tool that prints 7 digits: rows sum to 0.9999999
    rows = [["ss", 0.9, 85, "ternary", s, r, 0, 0, third, third, third, "synthetic"] for s in (-1, 0, 1) for r in (-1, 0, 1)]
    table = BerTable.read(_write_rows(tmp_path / "rounded.csv", rows))
    matrix = table.transition_matrix(table.conditions()[0]).matrix
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=0, atol=1e-15)


def test_rare_event_rows_carry_their_simulation_count_without_per_transition_counts():
    rows = [BerRow("tt", 1.8, 27.0, "binary", s, r, 5000, 0, p, p * 0.5 if p < 0.5 else p - 1e-12, min(1.0, p * 2 if p < 0.5 else p), "offset")
            for s, r, p in [(-1, -1, 1 - 1e-9), (-1, 1, 1e-9), (1, -1, 2e-9), (1, 1, 1 - 2e-9)]]
    table = BerTable(rows)
    assert table.transition_matrix(table.conditions()[0]).matrix[1, 0] == pytest.approx(2e-9)
    # The same rows claiming to be plain counts are inconsistent.
    with pytest.raises(BerTableError, match="counts sum to 0"):
        BerTable([dataclasses.replace(row, method="mc") for row in rows])
