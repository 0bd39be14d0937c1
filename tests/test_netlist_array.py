"""A 4x4 2T2R array in ngspice: a programmed pattern reads back; wire resistance costs margin."""

from __future__ import annotations

import numpy as np
import pytest

from circuitkit.netlist import ArrayReadBench, WireParasitics, weight_pattern

pytestmark = pytest.mark.spice

PATTERN = weight_pattern(4, 4, "random", seed=5)


def read_array(r_bitline: float):
    return ArrayReadBench(PATTERN, wires=WireParasitics(r_bitline=r_bitline)).simulate()


@pytest.fixture(scope="module")
def reads_by_wire() -> dict:
    return {r: read_array(r) for r in (1.0, 1e3, 5e3)}


def test_programmed_pattern_reads_back(reads_by_wire):
    read = reads_by_wire[1.0]
    print(f"stored pattern:\n{np.array(PATTERN)}\n{read.table()}")
    assert len({w for row in PATTERN for w in row}) == 2  # both weights are in the pattern
    np.testing.assert_array_equal(read.values, read.expected)
    assert np.all(read.delay_s < 200e-12) and np.all(read.energy_j > 0)


def test_wire_resistance_degrades_the_sense_margin(reads_by_wire):
    """Far rows see 2 (r + 1) wire pitches in series with both branches."""
    far, near = [], []
    for r_wire, read in reads_by_wire.items():
        far.append(float(np.mean(read.margin_v[-1])))
        near.append(float(np.mean(read.margin_v[0])))
        print(f"r_bitline {r_wire:6.0f} ohm/pitch: margin row 0 {near[-1] * 1e3:4.0f} mV, "
              f"row 3 {far[-1] * 1e3:4.0f} mV; delay row 3 {np.mean(read.delay_s[-1]) * 1e12:5.1f} ps; "
              f"errors {read.errors}")
        np.testing.assert_array_equal(read.values, read.expected)  # still correct, with less margin
    assert far[0] > far[1] > far[2] and near[0] > near[1] > near[2]
    assert far[2] < 0.6 * far[0]
    heavy = reads_by_wire[5e3]
    assert np.all(np.diff(heavy.margin_v.mean(axis=1)) < 0)  # the further the row, the smaller the margin
